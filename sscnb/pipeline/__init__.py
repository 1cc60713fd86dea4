"""One image through the method: the per-image pipeline that every path runs.

read -> tiles -> CNN (phase 1) -> input check -> features -> phase 2's choice and fit -> predict

* ``_steps``: the steps over strips of rows, and what they share (:class:`ImageJob`); an image in
  memory is one strip (:class:`ImageSource`, :class:`MemoryFeatures`). :func:`sscnb.ssc.classify_image`
  runs them on an image in memory (notebook 03, ``sscnb evaluate``), :func:`sscnb.maps.map_raster` on a
  raster read in strips (notebook 05, ``sscnb map``);
* ``_strips``: the strips of whole tile rows, the next strip read ahead, jobs in a background thread,
  and the scratch files that keep a raster's features between the passes.
"""

import lazy_loader as _lazy

# the names of __init__.pyi, each imported from its private module when first used: a package's modules
# import one another freely, and importing one name loads only what it needs
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
