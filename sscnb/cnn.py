"""Phase 1 CNN: backbones, tile training sets, training, epoch recommendation, save and load.

Backend-neutral Keras 3 (NumPy in, NumPy out); runs on the GPU when one is visible.

Backbones (:func:`build_model`):

* ``compact``: a small VGG-like CNN (4 conv blocks with BatchNorm, global average pooling) made
  for 50 x 50 px tiles; trains from scratch on a laptop CPU in minutes. The default.
* ``nasnet_mobile`` / ``nasnet_large``: ``keras.applications`` NASNet with the original
  method's head (Flatten, Dense 256 relu + L2 1e-3, Dropout 0.5, Dense 128 relu + L2, softmax;
  Adam with amsgrad, learning rate 5e-4). ``weights``: ``None`` (from scratch),
  ``"imagenet"`` (Keras cache or download) or the path of a weights file.

Every BatchNormalization layer of a network trained from scratch gets momentum 0.9 (Keras's
default 0.99, and NASNet's 0.9997, let the running statistics lag so far behind in a few hundred
steps that inference-mode accuracy collapses while training accuracy looks fine).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import tiles as _tiles
from .classes import ClassScheme
from .layout import TUNING_DIR

__all__ = [
    "BACKBONES", "CNNParams", "TileSet", "ClassKey", "WeightsUnavailableError", "ModelMismatchError", "NoTilesError",
    "collect_tiles", "make_class_key", "build_model", "train", "recommend_epochs",
    "save_model", "load_model", "predict_tiles", "predict_codes", "LoadedModel", "split_indices",
    "write_recommendation", "make_card", "resolve_epochs", "tile_accuracy_table",
    "keras_cache_dir",
]

BACKBONES = ("compact", "nasnet_mobile", "nasnet_large")
FROM_SCRATCH_BN_MOMENTUM = 0.9
_NASNET_FILES = {
    "nasnet_mobile": ("NASNetMobile", "NASNet-mobile-no-top.h5"),
    "nasnet_large": ("NASNetLarge", "NASNet-large-no-top.h5"),
}


@dataclass
class CNNParams:
    """Settings of the phase-1 CNN shared by notebooks 01 and 02: one name and one default each.

    backbone: compact (fast on CPU), nasnet_mobile or nasnet_large. weights: None (from scratch),
    "imagenet", or the path of a weights file. tile_size (px) and purity: the tiles trained on.
    local_classes: each river's classes are separate CNN classes (the original method).
    batch_size: tiles per step. learning_rate: None for the backbone's default. augment: random
    flips and 90-degree rotations. class_weight: None or "balanced". trainable_layers: "all", or N
    to train only the last N backbone layers. seed: split, initial weights and augmentation.
    """

    backbone: str = "compact"
    weights: str | None = None
    tile_size: int = 50
    purity: float = 0.9
    local_classes: bool = True
    batch_size: int = 64
    learning_rate: float | None = None
    augment: bool = True
    class_weight: str | None = None
    trainable_layers: str | int = "all"
    seed: int = 42

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {list(BACKBONES)}, got {self.backbone!r}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        if not (self.trainable_layers == "all" or (isinstance(self.trainable_layers, int)
                                                    and not isinstance(self.trainable_layers, bool)
                                                    and self.trainable_layers >= 0)):
            raise ValueError(f"trainable_layers must be 'all' or a number >= 0, got {self.trainable_layers!r}")
        for name in ("tile_size", "batch_size", "seed"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < (0 if name == "seed" else 1):
                raise ValueError(f"{name} must be a whole number >= {0 if name == 'seed' else 1}, got {v!r}")
        if not isinstance(self.purity, (int, float)) or not 0 < self.purity <= 1:
            raise ValueError(f"purity must be in (0, 1], got {self.purity!r}")
        if self.learning_rate is not None and not (isinstance(self.learning_rate, (int, float))
                                                   and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be None or > 0, got {self.learning_rate!r}")
        for name in ("local_classes", "augment"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

    @classmethod
    def names(cls) -> list[str]:
        from dataclasses import fields

        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, values: dict, source: str = "settings") -> "CNNParams":
        """Build from a mapping; an unknown name is an error naming the closest valid ones."""
        import difflib

        unknown = [k for k in values if k not in cls.names()]
        if unknown:
            hints = "; ".join(f"{k!r} (did you mean {', '.join(difflib.get_close_matches(k, cls.names())) or '?'})"
                              for k in unknown)
            raise ValueError(f"unknown CNN setting(s) in {source}: {hints}. Valid: {', '.join(cls.names())}")
        return cls(**values)

    @classmethod
    def from_namespace(cls, namespace: dict) -> "CNNParams":
        """Take the settings a notebook's parameters cell defines (``globals()``), by name."""
        return cls(**{k: namespace[k] for k in cls.names() if k in namespace})


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were asked for but cannot be had."""


class ModelMismatchError(ValueError):
    """A saved model, its class key and its model card do not belong together."""


class NoTilesError(ValueError):
    """No tile is pure enough to train on."""


# -- training tiles ----------------------------------------------------------------------

@dataclass
class TileSet:
    """Pure tiles of a set of images.

    ``x``: ``(n, tile, tile, 3) uint8``; ``y``: ``(n,)`` class codes of the shared scheme;
    ``river``: ``(n,)`` river names; ``image``: ``(n,)`` image names.
    """

    x: np.ndarray
    y: np.ndarray
    river: np.ndarray
    image: np.ndarray
    tile_size: int
    purity: float

    def __len__(self):
        return len(self.y)

    def counts(self, scheme: ClassScheme | None = None):
        """Tiles per river x class as a DataFrame (class names as columns when ``scheme`` given)."""
        import pandas as pd

        df = pd.crosstab(pd.Series(self.river, name="river"), pd.Series(self.y, name="class"))
        if scheme is not None:
            df.columns = [scheme.name(c) for c in df.columns]
        return df

    def subset(self, idx) -> "TileSet":
        return TileSet(self.x[idx], self.y[idx], self.river[idx], self.image[idx], self.tile_size, self.purity)


def collect_tiles(records, scheme: ClassScheme, tile_size: int = 50, purity: float = 0.9,
                  progress: bool = True) -> TileSet:
    """Read labelled images and keep their pure tiles (see :func:`sscnb.tiles.purity_labels`).

    Raises :class:`NoTilesError` naming the purity and tile size when no tile qualifies.
    """
    from tqdm.auto import tqdm

    from .data import read_pair

    xs, ys, rivers, images = [], [], [], []
    labelled = [r for r in records if r.has_label]
    if not labelled:
        raise NoTilesError("none of the images has a label (SCLS_*.tif): nothing to train on")
    for rec in tqdm(labelled, desc="tiling images", disable=not progress):
        img, lab = read_pair(rec, scheme, tile_size)
        y = _tiles.purity_labels(lab, tile_size, scheme.labelled_codes, purity)
        keep = y > 0
        if keep.any():
            xs.append(_tiles.to_tiles(img, tile_size)[keep])
            ys.append(y[keep])
            rivers.append(np.full(keep.sum(), rec.river, dtype=object))
            images.append(np.full(keep.sum(), rec.name, dtype=object))
    if not ys:
        raise NoTilesError(
            f"no tile of {tile_size} x {tile_size} px is at least {purity:.0%} one class (with <= 10% "
            f"unlabelled) in {len(labelled)} labelled image(s): lower purity or tile_size, or label "
            "larger areas"
        )
    return TileSet(np.concatenate(xs), np.concatenate(ys).astype(np.int64), np.concatenate(rivers),
                   np.concatenate(images), tile_size, purity)


def split_indices(tiles: TileSet, val_fraction: float, seed: int = 0, by: str = "tile"):
    """``(train_idx, val_idx)``: a stratified random split of tiles (``by="tile"``) or whole
    images held out (``by="image"``; tiles of one image are alike, so this is the stricter test)."""
    n = len(tiles)
    if not val_fraction:
        return np.arange(n), np.arange(0)
    rng = np.random.default_rng(seed)
    if by == "image":
        names = np.unique(tiles.image)
        rng.shuffle(names)
        n_val = max(1, int(round(val_fraction * len(names))))
        if n_val >= len(names):
            raise ValueError(f"cannot hold out {n_val} of {len(names)} images")
        val = np.isin(tiles.image, names[:n_val])
        return np.flatnonzero(~val), np.flatnonzero(val)
    if by != "tile":
        raise ValueError(f"split by 'tile' or 'image', not {by!r}")
    tr, va = [], []
    for c in np.unique(tiles.y):
        idx = np.flatnonzero(tiles.y == c)
        rng.shuffle(idx)
        k = int(round(val_fraction * len(idx)))
        if len(idx) > 1:
            k = min(max(k, 1), len(idx) - 1)
        else:
            k = 0
        va.append(idx[:k])
        tr.append(idx[k:])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(va))


# -- class key ----------------------------------------------------------------------------

@dataclass
class ClassKey:
    """Map between the CNN's outputs ("local classes") and the shared scheme.

    ``table``: DataFrame with columns LocalClass (0..K-1, the softmax index), HierarchClass (code
    of the shared scheme), River (river name, or ``*`` when classes are shared by all rivers),
    ClassName.
    """

    table: "object"

    COLUMNS = ("LocalClass", "HierarchClass", "River", "ClassName")

    @property
    def n_outputs(self) -> int:
        return len(self.table)

    @property
    def rivers(self) -> list[str]:
        return sorted(r for r in self.table["River"].unique() if r != "*")

    @property
    def local_classes(self) -> bool:
        return bool((self.table["River"] != "*").any())

    def encode(self, y: np.ndarray, river: np.ndarray) -> np.ndarray:
        """Shared codes (+ river) -> local class indices."""
        t = self.table
        lut = {(r, int(h)): int(l) for l, h, r in zip(t.LocalClass, t.HierarchClass, t.River)}
        if self.local_classes:
            return np.array([lut[(r, int(c))] for c, r in zip(y, river)], np.int64)
        return np.array([lut[("*", int(c))] for c in y], np.int64)

    def to_hierarchical(self, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(n, K)`` local probabilities -> ``(codes (C,), (n, C) probabilities)`` per shared class,
        summing the local classes of each shared class."""
        codes = np.array(sorted(self.table["HierarchClass"].unique()), np.int64)
        m = np.zeros((self.n_outputs, len(codes)), np.float32)
        for l, h in zip(self.table.LocalClass, self.table.HierarchClass):
            m[int(l), np.searchsorted(codes, h)] = 1
        return codes, np.asarray(proba, np.float32) @ m

    def digest(self) -> str:
        return hashlib.sha256(self.table.to_csv(index=False).encode()).hexdigest()[:16]

    def to_csv(self, path):
        self.table.to_csv(path, index=False)
        return Path(path)

    @classmethod
    def from_csv(cls, path) -> "ClassKey":
        import pandas as pd

        path = Path(path)
        try:
            t = pd.read_csv(path, keep_default_na=False)
        except Exception as exc:  # noqa: BLE001
            raise ModelMismatchError(f"cannot read class key {path}: {exc}") from exc
        missing = [c for c in cls.COLUMNS if c not in t.columns]
        if missing:
            raise ModelMismatchError(f"{path.name} is not a class key: columns {missing} are missing")
        t = t[list(cls.COLUMNS)].astype({"LocalClass": int, "HierarchClass": int, "River": str, "ClassName": str})
        if list(t.LocalClass) != list(range(len(t))):
            raise ModelMismatchError(f"{path.name}: LocalClass must run 0..{len(t) - 1} in order")
        return cls(t)


