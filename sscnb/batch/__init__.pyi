"""The public names of :mod:`sscnb.batch`, each from the private module that defines it.

lazy_loader reads this file to import a name on first use; type checkers read it as the package.
"""

from ._config import (
    NOTEBOOK_DIR as NOTEBOOK_DIR,
)
from ._config import (
    PATH_PARAMETERS as PATH_PARAMETERS,
)
from ._config import (
    RunError as RunError,
)
from ._config import (
    check_config as check_config,
)
from ._config import (
    list_notebooks as list_notebooks,
)
from ._config import (
    load_config as load_config,
)
from ._config import (
    select_notebooks as select_notebooks,
)
from ._runner import (
    copy_notebooks as copy_notebooks,
)
from ._runner import (
    inline_figures as inline_figures,
)
from ._runner import (
    notebook_warnings as notebook_warnings,
)
from ._runner import (
    run_suite as run_suite,
)
from ._tasks import (
    BatchError as BatchError,
)
from ._tasks import (
    Interrupted as Interrupted,
)
from ._tasks import (
    ResultsConflictError as ResultsConflictError,
)
from ._tasks import (
    dask_client as dask_client,
)
from ._tasks import (
    parse_scheduler as parse_scheduler,
)
from ._tasks import (
    run_batch as run_batch,
)
from ._tasks import (
    run_tasks as run_tasks,
)
from ._tasks import (
    share_cores as share_cores,
)
from ._tasks import (
    worker_model as worker_model,
)
