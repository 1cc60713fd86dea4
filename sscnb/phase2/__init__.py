"""Phase 2: a shallow pixel classifier trained on one image's tile map.

* ``_features``: per-pixel features (median RGB, the multiscale set); ``_median`` and ``_median_ops``
  the exact median filter, compiled with Numba or run through ``keras.ops``;
* ``_pixel``: training pixels sampled from the tile map, the MLP and the random forest
  (``_jaxfit``: the MLP's training on JAX); ``_colours``: the colour look-up of a median-RGB phase 2;
  ``_forest``: the forest's classes, each pixel's trees walked only while they can change its class;
* ``_cnnbands``: the CNN's view of each pixel (its last hidden layer, reduced and interpolated);
* ``_choose``: phase 2 chooses its features, or keeps the tile map, on held-out tiles or labels;
* ``_patches``: small patches absorbed by their surroundings.

The per-image pipeline that calls them is :mod:`sscnb.pipeline`; the settings are :mod:`sscnb.params`.
"""

import lazy_loader as _lazy

# the names of __init__.pyi, each imported from its private module when first used: a package's modules
# import one another freely, and importing one name loads only what it needs
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
