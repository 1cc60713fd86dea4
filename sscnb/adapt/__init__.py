"""A new river: a trained CNN fine-tuned on a few labelled tiles, and checked.

* ``_finetune``: fine-tuning with replay of the parent's tiles, the model's lineage;
* ``_check``: the parent and the adapted model side by side on the new river's images.

The labels it learns from are :mod:`sscnb.labels`.
"""

import lazy_loader as _lazy

# the names of __init__.pyi, each imported from its private module when first used: a package's modules
# import one another freely, and importing one name loads only what it needs
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
