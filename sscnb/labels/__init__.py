"""Tile labels of a new river: what a user says a tile is, from three sources.

* a **labels CSV** (the tile labeller writes it, one row per click): columns
  ``image,tile_row,tile_col,class_code``: the image's file name without extension
  (``Wildcat_0003``), the tile's row and column in the image's tile grid at the model's tile size
  (row 0, column 0 at the top left), and a class code of the scheme, or :data:`MIXED` (0: the tile
  holds several classes) or :data:`SKIP` (-1: the user passed it). Its first line is a comment
  that records the tile size (``# sscnb tile labels, tile_size=50``); a file made for another tile
  size is refused. A tile labelled twice keeps its last label (a click that corrects an earlier one).
* **polygons** drawn in QGIS (GeoPackage or shapefile) with a class field, rasterised onto the
  image grid with :func:`rasterio.features.rasterize`;
* **label rasters** (``SCLS_*``, as everywhere in sscnb).

Polygons and rasters become tile labels by the purity rule of the CNN's training tiles
(:func:`sscnb.data.purity_labels`). :func:`tile_set` then cuts the labelled tiles out of their
images for fine-tuning (:mod:`sscnb.adapt`).

Behind this package: ``_csv`` (the labels CSV), ``_sources`` (polygons and rasters), ``_labeller``
(the tile labeller: the order that helps most, one click per tile) and ``_points`` (notebook 08's
point labeller for an accuracy sample).

Every bad input raises :class:`LabelError` naming the file and the fix, before anything is written.
"""

import lazy_loader as _lazy

# the names of __init__.pyi, each imported from its private module when first used: a package's modules
# import one another freely, and importing one name loads only what it needs
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
