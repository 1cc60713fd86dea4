"""The public names of :mod:`sscnb.labels`, each from the private module that defines it.

lazy_loader reads this file to import a name on first use; type checkers read it as the package.
"""

from ._csv import (
    COLUMNS as COLUMNS,
)
from ._csv import (
    MIXED as MIXED,
)
from ._csv import (
    SKIP as SKIP,
)
from ._csv import (
    LabelError as LabelError,
)
from ._csv import (
    append_tile_label as append_tile_label,
)
from ._csv import (
    empty_labels as empty_labels,
)
from ._csv import (
    image_index as image_index,
)
from ._csv import (
    read_tile_labels as read_tile_labels,
)
from ._csv import (
    start_labels_file as start_labels_file,
)
from ._csv import (
    write_tile_labels as write_tile_labels,
)
from ._labeller import (
    LIKELY_MIXED_LAST as LIKELY_MIXED_LAST,
)
from ._labeller import (
    ORDERS as ORDERS,
)
from ._labeller import (
    LabelSession as LabelSession,
)
from ._labeller import (
    TileLabeller as TileLabeller,
)
from ._labeller import (
    class_order as class_order,
)
from ._labeller import (
    labels_figure as labels_figure,
)
from ._labeller import (
    likely_mixed as likely_mixed,
)
from ._labeller import (
    tile_order as tile_order,
)
from ._labeller import (
    tile_picture as tile_picture,
)
from ._points import (
    CANNOT_TELL as CANNOT_TELL,
)
from ._points import (
    NOT_LABELLED as NOT_LABELLED,
)
from ._points import (
    PointLabeller as PointLabeller,
)
from ._points import (
    PointSession as PointSession,
)
from ._points import (
    point_picture as point_picture,
)
from ._points import (
    points_figure as points_figure,
)
from ._sources import (
    POLYGON_EXTENSIONS as POLYGON_EXTENSIONS,
)
from ._sources import (
    labels_for_images as labels_for_images,
)
from ._sources import (
    labels_from_raster as labels_from_raster,
)
from ._sources import (
    load_labels as load_labels,
)
from ._sources import (
    pixel_labels as pixel_labels,
)
from ._sources import (
    rasterize_polygons as rasterize_polygons,
)
from ._sources import (
    tile_set as tile_set,
)
from ._sources import (
    write_tile_squares as write_tile_squares,
)
