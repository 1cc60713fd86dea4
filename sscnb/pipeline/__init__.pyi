"""The public names of :mod:`sscnb.pipeline`, each from the private module that defines it.

lazy_loader reads this file to import a name on first use; type checkers read it as the package.
"""

from ._steps import (
    SHRINK_FRACTION as SHRINK_FRACTION,
)
from ._steps import (
    ImageJob as ImageJob,
)
from ._steps import (
    ImageSource as ImageSource,
)
from ._steps import (
    MemoryFeatures as MemoryFeatures,
)
from ._steps import (
    apply_tile_rules as apply_tile_rules,
)
from ._steps import (
    check_input as check_input,
)
from ._steps import (
    choose as choose,
)
from ._steps import (
    class_counts as class_counts,
)
from ._steps import (
    cnn_strip as cnn_strip,
)
from ._steps import (
    colour_table as colour_table,
)
from ._steps import (
    correct_input as correct_input,
)
from ._steps import (
    final_strips as final_strips,
)
from ._steps import (
    phase1 as phase1,
)
from ._steps import (
    predict_tiles_masked as predict_tiles_masked,
)
from ._steps import (
    shrinking_classes as shrinking_classes,
)
from ._steps import (
    tile_classes as tile_classes,
)
from ._strips import (
    Scratch as Scratch,
)
from ._strips import (
    strips as strips,
)
