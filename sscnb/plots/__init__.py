"""Figures of the notebooks: every function returns a matplotlib Figure.

* ``_figures``: the figures shared by the notebooks (curves, confusion, F1, tiles);
* ``_maps``: maps and areas;
* ``_pyplot``: matplotlib's pyplot, imported only when a figure is drawn.
"""

import lazy_loader as _lazy

# the names of __init__.pyi, each imported from its private module when first used: a package's modules
# import one another freely, and importing one name loads only what it needs
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
