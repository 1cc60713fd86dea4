"""Phase 1: the CNN that classifies 50 x 50 px tiles.

* ``_model``: settings (:class:`CNNParams`), backbones, training, the epoch rule;
* ``_efficientnet``: EfficientNet-Lite0 in Keras 3, its ImageNet weights read without PyTorch;
* ``_augment``: flips, rotations and colour changes during training;
* ``_tilesets``: the training tiles of labelled images and their validation split;
* ``_tuning``: notebook 01's epoch recommendation, tile accuracy tables;
* ``_predict``: prediction in fixed-shape batches, test-time augmentation;
* ``_classkey``: which CNN output is which class of the scheme;
* ``_files``: a trained model on disk (model, class key, card), loaded and saved;
* ``_bundled``: the models shipped with sscnb (``rivers``, ``rivers_compact``);
* ``_inputstats``: the brightness and colour of the training images, the warning and the input's gamma;
* ``_keras``: Keras, imported only when a model is used.
"""

import lazy_loader as _lazy

# the names of __init__.pyi, each imported from its private module when first used: a package's modules
# import one another freely, and importing one name loads only what it needs
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