def make_class_key(tiles: TileSet, scheme: ClassScheme, local_classes: bool = True) -> ClassKey:
    """One local class per (river, class) present in ``tiles`` (``local_classes=True``, the
    original method), or one per shared class present."""
    import pandas as pd

    rows = []
    if local_classes:
        pairs = sorted({(str(r), int(c)) for r, c in zip(tiles.river, tiles.y)})
        for r, c in pairs:
            rows.append((len(rows), c, r, scheme.name(c)))
    else:
        for c in sorted(set(int(c) for c in tiles.y)):
            rows.append((len(rows), c, "*", scheme.name(c)))
    return ClassKey(pd.DataFrame(rows, columns=list(ClassKey.COLUMNS)))


# -- models -------------------------------------------------------------------------------

def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def keras_cache_dir() -> Path:
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(base) / "models"


def _resolve_weights(backbone: str, weights):
    """What to load: None (from scratch), a checked file path, or "imagenet" (NASNet only; a
    failed download is turned into a clear error in :func:`build_model`). Raises
    :class:`WeightsUnavailableError` with the fix otherwise."""
    if weights in (None, "none", "None", ""):
        return None
    if weights == "imagenet":
        if backbone not in _NASNET_FILES:
            raise WeightsUnavailableError(f"the {backbone} backbone has no ImageNet weights: use weights=None")
        return "imagenet"
    p = Path(str(weights)).expanduser()
    if not p.is_file():
        hint = f"for {backbone} without its top (e.g. {_NASNET_FILES[backbone][1]}), " if backbone in _NASNET_FILES else ""
        raise WeightsUnavailableError(
            f"weights file {p} does not exist: give the path of a Keras weights file {hint}"
            "or weights=None to train from scratch"
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


def build_model(backbone: str, n_classes: int, tile_size: int = 50, weights=None,
                learning_rate: float | None = None, trainable_layers="all", seed: int | None = None):
    """Build and compile a tile classifier: input ``(tile, tile, 3)`` float32 0-255, output
    ``(n_classes,)`` softmax. ``trainable_layers``: "all", or N to train only the last N layers of
    the backbone (0 = head only; for fine-tuning pretrained weights)."""
    keras = _keras()
    L = keras.layers
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}: choose one of {BACKBONES}")
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
    else:
        cls_name, fname = _NASNET_FILES[backbone]
        ctor = getattr(keras.applications, cls_name)
        try:
            base = ctor(input_shape=(tile_size, tile_size, 3), include_top=False, weights=w)
        except Exception as exc:  # noqa: BLE001 - a failed download shows as several exception types
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
        lr = 5e-4 if learning_rate is None else learning_rate
    if w is None:  # from scratch
        _set_bn_momentum(model)
    if trainable_layers != "all":
        n = int(trainable_layers)
        blayers = base.layers
        for i, layer in enumerate(blayers):
            layer.trainable = i >= len(blayers) - n if n > 0 else False
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr, amsgrad=True),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class DihedralAugment:
    """Random flips and 90-degree rotations of square tiles (the 8 symmetries of a square), a
    Keras layer active in training only. Built lazily so that importing sscnb needs no Keras."""

    _cls = None

    @classmethod
    def layer(cls, seed=None):
        if cls._cls is None:
            keras = _keras()
            ops = keras.ops

            class _Dihedral(keras.layers.Layer):
                def __init__(self, seed=None, **kw):
                    super().__init__(**kw)
                    self.gen = keras.random.SeedGenerator(seed)

                def call(self, x, training=None):
                    if not training:
                        return x
                    b = ops.shape(x)[0]
                    u = keras.random.uniform((b, 3), seed=self.gen)
                    m = lambda k: ops.reshape(u[:, k] < 0.5, (-1, 1, 1, 1))  # noqa: E731
                    x = ops.where(m(0), ops.flip(x, axis=1), x)
                    x = ops.where(m(1), ops.flip(x, axis=2), x)
                    x = ops.where(m(2), ops.transpose(x, (0, 2, 1, 3)), x)
                    return x

            cls._cls = _Dihedral
        return cls._cls(seed=seed, name="dihedral_augment")


