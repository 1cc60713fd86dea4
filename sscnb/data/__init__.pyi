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
from ._synthetic import (
    NEW_RIVER_STYLES as NEW_RIVER_STYLES,
)
from ._synthetic import (
    ORTHO_CRS as ORTHO_CRS,
)
from ._synthetic import (
    ORTHO_ORIGIN as ORTHO_ORIGIN,
)
from ._synthetic import (
    ORTHO_PIXEL_M as ORTHO_PIXEL_M,
)
from ._synthetic import (
    STYLES as STYLES,
)
from ._synthetic import (
    RiverStyle as RiverStyle,
)
from ._synthetic import (
    make_orthomosaic as make_orthomosaic,
)
from ._synthetic import (
    make_scene as make_scene,
)
from ._synthetic import (
    write_new_river as write_new_river,
)
from ._synthetic import (
    write_ortho_reference as write_ortho_reference,
)
from ._synthetic import (
    write_orthomosaic as write_orthomosaic,
)
from ._synthetic import (
    write_sample_data as write_sample_data,
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
