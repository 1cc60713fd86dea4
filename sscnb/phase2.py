"""Phase 2 chooses itself.

Which features to use, or none (the CNN tile map stands), judged on held-out tiles of the image's own tile map
(or on the user's tile labels).

:func:`choose_phase2` fits each candidate (:func:`candidate_features`) on a sample of the
confident tiles' pixels and keeps the one that reproduces the CNN's class best on the held-out
tiles, if it reaches ``min_agreement``; :func:`sscnb.ssc.classify_image` and
:func:`sscnb.mapping.map_inputs` both call it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import pixel as _pixel

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from .pixel import PixelClassifier
    from .ssc import SSCParams

__all__ = ["TILE_MAP", "Phase2Choice", "candidate_features", "choose_phase2", "fit_phase2"]

logger = logging.getLogger("sscnb.ssc")


def fit_phase2(xs: np.ndarray, ys: np.ndarray, params: SSCParams) -> PixelClassifier:
    """Fit the phase-2 classifier of ``params``.

    Parameters
    ----------
    xs : (n, F) ndarray
        Features of the sampled pixels.
    ys : (n,) ndarray of int
        Their CNN classes.
    params : SSCParams

    Returns
    -------
    sscnb.pixel.PixelClassifier
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
        seed=params.seed,
    )


TILE_MAP = "CNN tile map"


def candidate_features(use_entropy: bool, features: str = "median_rgb") -> list[str]:
    """Return the feature sets phase 2 tries, plainest first.

    Median RGB always; with ``use_entropy`` median RGB + entropy; with ``features="multiscale"``
    every band (median RGB, entropy where on, and the multiscale bands).

    Parameters
    ----------
    use_entropy : bool
    features : str
        One of :data:`sscnb.features.FEATURE_SETS`.

    Returns
    -------
    list of str

    Examples
    --------
    >>> candidate_features(True)
    ['median RGB', 'median RGB + entropy']
    >>> candidate_features(False, "multiscale")
    ['median RGB', 'median RGB + multiscale']
    """
    cands = ["median RGB"] + (["median RGB + entropy"] if use_entropy else [])
    if features == "multiscale":
        cands.append("median RGB + entropy + multiscale" if use_entropy else "median RGB + multiscale")
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
    tile_grid: np.ndarray, confidence: np.ndarray, tile: int, gather: Callable, params: SSCParams, judge: np.ndarray | None = None
) -> Phase2Choice:
    """Fit phase 2 on the confident tiles, check it, and decide between it and the tile map.

    Phase 2 must not make a map worse than its own tile map, and it needs no labels to check itself:
    a share (``check_fraction``) of the confident CNN-labelled tiles is held out, each candidate
    feature set (:func:`candidate_features`) is fitted on the rest, and its agreement with the CNN's
    classes on the held-out tiles is measured: the share of held-out tiles whose pixels phase 2
    gives, by majority, the CNN's class (the share of pixels is recorded too). The best candidate is used unless
    its agreement is below ``min_agreement``; then the colours cannot carry the classes and the CNN
    tile map is kept. When user-labelled tiles of this image are given (``judge``), they decide
    instead: the best candidate on their pixels is used if it gets at least ``min_agreement`` of
    them right (the tile map is not scored against them: a CNN fine-tuned on those very tiles gets
    them right, whatever it does elsewhere).

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
    judge : (n_rows, n_cols) ndarray of int, optional
        User labels of tiles (class codes > 0; 0 where none).

    Returns
    -------
    Phase2Choice
        With ``phase2_check`` off: the richest candidate of ``use_entropy`` and ``features``,
        fitted on every confident tile.
    """
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
    if not p.phase2_check:
        name = cands[-1]
        rows, cols, ys = _training_sample(train_grid, tile, p)
        clf = fit_phase2(_candidate_x(gather(rows, cols), name), ys, p)
        info.update(phase2_choice=f"{p.phase2_name} on {name}", phase2_reason="phase2_check is off")
        return Phase2Choice(clf, name, info)
    fitted, agreement = _fit_and_hold_out(train_grid, tile, gather, p, cands, info)
    if judge is not None and (judge > 0).any():
        return _judged_by_labels(np.asarray(judge), tile_grid, tile, gather, fitted, p, info)
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
    info["agreement"] = {k: round(v, 4) for k, v in agreement.items()}
    return fitted, agreement


def _judged_by_labels(
    judge: np.ndarray, tile_grid: np.ndarray, tile: int, gather, fitted: dict, p: SSCParams, info: dict
) -> Phase2Choice:
    """Return the best candidate on the pixels of the user-labelled tiles, or the tile map below min_agreement."""
    jr, jc, jy = _pixel.sample_tile_pixels(judge, tile, 1.0, 0, p.seed + 2, max_sample=100_000)
    jx = gather(jr, jc)
    scores = {name: float(np.mean(clf._codes(_candidate_x(jx, name)) == jy)) for name, clf in fitted.items()}
    best = max(scores, key=lambda k: scores[k])
    # the tile map's score is recorded but not compared: a CNN fine-tuned on these very tiles gets
    # them right whatever it does elsewhere
    tile_score = float(np.mean(tile_grid[jr // tile, jc // tile] == jy))
    info.update(
        judge="user-labelled tiles",
        judge_tiles=int((judge > 0).sum()),
        judge_accuracy={**{k: round(v, 4) for k, v in scores.items()}, TILE_MAP: round(tile_score, 4)},
    )
    why = f"on the pixels of {info['judge_tiles']} user-labelled tiles phase 2 ({best}) is right on {scores[best]:.1%}"
    if scores[best] < p.min_agreement:
        info.update(
            phase2_choice=TILE_MAP, phase2_reason=f"{why}, below min_agreement {p.min_agreement}: the CNN tile map is kept"
        )
        return Phase2Choice(None, TILE_MAP, info)
    info.update(phase2_choice=f"{p.phase2_name} on {best}", phase2_reason=f"{why} (>= min_agreement {p.min_agreement})")
    return Phase2Choice(fitted[best], best, info)


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
    info.update(
        phase2_choice=f"{p.phase2_name} on {best}",
        phase2_reason=(
            f"it reproduces the CNN's class (by pixel majority) on {agreement[best]:.1%} of {info['held_out_tiles']} "
            f"held-out tiles (>= min_agreement {p.min_agreement})"
        ),
    )
    return Phase2Choice(fitted[best], best, info)
