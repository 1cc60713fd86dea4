"""The public names of :mod:`sscnb.cnn`, each from the private module that defines it.

lazy_loader reads this file to import a name on first use; type checkers read it as the package.
"""

from ._augment import (
    COLOUR_AUGMENT_NAMES as COLOUR_AUGMENT_NAMES,
)
from ._augment import (
    DihedralAugment as DihedralAugment,
)
from ._augment import (
    PhotometricAugment as PhotometricAugment,
)
from ._bundled import (
    BUNDLED_MODELS as BUNDLED_MODELS,
)
from ._bundled import (
    MODELS_DIR as MODELS_DIR,
)
from ._bundled import (
    bundled_model as bundled_model,
)
from ._bundled import (
    head_model as head_model,
)
from ._bundled import (
    save_head as save_head,
)
from ._classkey import (
    ClassKey as ClassKey,
)
from ._classkey import (
    ModelMismatchError as ModelMismatchError,
)
from ._classkey import (
    make_class_key as make_class_key,
)
from ._efficientnet import (
    BLOCKS as BLOCKS,
)
from ._efficientnet import (
    DEFAULT_INPUT_SIZE as DEFAULT_INPUT_SIZE,
)
from ._efficientnet import (
    MEAN as MEAN,
)
from ._efficientnet import (
    STD as STD,
)
from ._efficientnet import (
    WEIGHTS_PACKAGE as WEIGHTS_PACKAGE,
)
from ._efficientnet import (
    PretrainedUnavailableError as PretrainedUnavailableError,
)
from ._efficientnet import (
    efficientnet_lite0 as efficientnet_lite0,
)
from ._efficientnet import (
    imagenet_model as imagenet_model,
)
from ._efficientnet import (
    load_state_dict as load_state_dict,
)
from ._efficientnet import (
    package_weights_path as package_weights_path,
)
from ._efficientnet import (
    read_state_dict as read_state_dict,
)
from ._efficientnet import (
    tile_classifier as tile_classifier,
)
from ._files import (
    LoadedModel as LoadedModel,
)
from ._files import (
    check_new_model as check_new_model,
)
from ._files import (
    load_model as load_model,
)
from ._files import (
    make_card as make_card,
)
from ._files import (
    model_recipe as model_recipe,
)
from ._files import (
    predict_codes as predict_codes,
)
from ._files import (
    save_model as save_model,
)
from ._inputstats import (
    MARGIN as MARGIN,
)
from ._inputstats import (
    MIN_CORRECTION as MIN_CORRECTION,
)
from ._inputstats import (
    STATISTICS as STATISTICS,
)
from ._inputstats import (
    InputShiftWarning as InputShiftWarning,
)
from ._inputstats import (
    apply_gamma as apply_gamma,
)
from ._inputstats import (
    check_image as check_image,
)
from ._inputstats import (
    far_outside as far_outside,
)
from ._inputstats import (
    image_statistics as image_statistics,
)
from ._inputstats import (
    merge_statistics as merge_statistics,
)
from ._inputstats import (
    normalising_gamma as normalising_gamma,
)
from ._inputstats import (
    summarise as summarise,
)
from ._inputstats import (
    tile_statistics as tile_statistics,
)
from ._inputstats import (
    training_statistics as training_statistics,
)
from ._model import (
    BACKBONES as BACKBONES,
)
from ._model import (
    CNNParams as CNNParams,
)
from ._model import (
    WeightsUnavailableError as WeightsUnavailableError,
)
from ._model import (
    build_model as build_model,
)
from ._model import (
    class_weights as class_weights,
)
from ._model import (
    keras_cache_dir as keras_cache_dir,
)
from ._model import (
    quiet_native_start as quiet_native_start,
)
from ._model import (
    recommend_epochs as recommend_epochs,
)
from ._model import (
    train as train,
)
from ._predict import (
    accelerator as accelerator,
)
from ._predict import (
    dihedral_views as dihedral_views,
)
from ._predict import (
    hidden_model as hidden_model,
)
from ._predict import (
    machine as machine,
)
from ._predict import (
    network_side as network_side,
)
from ._predict import (
    predict_batch_size as predict_batch_size,
)
from ._predict import (
    predict_tiles as predict_tiles,
)
from ._predict import (
    predict_with_hidden as predict_with_hidden,
)
from ._predict import (
    tile_activations as tile_activations,
)
from ._tilesets import (
    NoTilesError as NoTilesError,
)
from ._tilesets import (
    TileSet as TileSet,
)
from ._tilesets import (
    collect_tiles as collect_tiles,
)
from ._tilesets import (
    split_indices as split_indices,
)
from ._tuning import (
    RECOMMENDATION_FILE as RECOMMENDATION_FILE,
)
from ._tuning import (
    epochs_advice as epochs_advice,
)
from ._tuning import (
    resolve_epochs as resolve_epochs,
)
from ._tuning import (
    tile_accuracy_table as tile_accuracy_table,
)
from ._tuning import (
    write_recommendation as write_recommendation,
)
