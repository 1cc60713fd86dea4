"""The public names of :mod:`sscnb.phase2`, each from the private module that defines it.

lazy_loader reads this file to import a name on first use; type checkers read it as the package.
"""

from ._choose import (
    TILE_MAP as TILE_MAP,
)
from ._choose import (
    Phase2Choice as Phase2Choice,
)
from ._choose import (
    PixelLabels as PixelLabels,
)
from ._choose import (
    candidate_features as candidate_features,
)
from ._choose import (
    choose_phase2 as choose_phase2,
)
from ._choose import (
    fit_phase2 as fit_phase2,
)
from ._cnnbands import (
    N_CNN_BANDS as N_CNN_BANDS,
)
from ._cnnbands import (
    bands_at as bands_at,
)
from ._cnnbands import (
    bands_rows as bands_rows,
)
from ._cnnbands import (
    project_activations as project_activations,
)
from ._features import (
    ENTROPY_SIZE as ENTROPY_SIZE,
)
from ._features import (
    FEATURE_SETS as FEATURE_SETS,
)
from ._features import (
    HUE_SIGMAS as HUE_SIGMAS,
)
from ._features import (
    MEDIAN_DEVICES as MEDIAN_DEVICES,
)
from ._features import (
    MULTISCALE_SIGMAS as MULTISCALE_SIGMAS,
)
from ._features import (
    N_MULTISCALE as N_MULTISCALE,
)
from ._features import (
    bands_recipe as bands_recipe,
)
from ._features import (
    feature_bands as feature_bands,
)
from ._features import (
    feature_halo as feature_halo,
)
from ._features import (
    feature_threads as feature_threads,
)
from ._features import (
    local_entropy as local_entropy,
)
from ._features import (
    median_device as median_device,
)
from ._features import (
    median_rgb as median_rgb,
)
from ._features import (
    multiscale_features as multiscale_features,
)
from ._features import (
    pixel_features as pixel_features,
)
from ._forest import (
    forest_codes as forest_codes,
)
from ._patches import (
    despeckle as despeckle,
)
from ._patches import (
    modal_filter_regions as modal_filter_regions,
)
from ._pixel import (
    N_RGB as N_RGB,
)
from ._pixel import (
    PixelClassifier as PixelClassifier,
)
from ._pixel import (
    fit_pixel_classifier as fit_pixel_classifier,
)
from ._pixel import (
    mlp_forward as mlp_forward,
)
from ._pixel import (
    pack_rgb as pack_rgb,
)
from ._pixel import (
    sample_tile_pixels as sample_tile_pixels,
)
from ._pixel import (
    unique_rows as unique_rows,
)
from ._pixel import (
    unpack_rgb as unpack_rgb,
)
