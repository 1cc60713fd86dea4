"""The public names of :mod:`sscnb.maps`, each from the private module that defines it.

lazy_loader reads this file to import a name on first use; type checkers read it as the package.
"""

from ._batch import (
    area_summary as area_summary,
)
from ._batch import (
    label_scores as label_scores,
)
from ._batch import (
    map_inputs as map_inputs,
)
from ._batch import (
    plan_inputs as plan_inputs,
)
from ._batch import (
    resolve_inputs as resolve_inputs,
)
from ._files import (
    COG_BLOCK as COG_BLOCK,
)
from ._files import (
    COG_THREADS as COG_THREADS,
)
from ._files import (
    ClassMapWriter as ClassMapWriter,
)
from ._files import (
    read_category_names as read_category_names,
)
from ._files import (
    write_category_names as write_category_names,
)
from ._files import (
    write_class_map as write_class_map,
)
from ._files import (
    write_qml as write_qml,
)
from ._files import (
    write_tile_confidence as write_tile_confidence,
)
from ._raster import (
    MIN_POLYGON_AREA as MIN_POLYGON_AREA,
)
from ._raster import (
    WINDOW_MPX as WINDOW_MPX,
)
from ._raster import (
    MapResult as MapResult,
)
from ._raster import (
    map_raster as map_raster,
)
from ._vectors import (
    MAX_VECTOR_MPX as MAX_VECTOR_MPX,
)
from ._vectors import (
    polygon_area as polygon_area,
)
from ._vectors import (
    polygonize_map as polygonize_map,
)
from ._vectors import (
    ring_area as ring_area,
)
from ._vectors import (
    sieve_size_px as sieve_size_px,
)
