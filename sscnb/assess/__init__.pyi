"""The public names of :mod:`sscnb.assess`, each from the private module that defines it.

lazy_loader reads this file to import a name on first use; type checkers read it as the package.
"""

from ._defaults import (
    DEFAULT_MIN_PER_CLASS as DEFAULT_MIN_PER_CLASS,
)
from ._estimate import (
    ESTIMATE_COLUMNS as ESTIMATE_COLUMNS,
)
from ._estimate import (
    NO_SAMPLE_ERROR as NO_SAMPLE_ERROR,
)
from ._estimate import (
    Z95 as Z95,
)
from ._estimate import (
    AssessError as AssessError,
)
from ._estimate import (
    assess_map as assess_map,
)
from ._estimate import (
    estimate as estimate,
)
from ._estimate import (
    estimate_lines as estimate_lines,
)
from ._estimate import (
    read_points as read_points,
)
from ._estimate import (
    reference_from_raster as reference_from_raster,
)
from ._metrics import (
    REPORT_COLUMNS as REPORT_COLUMNS,
)
from ._metrics import (
    class_report as class_report,
)
from ._metrics import (
    confusion as confusion,
)
from ._metrics import (
    errors_by_confidence as errors_by_confidence,
)
from ._metrics import (
    macro_f1 as macro_f1,
)
from ._metrics import (
    read_report as read_report,
)
from ._metrics import (
    report_from_confusion as report_from_confusion,
)
from ._metrics import (
    weighted_f1 as weighted_f1,
)
from ._metrics import (
    write_report as write_report,
)
from ._sampling import (
    ASSESS_FILES as ASSESS_FILES,
)
from ._sampling import (
    POINT_COLUMNS as POINT_COLUMNS,
)
from ._sampling import (
    MapStrata as MapStrata,
)
from ._sampling import (
    allocate as allocate,
)
from ._sampling import (
    draw_sample as draw_sample,
)
from ._sampling import (
    map_strata as map_strata,
)
from ._sampling import (
    sample_for as sample_for,
)
from ._sampling import (
    write_points as write_points,
)