def _progress_callback(epochs: int, enabled: bool):
    keras = _keras()
    from tqdm.auto import tqdm

    class _Tqdm(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=epochs, desc="training", unit="epoch", disable=not enabled)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if k in
                                  ("loss", "accuracy", "val_loss", "val_accuracy")})
            self.bar.update(1)

        def on_train_end(self, logs=None):
            self.bar.close()

    return _Tqdm()


def class_weights(y_local: np.ndarray, n_classes: int) -> dict:
    """Balanced class weights ``n / (K * count_k)`` (as scikit-learn's "balanced")."""
    counts = np.bincount(y_local, minlength=n_classes).astype(float)
    k = (counts > 0).sum()
    return {i: (len(y_local) / (k * c) if c > 0 else 0.0) for i, c in enumerate(counts)}


def train(model, x, y, *, val=None, epochs: int = 10, batch_size: int = 64, augment: bool = True,
          class_weight: str | dict | None = None, seed: int = 0, progress: bool = True):
    """Fit ``model`` on tiles ``x`` ``(n, t, t, 3) uint8`` with local labels ``y`` ``(n,)``.

    ``val``: ``(x_val, y_val)`` or None. Returns the history as a DataFrame (epoch from 1; loss,
    accuracy, val_loss, val_accuracy, seconds). The saved model never contains the augmentation.
    """
    import time

    import pandas as pd

    keras = _keras()
    keras.utils.set_random_seed(int(seed))
    net = model
    if augment:
        inp = keras.Input(model.input_shape[1:])
        net = keras.Model(inp, model(DihedralAugment.layer(seed)(inp)))
        net.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"])
    cw = class_weights(y, model.output_shape[-1]) if class_weight == "balanced" else class_weight

    class _Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs["seconds"] = time.perf_counter() - self.t

    steps = int(np.ceil(len(y) / batch_size)) * int(epochs)
    if steps < 40 and any(isinstance(l, keras.layers.BatchNormalization) for l in _all_layers(model)):
        import warnings

        warnings.warn(
            f"only {steps} training steps: BatchNorm running statistics (momentum "
            f"{FROM_SCRATCH_BN_MOMENTUM}) need about 40 to settle, so predictions may be poor; train "
            "more epochs or use a smaller batch_size", stacklevel=2)
    vd = None
    if val is not None and len(val[1]):
        vd = (val[0].astype(np.float32), np.asarray(val[1]))
    h = net.fit(x.astype(np.float32), np.asarray(y), validation_data=vd, epochs=int(epochs),
                batch_size=int(batch_size), class_weight=cw, shuffle=True, verbose=0,
                callbacks=[_Timer(), _progress_callback(int(epochs), progress)])
    hist = pd.DataFrame(h.history)
    hist.insert(0, "epoch", np.arange(1, len(hist) + 1))
    return hist


