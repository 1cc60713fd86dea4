"""Phase 2 chooses itself.

Which features to use, or none (the CNN tile map stands), judged on held-out tiles of the image's own tile map,
or, where the user labelled pixels of the image (:class:`PixelLabels`), trained on those labels too and judged
on them, held out in turn.

:func:`choose_phase2` fits each candidate (:func:`candidate_features`) on a sample of the
confident tiles' pixels and keeps the one that reproduces the CNN's class best on the held-out
tiles, if it reaches ``min_agreement``; :func:`sscnb.ssc.classify_image` and
:func:`sscnb.maps.map_inputs` both call it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sklearn.metrics import f1_score

from sscnb.params import MLP_RF_WEIGHT
from sscnb.phase2 import _pixel as _pixel

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from sscnb.params import SSCParams
    from sscnb.phase2._pixel import PixelClassifier

__all__ = ["TILE_MAP", "PixelLabels", "Phase2Choice", "candidate_features", "choose_phase2", "fit_phase2"]

logger = logging.getLogger("sscnb.ssc")

#: without labels, a candidate must give at least this share (or min_agreement, if lower) of each class's held-out
#: tiles (3 or more) the CNN's class: below it, phase 2 erases the class (zero-shot on Wildcat Creek: 0-3% of the
#: green vegetation tiles, and the map lost 0.06-0.07), above it, it may only weaken a class the CNN maps poorly (the
#: StMarg mosaic's dry sediment: 40%, and phase 2 adds 0.02 to the map)
MIN_CLASS_AGREEMENT = 0.2
#: folds of the cross-validation on the user's labels (fewer where fewer labelled tiles)
LABEL_FOLDS = 3
#: training pixels of each fit of the cross-validation, at most (the final fit takes max_sample)
CV_SAMPLE = 60_000
#: held-out pixels scored per fold, at most
CV_SCORED = 30_000
#: phase2 "mlp_rf" with the user's labels: the MLP's weights they judge, the default first (it wins a tie); 1.0 is
#: the MLP alone, 0.0 the forest alone. Labelled on Wildcat Creek the MLP passed where the average failed
#: (docs/phase2_measured.md), so the labels choose; without labels the weight is MLP_RF_WEIGHT
LABEL_MLP_WEIGHTS = (MLP_RF_WEIGHT, 1.0, 0.0)
#: another MLP weight replaces the default only where it beats the default's held-out F1 on the labels by this much:
#: closer, the folds cannot tell them apart (Wildcat Creek, 100 tiles a frame: weights chosen by 0.0001-0.002 of
#: held-out F1 left the maps 0.008 below the default's on average, one by 0.030; docs/phase2_features.md)
LABEL_WEIGHT_MARGIN = 0.01


@dataclass(frozen=True)
class PixelLabels:
    """Pixels of one image that the user labelled: tiles of the labeller, polygons, a label raster.

    ``rows``, ``cols`` (int64) and ``codes`` (uint8, > 0) in row-major order. ``learnt``: the CNN was
    fine-tuned on these labels, so its tile map cannot be scored on them fairly (it learnt them).

    Examples
    --------
    >>> import numpy as np
    >>> lab = PixelLabels.from_raster(np.array([[0, 2], [1, 0]]))
    >>> lab.rows.tolist(), lab.cols.tolist(), lab.codes.tolist(), len(lab)
    ([0, 1], [1, 0], [2, 1], 2)
    >>> g = np.zeros((2, 2), int)
    >>> g[1, 0] = 3
    >>> len(PixelLabels.from_tile_grid(g, 10)), set(PixelLabels.from_tile_grid(g, 10).rows.tolist()) == set(range(10, 20))
    (100, True)
    """

    rows: np.ndarray
    cols: np.ndarray
    codes: np.ndarray
    learnt: bool = False

    def __post_init__(self):
        if not (len(self.rows) == len(self.cols) == len(self.codes)):
            raise ValueError("PixelLabels: rows, cols and codes must have one entry per pixel")
        if len(self.codes) and int(np.min(self.codes)) < 1:
            raise ValueError("PixelLabels: every labelled pixel needs a class code > 0")
        if len(self.rows) > 1 and np.any(np.diff(self.rows) < 0):
            raise ValueError("PixelLabels: the pixels must be in row-major order (rows ascending)")

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def from_raster(cls, label: np.ndarray, learnt: bool = False) -> PixelLabels:
        """Return the pixels of a class raster ``(H, W)`` that hold a class (> 0): burnt polygons, an ``SCLS_`` raster."""
        label = np.asarray(label)
        r, c = np.nonzero(label > 0)
        return cls(r.astype(np.int64), c.astype(np.int64), label[r, c].astype(np.uint8), learnt)

    @classmethod
    def from_tile_grid(cls, grid: np.ndarray, tile: int, learnt: bool = False) -> PixelLabels:
        """Return every pixel of each labelled tile of a tile grid ``(n_rows, n_cols)`` (class codes; 0 where none)."""
        g = np.asarray(grid)
        return cls.from_raster(np.kron(np.where(g > 0, g, 0), np.ones((int(tile), int(tile)), np.int64)), learnt)

    def tile_ids(self, tile: int) -> np.ndarray:
        """Return an id of the tile of each labelled pixel (its unit in the cross-validation), in row-major order."""
        return (self.rows // tile) * (1 << 32) + self.cols // tile

    def recipe(self, phase2: str = "") -> dict:
        """Return what a results manifest records of these labels: their count and a SHA-256 of the pixels and classes.

        With ``phase2`` ``"mlp_rf"`` also the margin by which the labels must prefer another MLP weight
        (:data:`LABEL_WEIGHT_MARGIN`): maps made before that rule chose the weight otherwise, and a
        resumed batch must not mix them with new ones.
        """
        h = hashlib.sha256()
        for a in (self.rows.astype(np.int64), self.cols.astype(np.int64), self.codes.astype(np.uint8)):
            h.update(np.ascontiguousarray(a).tobytes())
        out = {"pixels": len(self), "sha256": h.hexdigest(), "learnt": bool(self.learnt)}
        if phase2 == "mlp_rf":
            out["mlp_weight_margin"] = LABEL_WEIGHT_MARGIN
        return out

    def subset(self, keep: np.ndarray) -> PixelLabels:
        """Return the labelled pixels where ``keep`` (bool or sorted indices), still in row-major order."""
        return PixelLabels(self.rows[keep], self.cols[keep], self.codes[keep], self.learnt)


def fit_phase2(xs: np.ndarray, ys: np.ndarray, params: SSCParams, mlp_weight: float = MLP_RF_WEIGHT) -> PixelClassifier:
    """Fit the phase-2 classifier of ``params``.

    Parameters
    ----------
    xs : (n, F) ndarray
        Features of the sampled pixels.
    ys : (n,) ndarray of int
        Their CNN classes.
    params : SSCParams
    mlp_weight : float
        ``phase2 = "mlp_rf"``: the MLP's share (other classifiers ignore it).

    Returns
    -------
    sscnb.phase2.PixelClassifier
    """
    return _pixel.fit_pixel_classifier(
        xs,
        ys,
        params.phase2,
        depth=params.mlp_depth,
        epochs=params.mlp_epochs,
        learning_rate=params.mlp_learning_rate,
        batch_size=params.mlp_batch_size,
        use_smote=params.use_smote,
        n_trees=params.n_trees,
        min_leaf=params.rf_min_leaf,
        rf_sample=float(params.rf_sample or 1.0),
        seed=params.seed,
        mlp_weight=mlp_weight,
    )


TILE_MAP = "CNN tile map"


def candidate_features(use_entropy: bool, features: str = "median_rgb") -> list[str]:
    """Return the feature sets phase 2 tries, plainest first.

    Median RGB always; with ``use_entropy`` median RGB + entropy; with ``features="multiscale"``
    every band (median RGB, entropy where on, and the multiscale bands); with ``"multiscale_cnn"``
    every band and the CNN's (:mod:`sscnb.phase2._cnnbands`) in the place of the multiscale candidate.

    Parameters
    ----------
    use_entropy : bool
    features : str
        One of :data:`sscnb.phase2.FEATURE_SETS`.

    Returns
    -------
    list of str

    Examples
    --------
    >>> candidate_features(True)
    ['median RGB', 'median RGB + entropy']
    >>> candidate_features(False, "multiscale")
    ['median RGB', 'median RGB + multiscale']
    >>> candidate_features(False, "multiscale_cnn")
    ['median RGB', 'median RGB + multiscale + CNN']
    """
    cands = ["median RGB"] + (["median RGB + entropy"] if use_entropy else [])
    if features != "median_rgb":
        cands.append("median RGB + entropy + multiscale" if use_entropy else "median RGB + multiscale")
    if features == "multiscale_cnn":
        cands[-1] += " + CNN"
    return cands


def _candidate_x(xs: np.ndarray, name: str) -> np.ndarray:
    """Return the columns of full features ``(..., F)`` (median RGB, entropy, multiscale bands) that candidate ``name`` uses."""
    if name == "median RGB":
        return xs[..., :3].astype(np.uint8) if xs.dtype != np.uint8 else xs[..., :3]
    if name == "median RGB + entropy":
        return xs[..., :4]
    return xs


@dataclass
class Phase2Choice:
    """What phase 2 decided for one image: ``clf`` is None when the CNN tile map is kept.

    ``features``: the candidate used, or :data:`TILE_MAP`. ``info``: ``phase2_choice`` (in words),
    ``phase2_reason``, ``agreement`` per candidate, ``judge`` (``"held-out tiles"`` or
    ``"user-labelled tiles"``), tiles held out and left out for low confidence.
    """

    clf: Any  # a fitted pixel classifier (pixel.PixelClassifier), or None
    features: str
    info: dict

    def predict(self, feats: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Return the final map of full features ``(H, W, F)`` (None-safe only when ``clf`` is set)."""
        return self.clf.predict(_candidate_x(feats, self.features), mask)


