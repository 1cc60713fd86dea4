"""Batches and runs: per-image work in process or on Dask, and the notebooks run by papermill.

* ``_tasks``: per-image tasks in this process or on a Dask cluster;
* ``_config``: the run YAML of ``sscnb run``, loaded and checked;
* ``_runner``: the numbered notebooks run in order with papermill.
"""

import lazy_loader as _lazy

# the names of __init__.pyi, each imported from its private module when first used: a package's modules
# import one another freely, and importing one name loads only what it needs
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