def recommend_epochs(history, tol: float = 0.05) -> dict:
    """The number of epochs to train for, from a history with ``loss`` and ``val_loss``.

    Rule of the original authors: train until validation loss stops improving, before it starts
    to diverge from training loss. Validation loss is noisy from epoch to epoch, so "stops
    improving" is made precise as: the first epoch by which validation loss has made
    ``1 - tol`` (95%) of its total improvement, i.e. ``val_loss <= min + tol * (first - min)``.
    Also reported: the epoch of the minimum, and the epoch from which the gap between validation
    and training loss grows for the rest of the run (divergence, at least 3 epochs), if any.
    """
    import pandas as pd

    h = pd.DataFrame(history)
    if "val_loss" not in h or h["val_loss"].isna().all():
        n = int(h["epoch"].iloc[-1]) if len(h) else 0
        return {"recommended_epochs": n, "best_epoch": None, "min_val_loss": None,
                "diverges_from": None, "rule": "no validation data: all epochs"}
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
    return {"recommended_epochs": int(ep[first_ok]), "best_epoch": int(ep[best]),
            "min_val_loss": float(vl[best]), "diverges_from": diverge,
            "rule": f"first epoch by which validation loss made {1 - tol:.0%} of its improvement"}


def predict_tiles(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """``(n, t, t, 3)`` tiles -> ``(n, K) float32`` softmax probabilities."""
    if len(x) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    return np.asarray(model.predict(np.asarray(x, np.float32), batch_size=batch_size, verbose=0), np.float32)


# -- saving and loading -------------------------------------------------------------------

@dataclass
class LoadedModel:
    model: object
    key: ClassKey
    card: dict
    path: Path
    scheme: ClassScheme = field(default=None)

    @property
    def tile_size(self) -> int:
        return int(self.card["tile_size"])


def save_model(folder, name: str, model, key: ClassKey, card: dict, overwrite: bool = False) -> dict:
    """Write ``<name>.keras``, ``<name>_classkey.csv`` and ``<name>_card.json`` into ``folder``.

    Refuses to replace an existing model unless ``overwrite``. Files are written under temporary
    names and renamed at the end, so a failure leaves no half-written model behind.
    """
    from .provenance import package_versions

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"model": folder / f"{name}.keras", "class_key": folder / f"{name}_classkey.csv",
             "card": folder / f"{name}_card.json"}
    if paths["model"].exists() and not overwrite:
        raise FileExistsError(f"{paths['model']} exists: choose another model_name or set overwrite=True")
    card = dict(card)
    card.update(model_name=name, n_outputs=key.n_outputs, class_key_digest=key.digest(),
                rivers=key.rivers, local_classes=key.local_classes,
                saved=_dt.datetime.now().isoformat(timespec="seconds"),
                versions=card.get("versions") or package_versions())
    tmp = {k: p.with_name(".tmp_" + p.name) for k, p in paths.items()}
    try:
        model.save(tmp["model"])
        key.to_csv(tmp["class_key"])
        tmp["card"].write_text(json.dumps(card, indent=2, default=_json_default) + "\n")
        for k in paths:
            tmp[k].replace(paths[k])
    finally:
        for p in tmp.values():
            p.unlink(missing_ok=True)
    return paths


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _find_model_file(path: Path) -> Path:
    if path.is_dir():
        cands = sorted(path.glob("*.keras")) or sorted(path.glob("*.h5"))
        if len(cands) != 1:
            raise ModelMismatchError(
                f"{path} holds {len(cands)} model files (.keras/.h5): give the path of one")
        return cands[0]
    if not path.exists():
        raise FileNotFoundError(f"model {path} does not exist: train one with notebook 02 or check model_path")
    return path