def _class_agreement(tile_id: np.ndarray, cnn_codes: np.ndarray, pred: np.ndarray, min_tiles: int = 3) -> dict:
    """Return, per class of the CNN with at least ``min_tiles`` held-out tiles, the share of them phase 2 gives that class.

    Examples
    --------
    >>> import numpy as np
    >>> _class_agreement(np.array([0, 0, 1, 2, 3]), np.array([1, 1, 1, 1, 2]), np.array([1, 1, 1, 2, 2]), min_tiles=1)
    {1: 0.6667, 2: 1.0}
    """
    tiles, first, inv = np.unique(tile_id, return_index=True, return_inverse=True)
    right = np.bincount(inv, weights=(pred == cnn_codes).astype(float), minlength=len(tiles))
    ok = right > np.bincount(inv, minlength=len(tiles)) / 2
    cls = cnn_codes[first]
    return {int(c): round(float(np.mean(ok[cls == c])), 4) for c in np.unique(cls) if int(np.sum(cls == c)) >= min_tiles}


def _tile_majority_agreement(tile_id: np.ndarray, cnn_codes: np.ndarray, pred: np.ndarray) -> float:
    """Share of tiles whose sampled pixels phase 2 gives, by majority, the CNN's class of the tile.

    A pixel-level agreement would blame phase 2 for what it should do: a 50 px tile holds pixels of
    other classes (a bank, a bar's edge), and phase 2 is there to put those right. A phase 2 whose
    colours cannot carry the classes changes whole tiles.

    Examples
    --------
    >>> import numpy as np
    >>> _tile_majority_agreement(np.array([0, 0, 0, 1, 1]), np.array([1, 1, 1, 2, 2]), np.array([1, 1, 3, 1, 1]))
    0.5
    """
    tiles, inv = np.unique(tile_id, return_inverse=True)
    right = np.bincount(inv, weights=(pred == cnn_codes).astype(float), minlength=len(tiles))
    total = np.bincount(inv, minlength=len(tiles))
    return float(np.mean(right > total / 2)) if len(tiles) else 0.0


