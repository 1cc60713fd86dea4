"""Phase 2: a shallow pixel classifier trained on one image's CNN tile map.

The training pixels are those the CNN classified (never the validation labels), subsampled by
``subsample`` with a ``min_sample`` floor, optionally balanced with SMOTE-ENN. Classifiers:
``rf`` (scikit-learn random forest, 50 trees, all cores) or ``mlp`` (Keras: the original "deep"
256-128-64-32-32 network with L2 1e-3 and dropout, the "very_deep" variant, or the "compact"
64-32-32 one: a tenth of the work per pixel, for feature sets that must predict every pixel).

Prediction is exact and cheap: an image has far fewer distinct feature vectors (e.g. ~200 000
median-RGB triplets) than pixels (5.9 million), so each distinct vector is predicted once and the
answer is copied to every pixel that has it.
"""

from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from imblearn.combine import SMOTEENN
from sklearn.ensemble import RandomForestClassifier
from threadpoolctl import threadpool_limits

from sscnb.cnn._keras import set_random_seed
from sscnb.cnn._model import _keras
from sscnb.params import MLP_RF_WEIGHT

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = [
    "sample_tile_pixels",
    "PixelClassifier",
    "fit_pixel_classifier",
    "unique_rows",
    "pack_rgb",
    "unpack_rgb",
    "N_RGB",
    "mlp_forward",
]

logger = logging.getLogger(__name__)