def load_model(path, scheme: ClassScheme | None = None) -> LoadedModel:
    """Load a model saved by :func:`save_model` (a ``.keras`` file or its folder) with its class
    key and card, checking that the three belong together. Legacy ``.h5`` models load when a class
    key CSV (``<name>_classkey.csv`` or ``<name>_ClassKey.csv``) lies beside them; their card is
    made from the model itself."""
    keras = _keras()
    mpath = _find_model_file(Path(path))
    stem = mpath.stem
    key_path = next((p for p in (mpath.with_name(f"{stem}_classkey.csv"), mpath.with_name(f"{stem}_ClassKey.csv"))
                     if p.exists()), None)
    if key_path is None:
        raise ModelMismatchError(
            f"no class key beside {mpath.name}: expected {stem}_classkey.csv in {mpath.parent} "
            "(it maps the CNN's outputs to classes)")
    key = ClassKey.from_csv(key_path)
    card_path = mpath.with_name(f"{stem}_card.json")
    try:
        model = keras.saving.load_model(mpath, compile=False)
    except Exception as exc:  # noqa: BLE001
        raise ModelMismatchError(f"Keras cannot read {mpath.name}: {type(exc).__name__}: {exc}") from exc
    n_out = int(model.output_shape[-1])
    tile = int(model.input_shape[1])
    if card_path.exists():
        card = json.loads(card_path.read_text())
        if card.get("class_key_digest") != key.digest():
            raise ModelMismatchError(
                f"{key_path.name} is not the class key {mpath.name} was saved with (the model card "
                f"{card_path.name} records another one): restore the original key file")
        if int(card.get("tile_size", tile)) != tile:
            raise ModelMismatchError(
                f"{card_path.name} says tile size {card.get('tile_size')} but {mpath.name} takes {tile} px tiles")
    else:
        if mpath.suffix != ".h5":
            raise ModelMismatchError(f"no model card {card_path.name} beside {mpath.name}")
        card = {"model_name": stem, "backbone": "legacy-h5", "tile_size": tile, "legacy": True}
    if n_out != key.n_outputs:
        raise ModelMismatchError(
            f"{mpath.name} has {n_out} outputs but {key_path.name} lists {key.n_outputs} local classes: "
            "they do not belong together")
    if scheme is None and "class_scheme" in card:
        scheme = ClassScheme.from_dict(card["class_scheme"])
    scheme = scheme or ClassScheme.default()
    unknown = sorted(set(key.table.HierarchClass) - set(scheme.codes))
    if unknown:
        raise ModelMismatchError(f"{key_path.name} maps to classes {unknown} that are not in the class scheme")
    return LoadedModel(model, key, card, mpath, scheme)


