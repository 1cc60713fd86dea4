"""The public names of :mod:`sscnb.adapt`, each from the private module that defines it.

lazy_loader reads this file to import a name on first use; type checkers read it as the package.
"""

from ._check import (
    before_after as before_after,
)
from ._check import (
    judge_grid as judge_grid,
)
from ._defaults import (
    ADAPT_COLOUR_DEFAULT as ADAPT_COLOUR_DEFAULT,
)
from ._defaults import (
    DEFAULT_EPOCHS as DEFAULT_EPOCHS,
)
from ._defaults import (
    DEFAULT_LEARNING_RATE as DEFAULT_LEARNING_RATE,
)
from ._defaults import (
    DEFAULT_REPLAY as DEFAULT_REPLAY,
)
from ._finetune import (
    AdaptError as AdaptError,
)
from ._finetune import (
    AdaptResult as AdaptResult,
)
from ._finetune import (
    adapt_model as adapt_model,
)
from ._finetune import (
    fine_tune as fine_tune,
)
from ._finetune import (
    merge_class_key as merge_class_key,
)
from ._finetune import (
    replay_tiles as replay_tiles,
)
from ._finetune import (
    widen_model as widen_model,
)