def _hold_out(grid: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of held-out tiles.

    ``fraction`` of each class's tiles (none of a class with fewer than 2 tiles, at least 1 otherwise), drawn
    at random.
    """
    rng = np.random.default_rng(seed)
    held = np.zeros(grid.shape, bool)
    flat = grid.ravel()
    for c in np.unique(flat[flat > 0]):
        idx = np.flatnonzero(flat == c)
        if len(idx) < 2:
            continue
        k = min(len(idx) - 1, max(1, int(round(fraction * len(idx)))))
        held.ravel()[rng.choice(idx, size=k, replace=False)] = True
    return held


def choose_phase2(
    tile_grid: np.ndarray,
    confidence: np.ndarray,
    tile: int,
    gather: Callable,
    params: SSCParams,
    labels: PixelLabels | None = None,
) -> Phase2Choice:
    """Fit phase 2 on the confident tiles, check it, and decide between it and the tile map.

    Phase 2 must not make a map worse than its own tile map, and it needs no labels to check itself:
    a share (``check_fraction``) of the confident CNN-labelled tiles is held out, each candidate
    feature set (:func:`candidate_features`) is fitted on the rest, and its agreement with the CNN's
    classes on the held-out tiles is measured: the share of held-out tiles whose pixels phase 2
    gives, by majority, the CNN's class (the share of pixels is recorded too). The best candidate is used unless
    its agreement is below ``min_agreement``; then the colours cannot carry the classes and the CNN
    tile map is kept. Nor is a candidate used that gives nearly all held-out tiles of one class (3 or
    more held out) to other classes (all but :data:`MIN_CLASS_AGREEMENT`, or ``min_agreement`` if
    lower): it would erase that class from the map however well it does overall.

    Where the user labelled pixels of this image (``labels``: tiles, polygons), phase 2 learns from
    them: it trains on all of them (a labelled tile's every pixel, a polygon's every pixel) together
    with the confident tiles of the tile map away from them (``label_cnn_share`` of the sample), and
    they judge it: each candidate is cross-validated on them (:data:`LABEL_FOLDS` folds of whole
    labelled tiles, each class spread over the folds) and its F1 on the held-out labels, pixel-weighted
    and per class, is compared with the tile map's on the same pixels. The better is kept. When the
    CNN learnt these labels (``labels.learnt``: it was fine-tuned on them), its score on them is
    in-sample and overstates its score on the rest of the image: phase 2 is then kept when its
    held-out F1 reaches ``min_label_f1``, or the CNN's in-sample F1 (phase 2 held out doing as well
    as the CNN on what it learnt is the better map).

    Parameters
    ----------
    tile_grid : (n_rows, n_cols) ndarray of uint8
        The tile map (after the tile rules).
    confidence : (n_rows, n_cols) ndarray of float
        Top-class probability of each tile.
    tile : int, px
    gather : callable
        ``gather(rows, cols) -> (n, F)`` features of those pixels (median RGB, then entropy when
        ``use_entropy``, then the multiscale bands when ``features="multiscale"``); the image is
        read once per call, whole or in windows.
    params : SSCParams
    labels : PixelLabels, optional
        The user's labelled pixels of this image.

    Returns
    -------
    Phase2Choice
        With ``phase2_check`` off: the richest candidate of ``use_entropy`` and ``features``,
        fitted on every confident tile.
    """
    choice = _choose_phase2(tile_grid, confidence, tile, gather, params, labels)
    if choice.clf is not None and choice.clf.info.get("one_class"):  # said the same way in every table and note
        c = int(choice.clf.classes[0])
        choice.info["phase2_choice"] = f"one class ({c}): the final map is that class"
    return choice


def _choose_phase2(tile_grid, confidence, tile: int, gather, params: SSCParams, labels) -> Phase2Choice:
    """:func:`choose_phase2` but for the name of a one-class map."""
    p = params
    info: dict[str, Any] = {}
    train_grid = tile_grid.copy()
    if p.train_confidence > 0:
        low = (confidence < p.train_confidence) & (tile_grid > 0)
        train_grid[low] = 0
        info["low_confidence_tiles"] = int(low.sum())
        if not (train_grid > 0).any():
            info.update(
                phase2_choice=TILE_MAP,
                phase2_reason=(f"no tile reaches train_confidence {p.train_confidence}: nothing to train phase 2 on"),
            )
            return Phase2Choice(None, TILE_MAP, info)
    cands = candidate_features(p.use_entropy, p.features)
    if labels is not None and len(labels):
        return _from_labels(train_grid, tile_grid, tile, gather, p, cands, labels, info)
    if not p.phase2_check:
        name = cands[-1]
        rows, cols, ys = _training_sample(train_grid, tile, p)
        clf = fit_phase2(_candidate_x(gather(rows, cols), name), ys, p)
        info.update(phase2_choice=f"{p.phase2_name} on {name}", phase2_reason="phase2_check is off")
        return Phase2Choice(clf, name, info)
    fitted, agreement = _fit_and_hold_out(train_grid, tile, gather, p, cands, info)
    return _judged_by_held_out(agreement, fitted, cands, p, info)


def _training_sample(grid: np.ndarray, tile: int, p: SSCParams):
    """Return phase 2's training pixels ``(rows, cols, classes)`` of the tiles of ``grid``, as ``p`` says."""
    return _pixel.sample_tile_pixels(
        grid,
        tile,
        p.subsample,
        p.min_sample,
        p.seed,
        max_sample=p.max_sample,
        min_class=p.min_class_sample,
        sampling=p.phase2_sampling,
    )