# -- notebook helpers: recommendation file, model card, tile evaluation ---------------------

RECOMMENDATION_FILE = "recommended_epochs.json"


def write_recommendation(output_dir, rec: dict, **extra) -> Path:
    """Write notebook 01's recommendation to ``output_dir/cnn_tuning/recommended_epochs.json``."""
    p = Path(output_dir) / TUNING_DIR / RECOMMENDATION_FILE
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({**rec, **extra}, indent=2, default=_json_default) + "\n")
    return p


def resolve_epochs(epochs, output_dir) -> tuple[int, str]:
    """``(n, source)``: a number as given, or ``"auto"``: the recommendation notebook 01 wrote."""
    if isinstance(epochs, str) and epochs.strip().lower() == "auto":
        p = Path(output_dir) / TUNING_DIR / RECOMMENDATION_FILE
        if not p.exists():
            raise FileNotFoundError(
                f"epochs='auto' reads the recommendation of notebook 01 from {p}, which does not exist: "
                "run 01_cnn_tuning.ipynb with the same output_dir first, or give epochs as a number")
        rec = json.loads(p.read_text())
        return int(rec["recommended_epochs"]), f"recommended by notebook 01 ({p})"
    n = int(epochs)
    if n < 1:
        raise ValueError(f"epochs must be >= 1 or 'auto', got {epochs!r}")
    return n, "given"


