"""Data: image and label pairs, georeferenced rasters, the class scheme and tiles.

* ``_pairs``: finding, reading and checking image/label pairs (the naming conventions of the data);
* ``_classes``: the land-cover class scheme (codes, names, colours);
* ``_check``: notebook 00's check of a labelled folder (``sscnb check``);
* ``_tiles``: tiling, the purity rule, tile values painted back onto rasters;
* ``_geo``: georeferenced inputs (orthomosaics, frames) opened and read in windows with rasterio,
  pixel areas and class areas: below every concept that reads a raster (labels, maps, assessment).

The sample data that ships with sscnb is made by :mod:`sscnb.synthetic`, which writes labels too.
"""

import lazy_loader as _lazy

# the names of __init__.pyi, each imported from its private module when first used: a package's modules
# import one another freely, and importing one name loads only what it needs
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
