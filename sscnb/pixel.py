"""Phase 2: a shallow pixel classifier trained on one image's CNN tile map.

The training pixels are those the CNN classified (never the validation labels), subsampled by
``subsample`` with a ``min_sample`` floor, optionally balanced with SMOTE-ENN. Classifiers:
``rf`` (scikit-learn random forest, 150 trees, all cores) or ``mlp`` (Keras: the original "deep"
256-128-64-32-32 network with L2 1e-3 and dropout, or the "very_deep" variant).

Prediction is exact and cheap: an image has far fewer distinct feature vectors (e.g. ~200 000
median-RGB triplets) than pixels (5.9 million), so each distinct vector is predicted once and the
answer is copied to every pixel that has it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

__all__ = ["sample_training_pixels", "PixelClassifier", "fit_pixel_classifier", "unique_rows"]

log = logging.getLogger(__name__)


def sample_training_pixels(features: np.ndarray, cnn_map: np.ndarray, subsample: float = 0.05,
                           min_sample: int = 20_000, seed: int = 0):
    """``(X (n, F), y (n,))``: a random sample of the pixels the CNN classified (``cnn_map > 0``).

    ``n = max(subsample * n_classified, min_sample)`` (at most all classified pixels). Sampling is
    stratified by class so that no class present in the tile map is lost.
    """
    f = features.reshape(-1, features.shape[-1])
    lab = cnn_map.ravel()
    idx = np.flatnonzero(lab > 0)
    if len(idx) == 0:
        raise ValueError("the CNN classified no pixel of this image: nothing to train phase 2 on")
    n = int(min(len(idx), max(round(subsample * len(idx)), min_sample)))
    rng = np.random.default_rng(seed)
    if n < len(idx):
        picks = []
        for c in np.unique(lab[idx]):
            ic = idx[lab[idx] == c]
            k = max(1, int(round(n * len(ic) / len(idx))))
            picks.append(rng.choice(ic, size=min(k, len(ic)), replace=False))
        idx = np.sort(np.concatenate(picks))
    return f[idx], lab[idx].astype(np.int64)


def unique_rows(x: np.ndarray):
    """``(unique (u, F), inverse (n,))`` of the rows of ``x``; fast path for uint8 triplets."""
    if x.dtype == np.uint8 and x.shape[1] == 3:
        code = (x[:, 0].astype(np.int32) << 16) | (x[:, 1].astype(np.int32) << 8) | x[:, 2]
        u, inv = np.unique(code, return_inverse=True)
        uniq = np.stack([(u >> 16) & 255, (u >> 8) & 255, u & 255], axis=1).astype(np.uint8)
        return uniq, inv.ravel()
    u, inv = np.unique(x, axis=0, return_inverse=True)
    return u, inv.ravel()


def _mlp(keras, n_in, n_out, depth: str, seed: int):
    L = keras.layers
    reg = keras.regularizers.l2(1e-3)
    sizes = {"deep": (256, 128, 64, 32, 32), "very_deep": (512, 256, 128, 64, 64, 32, 32)}[depth]
    keras.utils.set_random_seed(int(seed))
    inp = keras.Input((n_in,))
    x = inp
    for i, s in enumerate(sizes):
        x = L.Dense(s, activation="relu", kernel_regularizer=reg)(x)
        if i < 2:
            x = L.Dropout(0.2)(x)
    out = L.Dense(n_out, activation="softmax")(x)
    return keras.Model(inp, out, name=f"pixel_mlp_{depth}")


@dataclass
class PixelClassifier:
    """A fitted phase-2 classifier: ``predict(features (H, W, F)) -> (H, W) uint8`` codes."""

    kind: str
    classes: np.ndarray            # (C,) class codes, in output order
    mean: np.ndarray
    scale: np.ndarray
    model: object = None           # sklearn estimator or Keras model; None for a one-class map
    info: dict = field(default_factory=dict)

    def predict_proba_rows(self, x: np.ndarray, batch: int = 65536) -> np.ndarray:
        if self.model is None:
            return np.ones((len(x), 1), np.float32)
        z = (x.astype(np.float32) - self.mean) / self.scale
        if self.kind == "rf":
            return self.model.predict_proba(z).astype(np.float32)
        return np.asarray(self.model.predict(z, batch_size=batch, verbose=0), np.float32)

    def _codes(self, rows: np.ndarray) -> np.ndarray:
        return self.classes[self.predict_proba_rows(rows).argmax(axis=1)].astype(np.uint8)

    def predict(self, features: np.ndarray, batch_pixels: int = 1 << 20) -> np.ndarray:
        """``(H, W, F)`` features -> ``(H, W) uint8`` codes for every pixel.

        uint8 features (median RGB): each distinct feature vector is predicted once and copied to
        the pixels that share it (exact). Other features (e.g. with entropy): predicted in batches
        of ``batch_pixels`` so memory stays bounded."""
        H, W, F = features.shape
        rows = features.reshape(-1, F)
        if rows.dtype == np.uint8:
            u, inv = unique_rows(rows)
            self.info["distinct_vectors"] = int(len(u))
            return self._codes(u)[inv].reshape(H, W)
        out = np.empty(len(rows), np.uint8)
        for i in range(0, len(rows), batch_pixels):
            out[i:i + batch_pixels] = self._codes(rows[i:i + batch_pixels])
        return out.reshape(H, W)


def fit_pixel_classifier(x: np.ndarray, y: np.ndarray, kind: str = "mlp", *, depth: str = "deep",
                         epochs: int = 5, learning_rate: float = 1e-3, batch_size: int = 4096,
                         use_smote: bool = False, n_trees: int = 150, seed: int = 0) -> PixelClassifier:
    """Fit ``rf`` or ``mlp`` on ``x (n, F)``, ``y (n,)`` codes. A single class is handled: the
    result predicts that class everywhere (logged), as there is nothing to separate."""
    classes = np.unique(y)
    x = x.astype(np.float32)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    if len(classes) == 1:
        log.info("phase 2: the CNN map holds one class (%s); the final map is that class", classes[0])
        return PixelClassifier(kind, classes, mean, scale, None, {"one_class": True, "n_train": len(y)})
    z = (x - mean) / scale
    yy = np.searchsorted(classes, y)
    info = {"n_train": int(len(y))}
    if use_smote:
        from imblearn.combine import SMOTEENN

        if np.bincount(yy).min() >= 6:
            z, yy = SMOTEENN(random_state=seed).fit_resample(z, yy)
            info["n_after_smote_enn"] = int(len(yy))
        else:
            log.info("phase 2: a class has fewer than 6 training pixels; SMOTE-ENN skipped")
            info["smote_skipped"] = True
    if kind == "rf":
        from sklearn.ensemble import RandomForestClassifier

        model = RandomForestClassifier(n_estimators=n_trees, n_jobs=-1, random_state=seed)
        model.fit(z, yy)
    elif kind == "mlp":
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras

        # one new small MLP per image: TensorFlow's "retracing" warning about it is expected
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        model = _mlp(keras, z.shape[1], len(classes), depth, seed)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy")
        model.fit(z, yy, epochs=int(epochs), batch_size=int(batch_size), shuffle=True, verbose=0)
    else:
        raise ValueError(f"phase2 must be 'mlp' or 'rf', not {kind!r}")
    return PixelClassifier(kind, classes, mean, scale, model, info)
