"""Accuracy and areas: per-image scores, and areas with confidence intervals from a sample.

* ``_metrics``: precision, recall and F1 per class over labelled pixels;
* ``_sampling``: the stratified random sample of a map (Olofsson et al. 2014);
* ``_estimate``: areas and accuracy with confidence intervals from the filled sample.

The points are labelled in :func:`sscnb.labels.PointLabeller`.
"""

import lazy_loader as _lazy

# the names of __init__.pyi, each imported from its private module when first used: a package's modules
# import one another freely, and importing one name loads only what it needs
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
