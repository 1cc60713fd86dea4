"""The public names of :mod:`sscnb.data`, each from the private module that defines it.

lazy_loader reads this file to import a name on first use; type checkers read it as the package.
"""

from ._check import (
    DataCheck as DataCheck,
)
from ._check import (
    check_dataset as check_dataset,
)
from ._classes import (
    DEFAULT_CLASSES as DEFAULT_CLASSES,
)
from ._classes import (
    ClassScheme as ClassScheme,
)
from ._classes import (
    SchemeError as SchemeError,
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
from ._pairs import (
    IMAGE_EXTENSIONS as IMAGE_EXTENSIONS,
)
from ._pairs import (
    LABEL_EXTENSIONS as LABEL_EXTENSIONS,
)
from ._pairs import (
    DataError as DataError,
)
from ._pairs import (
    DataWarning as DataWarning,
)
from ._pairs import (
    ImageRecord as ImageRecord,
)
from ._pairs import (
    Problem as Problem,
)
from ._pairs import (
    checked_pairs as checked_pairs,
)
from ._pairs import (
    data_dir_record as data_dir_record,
)
from ._pairs import (
    data_folders as data_folders,
)
from ._pairs import (
    find_pairs as find_pairs,
)
from ._pairs import (
    pairs_in_folders as pairs_in_folders,
)
from ._pairs import (
    parse_image_name as parse_image_name,
)
from ._pairs import (
    read_image as read_image,
)
from ._pairs import (
    read_label as read_label,
)
from ._pairs import (
    read_pair as read_pair,
)
from ._tiles import (
    count_pure_tiles as count_pure_tiles,
)
from ._tiles import (
    crop_to_tiles as crop_to_tiles,
)
from ._tiles import (
    grid_shape as grid_shape,
)
from ._tiles import (
    purity_labels as purity_labels,
)
from ._tiles import (
    tile_class_counts as tile_class_counts,
)
from ._tiles import (
    tiles_to_raster as tiles_to_raster,
)
from ._tiles import (
    to_tiles as to_tiles,
)
