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
from ._geo import (
    RASTER_SUFFIXES as RASTER_SUFFIXES,
)
from ._geo import (
    SurveyError as SurveyError,
)
from ._geo import (
    SurveyRaster as SurveyRaster,
)
from ._geo import (
    area_table as area_table,
)
from ._geo import (
    georeferencing_of as georeferencing_of,
)
from ._geo import (
    open_raster as open_raster,
)
from ._geo import (
    open_survey as open_survey,
)
from ._geo import (
    pixel_area_m2 as pixel_area_m2,
)
from ._geo import (
    read_block as read_block,
)
from ._geo import (
    read_preview as read_preview,
)
from ._geo import (
    survey_table as survey_table,
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
