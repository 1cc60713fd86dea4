"""Maps of surveys: images and orthomosaics of any size to COGs, areas and polygons.

* ``_batch``: a batch of inputs (plan, resume, areas, scores): :func:`map_inputs`, ``sscnb map``;
* ``_raster``: one input through :mod:`sscnb.pipeline` in strips, its maps written to COGs as they come
  (``_malloc``: the map process's malloc arenas);
* ``_files``: COG class maps, category names, the QGIS style;
* ``_vectors``: class maps to polygons in a GeoPackage.
"""

import lazy_loader as _lazy

# the names of __init__.pyi, each imported from its private module when first used: a package's modules
# import one another freely, and importing one name loads only what it needs
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
