"""The public names of :mod:`sscnb.plots`, each from the private module that defines it.

lazy_loader reads this file to import a name on first use; type checkers read it as the package.
"""

from ._figures import (
    class_bars as class_bars,
)
from ._figures import (
    confusion_heatmap as confusion_heatmap,
)
from ._figures import (
    f1_bars as f1_bars,
)
from ._figures import (
    f1_violins as f1_violins,
)
from ._figures import (
    history_curves as history_curves,
)
from ._figures import (
    label_overlay as label_overlay,
)
from ._figures import (
    save_figure as save_figure,
)
from ._figures import (
    ssc_figure as ssc_figure,
)
from ._figures import (
    support_bars as support_bars,
)
from ._figures import (
    thumbnails as thumbnails,
)
from ._figures import (
    tile_samples as tile_samples,
)
from ._maps import (
    area_bars as area_bars,
)
from ._maps import (
    before_after_figure as before_after_figure,
)
from ._maps import (
    confidence_figure as confidence_figure,
)
from ._maps import (
    estimated_area_figure as estimated_area_figure,
)
from ._maps import (
    survey_figure as survey_figure,
)
