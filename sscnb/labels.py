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
(:func:`sscnb.tiles.purity_labels`). :func:`tile_set` then cuts the labelled tiles out of their
images for fine-tuning (:mod:`sscnb.adapt`).

Every bad input raises :class:`LabelError` naming the file and the fix, before anything is written.
"""

from __future__ import annotations

from .labelsources import (
    POLYGON_EXTENSIONS,
    labels_from_raster,
    load_labels,
    rasterize_polygons,
    tile_set,
    write_tile_squares,
)
from .tilelabels import (
    COLUMNS,
    MIXED,
    SKIP,
    LabelError,
    append_tile_label,
    empty_labels,
    image_index,
    read_tile_labels,
    start_labels_file,
    write_tile_labels,
)

__all__ = [
    "LabelError",
    "MIXED",
    "SKIP",
    "COLUMNS",
    "empty_labels",
    "image_index",
    "read_tile_labels",
    "write_tile_labels",
    "append_tile_label",
    "start_labels_file",
    "POLYGON_EXTENSIONS",
    "labels_from_raster",
    "rasterize_polygons",
    "load_labels",
    "tile_set",
    "write_tile_squares",
]