def _fit_and_hold_out(train_grid: np.ndarray, tile: int, gather, p: SSCParams, cands: list, info: dict):
    """Fit every candidate on all but the held-out tiles; return them and their agreement on those tiles."""
    held = _hold_out(train_grid, p.check_fraction, p.seed)
    fit_grid = np.where(held, 0, train_grid).astype(train_grid.dtype)
    check_grid = np.where(held, train_grid, 0).astype(train_grid.dtype)
    info["held_out_tiles"] = int(held.sum())
    rows, cols, ys = _training_sample(fit_grid, tile, p)
    xs = gather(rows, cols)
    fitted = {name: fit_phase2(_candidate_x(xs, name), ys, p) for name in cands}
    agreement = {}
    if held.any():
        cr, cc, cy = _pixel.sample_tile_pixels(
            check_grid, tile, p.subsample, min(p.min_sample, 20_000), p.seed + 1, max_sample=50_000
        )
        cx = gather(cr, cc)
        tile_id = (cr // tile) * train_grid.shape[1] + cc // tile
        for name, clf in fitted.items():
            pred = clf._codes(_candidate_x(cx, name))
            agreement[name] = _tile_majority_agreement(tile_id, cy, pred)
            info.setdefault("agreement_pixels", {})[name] = round(float(np.mean(pred == cy)), 4)
            info.setdefault("agreement_by_class", {})[name] = _class_agreement(tile_id, cy, pred)
    info["agreement"] = {k: round(v, 4) for k, v in agreement.items()}
    return fitted, agreement


class _LabelledSample:
    """Phase 2's training pixels where the user labelled: their labels, and the confident tiles away from them."""

    def __init__(self, train_grid: np.ndarray, tile: int, gather, p: SSCParams, labels: PixelLabels):
        self.gather, self.labels, self.share = gather, labels, float(p.label_cnn_share or 0.0)
        self.rng = np.random.default_rng(p.seed + 3)
        # the tile map trains phase 2 only away from the user's tiles: where they labelled, they are right
        away = train_grid.copy()
        lr, lc = labels.rows // tile, labels.cols // tile
        inside = (lr < away.shape[0]) & (lc < away.shape[1])
        away[lr[inside], lc[inside]] = 0
        self.cnn_tiles = int((away > 0).sum()) if self.share > 0 else 0
        self.cnn = _training_sample(away, tile, p) if self.cnn_tiles else None

    def draw(self, keep: np.ndarray, total: int) -> tuple[np.ndarray, np.ndarray]:
        """Return features and classes of at most ``total`` pixels: user labels where ``keep``, and the CNN's share."""
        lab, idx = self.labels, np.flatnonzero(keep)
        share = self.share if self.cnn is not None else 0.0
        n_lab = min(len(idx), max(1, int(round(total * (1 - share)))))
        idx = np.sort(self.rng.choice(idx, n_lab, replace=False)) if n_lab < len(idx) else idx
        xs, ys = [self.gather(lab.rows[idx], lab.cols[idx])], [lab.codes[idx].astype(np.int64)]
        if self.cnn is not None:
            n_cnn = len(self.cnn[0])
            want = min(n_cnn, int(round(n_lab * share / (1 - share))))
            pick = np.sort(self.rng.choice(n_cnn, want, replace=False)) if want < n_cnn else np.arange(n_cnn)
            xs.append(self.gather(self.cnn[0][pick], self.cnn[1][pick]))
            ys.append(self.cnn[2][pick])
        return np.concatenate(xs), np.concatenate(ys)


def _cross_validate(sample: _LabelledSample, folds: np.ndarray, tile_grid: np.ndarray, tile: int, p: SSCParams, cands: list):
    """Return the labels' F1s (:func:`_f1s`) of each candidate and the tile map, each fold held out, and more.

    Also returned: the count of scored pixels, each candidate's MLP weight, and its weighted F1 at every weight.
    With ``phase2 = "mlp_rf"`` each fold's fit is scored at every MLP weight of :data:`LABEL_MLP_WEIGHTS`, and a
    candidate's F1s are those of its chosen weight (:func:`_chosen_weight`); other classifiers have one weight
    (ignored) and no F1 per weight.
    """
    lab = sample.labels
    blend = p.phase2 == "mlp_rf"
    weights = LABEL_MLP_WEIGHTS if blend else (MLP_RF_WEIGHT,)  # the one weight, ignored by the MLP or forest alone
    truth: list[np.ndarray] = []
    preds: dict[tuple, list[np.ndarray]] = {(name, w): [] for name in cands for w in weights}
    for k in range(int(folds.max()) + 1):
        held = folds == k
        xs, ys = sample.draw(~held, min(p.max_sample, CV_SAMPLE))
        hidx = np.flatnonzero(held)
        if len(hidx) > CV_SCORED:
            hidx = np.sort(sample.rng.choice(hidx, CV_SCORED, replace=False))
        hx = sample.gather(lab.rows[hidx], lab.cols[hidx])
        truth.append(hidx)
        for name in cands:
            clf = fit_phase2(_candidate_x(xs, name), ys, p)
            for w in weights:
                one = clf.weighted(w) if blend and clf.model is not None else clf
                preds[name, w].append(one._codes(_candidate_x(hx, name)))
    scored = np.concatenate(truth)
    y = lab.codes[scored]
    r, c = lab.rows[scored] // tile, lab.cols[scored] // tile
    ok = (r < tile_grid.shape[0]) & (c < tile_grid.shape[1])
    tile_pred = np.zeros(len(y), np.uint8)
    tile_pred[ok] = tile_grid[r[ok], c[ok]]
    every = {key: _f1s(y, np.concatenate(pr)) for key, pr in preds.items()}
    # the default (the first weight) stays unless the labels show another is better by LABEL_WEIGHT_MARGIN
    f1_by_weight = {name: {w: every[name, w]["weighted"] for w in weights} for name in cands}
    best_w = {name: _chosen_weight(f1_by_weight[name]) for name in cands}
    scores = {name: every[name, best_w[name]] for name in cands}
    scores[TILE_MAP] = _f1s(y, tile_pred)
    by_weight = f1_by_weight if blend else {}
    return scores, len(y), best_w, by_weight


def _chosen_weight(f1_by_weight: dict) -> float:
    """Return the MLP weight to fit: the best on the held-out labels if it beats the first (the default) by the margin.

    Examples
    --------
    >>> _chosen_weight({0.35: 0.9759, 1.0: 0.978, 0.0: 0.9734})  # 0.002 better: within the folds' noise
    0.35
    >>> _chosen_weight({0.35: 0.70, 1.0: 1.0, 0.0: 0.70})
    1.0
    """
    default = next(iter(f1_by_weight))
    best = max(f1_by_weight, key=lambda w: f1_by_weight[w])
    return best if f1_by_weight[best] >= f1_by_weight[default] + LABEL_WEIGHT_MARGIN else default


def _from_labels(
    train_grid: np.ndarray,
    tile_grid: np.ndarray,
    tile: int,
    gather,
    p: SSCParams,
    cands: list,
    labels: PixelLabels,
    info: dict,
) -> Phase2Choice:
    """Phase 2 trained on the user's labelled pixels and the confident tiles away from them, judged on the labels."""
    ids = labels.tile_ids(tile)
    sample = _LabelledSample(train_grid, tile, gather, p, labels)
    info.update(
        judge="user labels",
        labelled_px=len(labels),
        labelled_tiles=int(len(np.unique(ids))),
        label_cnn_share=p.label_cnn_share,
        cnn_tiles_training=sample.cnn_tiles,
    )
    everything = np.ones(len(labels), bool)
    folds = _label_folds(ids, labels.codes, LABEL_FOLDS, p.seed)
    if not p.phase2_check or folds is None:
        name = cands[-1]
        clf = fit_phase2(*_on(sample.draw(everything, p.max_sample), name), p)
        why = "phase2_check is off" if not p.phase2_check else "too few labelled tiles (fewer than 2) to hold any out"
        info.update(phase2_choice=f"{p.phase2_name} on {name} + your labels", phase2_reason=f"{why}: phase 2 used unchecked")
        return Phase2Choice(clf, name, info)
    scores, n, best_w, by_weight = _cross_validate(sample, folds, tile_grid, tile, p, cands)
    info["label_f1"] = {k: v["weighted"] for k, v in scores.items()}
    if by_weight:
        info["label_f1_by_mlp_weight"] = by_weight
    info["label_f1_by_class"] = {k: v["by_class"] for k, v in scores.items()}
    info["label_folds"] = int(folds.max()) + 1
    best = max(cands, key=lambda k: scores[k]["weighted"])
    f_best, f_tile = scores[best]["weighted"], scores[TILE_MAP]["weighted"]
    held_txt = f"{n:,} of your labelled pixels, held out in {info['label_folds']} folds of whole tiles"
    if labels.learnt:
        # the CNN's in-sample F1 overstates its F1 elsewhere: phase 2 held out at or above it is the better map
        keep = f_best >= min(p.min_label_f1, f_tile)
        why = (
            f"on {held_txt}, phase 2 ({best}) scores F1 {f_best:.3f}; the CNN learnt these labels (its "
            f"{f_tile:.3f} on them is in-sample, above what it scores elsewhere), so phase 2 is kept when it reaches "
            f"min_label_f1 {p.min_label_f1} or, held out, the CNN's in-sample F1"
        )
    else:
        keep = f_best >= f_tile
        why = f"on {held_txt}, phase 2 ({best}) scores F1 {f_best:.3f} and the CNN tile map {f_tile:.3f}"
    if not keep:
        info.update(phase2_choice=TILE_MAP, phase2_reason=f"{why}: the CNN tile map is kept")
        logger.info("%s", info["phase2_reason"])
        return Phase2Choice(None, TILE_MAP, info)
    weight = best_w[best]
    clf = fit_phase2(*_on(sample.draw(everything, p.max_sample), best), p, mlp_weight=weight)
    what = f"{p.phase2_name} on {best} + your labels"
    if p.phase2 == "mlp_rf":
        info["mlp_weight"] = weight
        others = " nor ".join(f"{w:g}" for w in LABEL_MLP_WEIGHTS if w != weight)
        what += (
            f" (the MLP's weight {weight:g}, the default: neither {others} beat it by {LABEL_WEIGHT_MARGIN:g} on your labels)"
            if weight == LABEL_MLP_WEIGHTS[0]
            else f" (the MLP's weight {weight:g}: on your labels it beat the default {LABEL_MLP_WEIGHTS[0]:g} by "
            f"{LABEL_WEIGHT_MARGIN:g} or more)"
        )
    info.update(phase2_choice=what, phase2_reason=f"{why}: phase 2 is kept")
    return Phase2Choice(clf, best, info)


def _on(xy: tuple[np.ndarray, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return a training sample ``(features, classes)`` with the columns of candidate ``name``."""
    return _candidate_x(xy[0], name), xy[1]


def _label_folds(ids: np.ndarray, codes: np.ndarray, k: int, seed: int) -> np.ndarray | None:
    """Return the fold of each labelled pixel: whole tiles to a fold, each class's tiles dealt round the folds.

    None with fewer than 2 labelled tiles. A tile's class is its most common label.

    Examples
    --------
    >>> import numpy as np
    >>> f = _label_folds(np.array([0, 0, 1, 2, 3, 3]), np.array([1, 1, 1, 2, 2, 2]), 3, 0)
    >>> bool(f[0] == f[1]) and bool(f[4] == f[5]), sorted(set(f.tolist()))  # a tile stays whole; 4 tiles, 3 folds
    (True, [0, 1, 2])
    """
    units, inv = np.unique(ids, return_inverse=True)
    if len(units) < 2:
        return None
    k = min(k, len(units))
    counts = np.bincount(inv * 256 + codes.astype(np.int64), minlength=len(units) * 256).reshape(len(units), 256)
    unit_class = counts.argmax(axis=1)  # the most common label of each tile
    rng = np.random.default_rng(seed)
    fold = np.empty(len(units), np.int64)
    start = 0
    for c in np.unique(unit_class):  # each class's tiles dealt round the folds, where the last class left off
        members = rng.permutation(np.flatnonzero(unit_class == c))
        fold[members] = (start + np.arange(len(members))) % k
        start = (start + len(members)) % k
    return fold[inv]


def _f1s(y: np.ndarray, pred: np.ndarray) -> dict:
    """Pixel-weighted F1 over the labelled classes, and each class's F1."""
    classes = np.unique(y)
    per = f1_score(y, pred, labels=classes, average=None, zero_division=0)
    weights = np.array([np.mean(y == c) for c in classes])
    return {
        "weighted": round(float(np.sum(per * weights)), 4),
        "by_class": {int(c): round(float(f), 4) for c, f in zip(classes, per, strict=True)},
    }


def _judged_by_held_out(agreement: dict, fitted: dict, cands: list, p: SSCParams, info: dict) -> Phase2Choice:
    """Return the candidate that best reproduces the CNN on held-out tiles, or the tile map below min_agreement."""
    info["judge"] = "held-out tiles"
    if not agreement:
        name = cands[0]
        info.update(
            phase2_choice=f"{p.phase2_name} on {name}", phase2_reason="too few tiles to hold any out: phase 2 used unchecked"
        )
        return Phase2Choice(fitted[name], name, info)
    best = max(agreement, key=lambda k: agreement[k])
    if agreement[best] < p.min_agreement:
        info.update(
            phase2_choice=TILE_MAP,
            phase2_reason=(
                f"phase 2 reproduces the CNN's class (by pixel majority) on {agreement[best]:.1%} of "
                f"{info['held_out_tiles']} held-out tiles at best ({best}), below min_agreement {p.min_agreement}: "
                "the colours cannot carry the classes, so the CNN tile map is kept"
            ),
        )
        logger.info("%s", info["phase2_reason"])
        return Phase2Choice(None, TILE_MAP, info)
    # a candidate that gives nearly all held-out tiles of one class to others would erase that class from the map,
    # whatever its overall agreement: it is not a candidate
    by_class = info.get("agreement_by_class", {})
    floor = min(MIN_CLASS_AGREEMENT, p.min_agreement)  # min_agreement 0 takes any phase 2
    fit = {k: v for k, v in agreement.items() if v >= p.min_agreement and min(by_class.get(k, {}).values(), default=1.0) >= floor}
    if not fit:
        worst = {k: min(by_class[k], key=lambda c: by_class[k][c]) for k in agreement if by_class.get(k)}
        info.update(
            phase2_choice=TILE_MAP,
            phase2_reason="phase 2 gives nearly all held-out tiles of one class to other classes ("
            + "; ".join(f"{k}: class {c}, {by_class[k][c]:.0%}" for k, c in worst.items())
            + f", below {floor:.0%}): the CNN tile map is kept",
        )
        logger.info("%s", info["phase2_reason"])
        return Phase2Choice(None, TILE_MAP, info)
    best = max(fit, key=lambda k: fit[k])
    info.update(
        phase2_choice=f"{p.phase2_name} on {best}",
        phase2_reason=(
            f"it reproduces the CNN's class (by pixel majority) on {agreement[best]:.1%} of {info['held_out_tiles']} "
            f"held-out tiles (>= min_agreement {p.min_agreement})"
        ),
    )
    return Phase2Choice(fitted[best], best, info)