def make_card(*, backbone, weights, tile_size, purity, scheme: ClassScheme, tiles: TileSet, epochs, seed,
              history=None, **extra) -> dict:
    """The model card saved beside a model (JSON-ready dict)."""
    from .provenance import package_versions

    counts = tiles.counts(scheme)
    card = {
        "backbone": backbone, "weights": str(weights) if weights else None, "tile_size": int(tile_size),
        "purity": float(purity), "class_scheme": scheme.to_dict(), "epochs": int(epochs), "seed": int(seed),
        "tiles_per_class": {str(r): {str(c): int(v) for c, v in row.items()} for r, row in counts.iterrows()},
        "n_tiles": int(len(tiles)), "images": sorted(set(map(str, tiles.image))),
        "date": _dt.datetime.now().isoformat(timespec="seconds"), "versions": package_versions(),
    }
    if history is not None and len(history):
        last = history.iloc[-1]
        card["final_metrics"] = {k: float(last[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy")
                                 if k in history and not np.isnan(last[k])}
    card.update(extra)
    return card


def predict_codes(loaded_or_model, key: ClassKey | None, x: np.ndarray, batch_size: int = 256):
    """Tiles -> ``(codes (n,), probabilities (n, C), class codes (C,))`` in the shared scheme."""
    if isinstance(loaded_or_model, LoadedModel):
        key = loaded_or_model.key
        model = loaded_or_model.model
    else:
        model = loaded_or_model
    codes, p = key.to_hierarchical(predict_tiles(model, x, batch_size))
    return codes[p.argmax(axis=1)] if len(p) else np.zeros(0, np.int64), p, codes


def tile_accuracy_table(y_true, y_pred, scheme: ClassScheme):
    """Per-class accuracy (recall) on tiles with counts, plus an ALL row; and the confusion matrix."""
    import pandas as pd
    from sklearn.metrics import confusion_matrix

    codes = [c for c in scheme.labelled_codes if (np.asarray(y_true) == c).any() or (np.asarray(y_pred) == c).any()]
    cm = confusion_matrix(y_true, y_pred, labels=codes)
    rows = []
    for i, c in enumerate(codes):
        n = cm[i].sum()
        rows.append({"class": scheme.name(c), "tiles": int(n), "correct": int(cm[i, i]),
                     "accuracy": cm[i, i] / n if n else np.nan})
    n = cm.sum()
    rows.append({"class": "ALL", "tiles": int(n), "correct": int(np.trace(cm)),
                 "accuracy": np.trace(cm) / n if n else np.nan})
    return pd.DataFrame(rows), cm, [scheme.name(c) for c in codes]