def sample_tile_pixels(
    tile_grid: np.ndarray,
    tile: int,
    subsample: float,
    min_sample: int,
    seed: int,
    max_sample: int | None = None,
    min_class: int = 0,
    sampling: str = "area",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return a stratified random sample of the pixels the CNN classified, drawn from its tile map.

    Parameters
    ----------
    tile_grid : (n_rows, n_cols) ndarray of int
        Class code of every tile (0 = unclassified), row-major as in :mod:`sscnb.data`.
    tile : int, px
    subsample : float
        Share of the classified pixels to draw; ``n = max(subsample * N, min_sample)``, at most N.
    min_sample : int
        Floor of the sample size.
    seed : int
    max_sample : int, optional
        Cap of the sample size (applied after the floor).
    min_class : int
        Every class gets at least this many pixels (or all of its pixels), on top of ``n``: a rare
        class is never left with a handful.
    sampling : {"area", "balanced"}
        ``area``: each class in proportion to its pixels; ``balanced``: ``n`` split equally among
        the classes (a class with fewer pixels gives all of them, the rest goes to the others).

    Returns
    -------
    rows, cols : (n,) ndarray of int64
        Pixel coordinates, sorted in row-major order.
    labels : (n,) ndarray of int64
        The CNN class of each pixel.

    With ``area``, each class present gets ``max(1, min_class, round(n * N_c / N))`` pixels (at most
    ``N_c``), drawn without replacement among its ``N_c`` pixels. The sample depends only on the
    tile map, never on how the image is read, so an image read in windows gets exactly the pixels
    it gets in memory, and memory stays proportional to the sample (the classified pixels are
    never listed).
    """
    g = np.asarray(tile_grid)
    tile = int(tile)
    classes = [int(c) for c in np.unique(g) if c > 0]
    n_tiles = {c: int((g == c).sum()) for c in classes}
    N = tile * tile * sum(n_tiles.values())
    if N == 0:
        raise ValueError("the CNN classified no pixel of this image: nothing to train phase 2 on")
    n = int(min(N, max(round(subsample * N), min_sample)))
    if max_sample is not None:
        n = min(n, int(max_sample))
    if sampling not in ("area", "balanced"):
        raise ValueError(f"sampling must be 'area' or 'balanced', got {sampling!r}")
    sizes = {c: tile * tile * n_tiles[c] for c in classes}
    if sampling == "balanced":
        want, left, todo = {}, n, sorted(classes, key=lambda c: sizes[c])
        for i, c in enumerate(todo):  # smallest first: what a class cannot give goes to the others
            want[c] = min(sizes[c], left // (len(todo) - i))
            left -= want[c]
    else:
        want = {c: int(round(n * sizes[c] / N)) for c in classes}
    rng = np.random.default_rng(seed)
    rows, cols, labels = [], [], []
    for c in classes:
        is_c = g == c
        Nc = sizes[c]
        k = min(Nc, max(1, int(min_class), want[c]))
        ranks = np.sort(rng.choice(Nc, size=k, replace=False)).astype(np.int64) if k < Nc else np.arange(Nc, dtype=np.int64)
        per_tile_row = is_c.sum(axis=1).astype(np.int64)  # class-c tiles per tile row
        px_per_row = np.repeat(per_tile_row * tile, tile)  # class-c pixels per image row
        row_end = np.cumsum(px_per_row)
        y = np.searchsorted(row_end, ranks, side="right")  # image row of each rank
        offset = ranks - (row_end[y] - px_per_row[y])  # position within that row
        tile_row = y // tile
        first_tile = np.concatenate([[0], np.cumsum(per_tile_row)[:-1]])
        tile_cols = np.nonzero(is_c)[1]  # row-major: grouped by tile row
        x = tile_cols[first_tile[tile_row] + offset // tile] * tile + offset % tile
        rows.append(y)
        cols.append(x.astype(np.int64))
        labels.append(np.full(len(y), c, np.int64))
    rr, cc, ll = (np.concatenate(a) for a in (rows, cols, labels))
    order = np.lexsort((cc, rr))
    return rr[order], cc[order], ll[order]


def pack_rgb(x: np.ndarray) -> np.ndarray:
    """One integer per colour.

    Parameters
    ----------
    x : (..., 3) ndarray of uint8

    Returns
    -------
    (...) ndarray of int32
        ``r << 16 | g << 8 | b``.

    Examples
    --------
    >>> import numpy as np
    >>> int(pack_rgb(np.array([1, 2, 3], np.uint8)))
    66051
    """
    return (x[..., 0].astype(np.int32) << 16) | (x[..., 1].astype(np.int32) << 8) | x[..., 2]


def unpack_rgb(code: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_rgb`.

    Parameters
    ----------
    code : (n,) array_like of int

    Returns
    -------
    (n, 3) ndarray of uint8
    """
    code = np.asarray(code)
    return np.stack([(code >> 16) & 255, (code >> 8) & 255, code & 255], axis=-1).astype(np.uint8)


N_RGB = 1 << 24
# Keras runs this many training steps per call into the backend: the pixel MLP is tiny, so the
# per-step overhead of Python and the runtime, not arithmetic, is what a step costs. Keras on
# PyTorch runs one step per call (it refuses more).
STEPS_PER_EXECUTION = 32


def unique_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows and how to put them back.

    Parameters
    ----------
    x : (n, F) ndarray
        A fast path for uint8 triplets.

    Returns
    -------
    unique : (u, F) ndarray
    inverse : (n,) ndarray of int
        ``unique[inverse] == x``.
    """
    if x.dtype == np.uint8 and x.shape[1] == 3:
        u, inv = np.unique(pack_rgb(x), return_inverse=True)
        return unpack_rgb(u), inv.ravel()
    u, inv = np.unique(x, axis=0, return_inverse=True)
    return u, inv.ravel()


def _mlp(keras, n_in, n_out, depth: str, seed: int):
    L = keras.layers
    reg = keras.regularizers.l2(1e-3)
    sizes = {"deep": (256, 128, 64, 32, 32), "very_deep": (512, 256, 128, 64, 64, 32, 32), "compact": (64, 32, 32)}[depth]
    set_random_seed(int(seed))
    inp = keras.Input((n_in,))
    x = inp
    for i, s in enumerate(sizes):
        x = L.Dense(s, activation="relu", kernel_regularizer=reg)(x)
        if i < 2:
            x = L.Dropout(0.2)(x)
    out = L.Dense(n_out, activation="softmax")(x)
    return keras.Model(inp, out, name=f"pixel_mlp_{depth}")


_TRAINERS: dict = {}


def _trainer(keras, n_in: int, n_out: int, depth: str, learning_rate: float, seed: int):
    """Return a compiled pixel MLP in its initial state, reused from fit to fit.

    Building and compiling a new Keras model, and tracing its training step, costs about a second:
    as much as ten epochs of training on an image's 60 000 pixels. So one model per architecture is
    kept, and before each fit every variable (weights, random-seed states) and the optimizer's
    state are restored to what they were when it was built: each fit starts exactly as a fresh
    model would. The fitted weights are copied out (see :class:`PixelClassifier`), so a later fit
    never changes an earlier classifier.
    """
    backend = keras.backend.backend()
    key = (backend, int(n_in), int(n_out), depth, float(learning_rate), int(seed))
    if key not in _TRAINERS:
        if len(_TRAINERS) >= 8:
            _TRAINERS.clear()
        model = _mlp(keras, n_in, n_out, depth, seed)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss="sparse_categorical_crossentropy",
            steps_per_execution=1 if backend == "torch" else STEPS_PER_EXECUTION,
        )
        model.optimizer.build(model.trainable_variables)
        if backend == "torch":
            # Keras's fit on PyTorch builds its loss on a model's first fit from a batch drawn from its shuffled
            # loader: one more draw from torch's generator, so the first fit of a process trained on another
            # order than every later fit. Built here from one unshuffled row, every fit trains alike.
            model.evaluate(np.zeros((1, n_in), np.float32), np.zeros(1, np.int64), verbose=0)
        snap = (
            [keras.ops.convert_to_numpy(v) for v in model.variables],
            [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables],
        )
        _TRAINERS[key] = (model, snap)
    model, (model_vars, opt_vars) = _TRAINERS[key]
    for v, a in zip(model.variables, model_vars, strict=True):
        v.assign(a)
    for v, a in zip(model.optimizer.variables, opt_vars, strict=True):
        v.assign(a)
    return model


#: rows per NumPy forward pass of the pixel MLP: a 4096 x 256 float32 layer (4 MiB) stays in the
#: cache, so 218 000 colours take 0.16 s on 2 cores against 0.27 s in batches of 65 536
MLP_BATCH_ROWS = 4096


def mlp_forward(layers: list, z: np.ndarray) -> np.ndarray:
    """Softmax probabilities of a fitted pixel MLP, in NumPy.

    Parameters
    ----------
    layers : list of (W, b)
        ``W (n_in, n_out)``, ``b (n_out,)`` of its Dense layers (ReLU between them; dropout is off
        at inference).
    z : (n, n_in) ndarray of float32
        Standardised features.

    Returns
    -------
    (n, n_classes) ndarray
    """
    h = z
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            np.maximum(h, 0, out=h)
    h = h - h.max(axis=1, keepdims=True)
    e = np.exp(h)
    return e / e.sum(axis=1, keepdims=True)


#: rows per thread's job in :func:`mlp_forward_rows`
MLP_THREAD_ROWS = 1 << 16


def mlp_forward_rows(layers: list, x: np.ndarray, standardise: Callable, batch: int = MLP_BATCH_ROWS) -> np.ndarray:
    """Return :func:`mlp_forward` of many rows as float32: blocks of rows on every core, each in batches of ``batch``.

    A batch's small matrix products gain little from BLAS's own threads (6 M pixels through the
    compact MLP: 3.5 s so on 2 cores), so each core takes its own blocks with BLAS on one thread
    (1.0 s), and standardises each batch (``standardise(rows) -> z``) as it goes: standardised
    whole, 6 M pixels of 27 bands took another 2-4 s in fresh memory. A row's probabilities do not
    depend on the block it falls in.
    """
    from sscnb.phase2._features import _on_every_core, feature_threads

    n_out = int(layers[-1][1].shape[0]) if layers else 0
    out = np.empty((len(x), n_out), np.float32)

    def run(start: int) -> None:
        stop = min(start + MLP_THREAD_ROWS, len(x))
        for i in range(start, stop, batch):
            out[i : min(i + batch, stop)] = mlp_forward(layers, standardise(x[i : min(i + batch, stop)]))

    starts = list(range(0, len(x), MLP_THREAD_ROWS))
    several = feature_threads() > 1 and len(starts) > 1
    with threadpool_limits(1, user_api="blas") if several else nullcontext():
        _on_every_core(run, starts)
    return out


@dataclass
class PixelClassifier:
    """A fitted phase-2 classifier: ``predict(features (H, W, F)) -> (H, W) uint8`` codes."""

    kind: str
    classes: np.ndarray  # (C,) class codes, in output order
    mean: np.ndarray
    scale: np.ndarray
    model: Any = None  # sklearn estimator, or the MLP's [(W, b), ...]; None for a one-class map
    info: dict = field(default_factory=dict)
    #: "mlp_rf": the MLP's share of the averaged probabilities (1.0: the MLP alone, 0.0: the forest alone)
    mlp_weight: float = MLP_RF_WEIGHT

    def weighted(self, mlp_weight: float) -> PixelClassifier:
        """Return this "mlp_rf" classifier with the MLP weighing ``mlp_weight``; both its parts must be fitted."""
        if self.kind != "mlp_rf" or self.model is None or any(m is None for m in self.model):
            raise ValueError("only an mlp_rf classifier with both its MLP and its forest fitted can be weighted anew")
        return replace(self, mlp_weight=float(mlp_weight))

    def predict_proba_rows(self, x: np.ndarray, batch: int = MLP_BATCH_ROWS) -> np.ndarray:
        """Return the class probabilities of feature rows ``(n, F)``, predicted in batches."""
        if self.model is None:
            return np.ones((len(x), 1), np.float32)
        if self.kind == "mlp_rf":  # the MLP and the forest, fitted on the same pixels and classes
            w, parts = self.mlp_weight, self.model
            p = sum(k * part.predict_proba_rows(x, batch) for k, part in zip((w, 1 - w), parts, strict=True) if k > 0)
            return np.asarray(p, np.float32)
        if self.kind == "rf":
            return self.model.predict_proba(self.standardise(x)).astype(np.float32)
        return mlp_forward_rows(self.model, x, self.standardise, batch)

    def standardise(self, x: np.ndarray) -> np.ndarray:
        """Return feature rows ``(n, F)`` as the classifier saw them in training: float32, less the mean, over the scale."""
        return (x.astype(np.float32) - self.mean) / self.scale

    def _codes(self, rows: np.ndarray) -> np.ndarray:
        """Return the class code of each feature row: the most probable of :meth:`predict_proba_rows`.

        A forest's trees are walked only while they can still change a row's class
        (:func:`sscnb.phase2.forest_codes`): the same classes, for less work.
        """
        from sscnb.phase2._forest import forest_codes

        if self.kind == "rf" and self.model is not None:
            forest, first, w = self, None, 0.0
        elif self.kind == "mlp_rf" and self.model is not None and self.model[1] is not None and self.mlp_weight < 1:
            forest, w = self.model[1], self.mlp_weight
            first = self.model[0].predict_proba_rows(rows) if w > 0 else None
        else:  # the MLP alone, or one class
            return self.classes[self.predict_proba_rows(rows).argmax(axis=1)].astype(np.uint8)
        return self.classes[forest_codes(forest.model, rows, forest.standardise, first, w)].astype(np.uint8)

    def colour_lut(self, present: np.ndarray) -> np.ndarray:
        """Predict every colour marked in ``present`` once.

        Parameters
        ----------
        present : (2**24,) ndarray of bool
            Median-RGB colours (indexed by :func:`pack_rgb`) that occur in the image.

        Returns
        -------
        (2**24,) ndarray of uint8
            Class code per colour (0 for colours not present). ``lut[pack_rgb(features)]`` is the
            map. The colours are predicted in ascending order of their code, whatever order the
            image was read in, so a map made window by window equals the map made in memory.
        """
        u = np.flatnonzero(present)
        self.info["distinct_vectors"] = int(len(u))
        lut = np.zeros(N_RGB, np.uint8)
        if len(u):
            lut[u] = self._codes(unpack_rgb(u))
        return lut

    def predict(self, features: np.ndarray, mask: np.ndarray | None = None, batch_pixels: int = 1 << 20) -> np.ndarray:
        """``(H, W, F)`` features -> ``(H, W) uint8`` codes for every pixel.

        uint8 features (median RGB): each distinct colour is predicted once and copied to the
        pixels that share it (exact; see :meth:`colour_lut`). Other features (e.g. with entropy):
        predicted in batches of ``batch_pixels`` so memory stays bounded. ``mask``: ``(H, W) bool``,
        the valid pixels; only their colours are predicted (the others get whatever their colour
        maps to, and the caller blanks them).
        """
        H, W, F = features.shape
        rows = features.reshape(-1, F)
        if rows.dtype == np.uint8 and F == 3:
            from sscnb.phase2._colours import colour_lookup, mark_colours  # compiled, on every core

            every = np.ones((H, W), bool)
            present = np.zeros(N_RGB, bool)
            mark_colours(features, every if mask is None else mask, present)
            return colour_lookup(features, every, self.colour_lut(present))
        out = np.empty(len(rows), np.uint8)
        for i in range(0, len(rows), batch_pixels):
            out[i : i + batch_pixels] = self._codes(rows[i : i + batch_pixels])
        return out.reshape(H, W)


def _fit_forest(
    z: np.ndarray, yy: np.ndarray, n_trees: int, min_leaf: int, rf_sample: float, seed: int
) -> RandomForestClassifier:
    """Return phase 2's random forest fitted on standardised rows ``z`` and class indices ``yy``."""
    if not 0 < rf_sample <= 1:
        raise ValueError(f"rf_sample must be above 0 and at most 1, got {rf_sample}")
    # a Dask worker that shares its machine gets its share of the cores (sscnb.batch._set_threads);
    # the trees, and so the map, are the same whatever the number of threads
    model = RandomForestClassifier(
        n_estimators=n_trees,
        min_samples_leaf=min_leaf,
        max_samples=None if rf_sample >= 1 else float(rf_sample),
        n_jobs=int(os.environ.get("SSCNB_THREADS") or -1),
        random_state=seed,
    )
    return model.fit(z, yy)


def fit_pixel_classifier(
    x: np.ndarray,
    y: np.ndarray,
    kind: str,
    *,
    depth: str,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    use_smote: bool,
    n_trees: int,
    min_leaf: int,
    rf_sample: float,
    seed: int,
    mlp_weight: float = MLP_RF_WEIGHT,
) -> PixelClassifier:
    """Fit a phase-2 pixel classifier.

    Every setting is required: their one default lives in :class:`sscnb.params.SSCParams`. A single
    class is handled: the result predicts that class everywhere (logged), as there is nothing to
    separate.

    Parameters
    ----------
    x : (n, F) ndarray
        Features of the training pixels.
    y : (n,) ndarray of int
        Their class codes (from the CNN's tile map).
    kind : {"mlp", "rf", "mlp_rf"}
        ``"mlp_rf"`` fits both on the same pixels; its probabilities are their average, the MLP's
        weighing ``mlp_weight``.
    depth : {"deep", "very_deep", "compact"}
    epochs, batch_size : int
        Training of the MLP.
    learning_rate : float
    use_smote : bool
        Balance with SMOTE-ENN first (skipped, and noted, when a class has fewer than 6 pixels).
    n_trees : int
        Trees of the random forest.
    min_leaf : int
        Training pixels each leaf of the forest must hold (``min_samples_leaf``).
    rf_sample : float
        The share of the pixels each tree draws (``max_samples``; 1.0: as many as there are).
    seed : int
    mlp_weight : float
        ``"mlp_rf"``: the MLP's share, :data:`sscnb.params.MLP_RF_WEIGHT` unless the user's labels
        chose another (:func:`sscnb.phase2.choose_phase2`); at 1.0 or 0.0 the other is not fitted.

    Returns
    -------
    PixelClassifier
    """
    if not 0.0 <= mlp_weight <= 1.0:
        raise ValueError(f"mlp_weight must lie in [0, 1], got {mlp_weight}")
    classes = np.unique(y)
    x = x.astype(np.float32)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    if len(classes) == 1:
        logger.info("phase 2: the CNN map holds one class (%s); the final map is that class", classes[0])
        return PixelClassifier(kind, classes, mean, scale, None, {"one_class": True, "n_train": len(y)})
    if kind == "mlp_rf":
        mlp, rf = (
            None
            if share == 0
            else fit_pixel_classifier(
                x,
                y,
                k,
                depth=depth,
                epochs=epochs,
                learning_rate=learning_rate,
                batch_size=batch_size,
                use_smote=use_smote,
                n_trees=n_trees,
                min_leaf=min_leaf,
                rf_sample=rf_sample,
                seed=seed,
            )
            for k, share in (("mlp", mlp_weight), ("rf", 1 - mlp_weight))
        )
        info = dict((mlp or rf).info)  # type: ignore[union-attr]
        return PixelClassifier(kind, classes, mean, scale, (mlp, rf), info, mlp_weight=float(mlp_weight))
    z = (x - mean) / scale
    yy = np.searchsorted(classes, y)
    info = {"n_train": int(len(y))}
    if use_smote:
        if np.bincount(yy).min() >= 6:
            z, yy = SMOTEENN(random_state=seed).fit_resample(z, yy)
            info["n_after_smote_enn"] = int(len(yy))
        else:
            logger.info("phase 2: a class has fewer than 6 training pixels; SMOTE-ENN skipped")
            info["smote_skipped"] = True
    if kind == "rf":
        model = _fit_forest(z, yy, n_trees, min_leaf, rf_sample, seed)
    elif kind == "mlp":
        keras = _keras()

        trainer = _trainer(keras, z.shape[1], len(classes), depth, learning_rate, seed)
        set_random_seed(int(seed))  # shuffling and dropout: the same for every fit
        if keras.backend.backend() == "jax":  # an epoch per compiled call (sscnb.phase2), the same weights
            from sscnb.phase2 import _jaxfit as _jaxfit

            _jaxfit.fit(trainer, z, yy, int(epochs), int(batch_size))
        else:
            trainer.fit(z, yy, epochs=int(epochs), batch_size=int(batch_size), shuffle=True, verbose=0)
        model = [
            (keras.ops.convert_to_numpy(layer.kernel), keras.ops.convert_to_numpy(layer.bias))
            for layer in trainer.layers
            if isinstance(layer, keras.layers.Dense)
        ]
    else:
        raise ValueError(f"phase2 must be 'mlp', 'rf' or 'mlp_rf', not {kind!r}")
    return PixelClassifier(kind, classes, mean, scale, model, info)
