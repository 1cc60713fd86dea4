"""The per-image CNN-supervised classification pipeline (phase 1 + phase 2).

::

    loaded = modelfiles.load_model("outputs/x/model/cnn.keras")
    result = classify_image(image, loaded, SSCParams(phase2="mlp"))
    result.cnn_map, result.final_map, result.timings

Phase 1 tiles the image, predicts every tile and paints the tile classes (shared scheme, through
the class key) back onto a raster; the margin that no whole tile covers stays 0 (unclassified).
A folder of images (notebook 03) is in :mod:`sscnb.evaluation`, a survey (notebook 05) in
:mod:`sscnb.mapping`.
Phase 2 trains a pixel classifier on this image alone, on the pixels the CNN classified, and
predicts every pixel.
"""
from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field, fields

import numpy as np

from . import features as _features
from . import inputstats as _inputstats
from . import pixel as _pixel
from . import tiles as _tiles
from .modelfiles import predict_codes
from .settings import Settings

__all__ = ["SSCParams", "SSCResult", "PHASE2_CHOICES", "MLP_DEPTHS", "phase2_name", "classify_image",
           "predict_tiles_masked", "apply_tile_rules", "fit_phase2", "modal_filter_regions", "despeckle",
           "Phase2Choice", "choose_phase2", "candidate_features", "TILE_MAP", "check_input", "shrinking_classes",
           "ClassShrinkWarning", "SHRINK_FRACTION"]

log = logging.getLogger(__name__)


PHASE2_CHOICES = {"mlp": "MLP", "rf": "RF"}
MLP_DEPTHS = ("deep", "very_deep")


def phase2_name(phase2: str) -> str:
    """The name of the final map in file names and tables.

    Parameters
    ----------
    phase2 : {"mlp", "rf"}

    Returns
    -------
    {"MLP", "RF"}
    """
    return PHASE2_CHOICES[phase2]


@dataclass
class SSCParams(Settings):
    """Settings of the pipeline: the one place where each has its name and its default.

    The same names are used by the notebooks' parameters cells (03, 05), the run YAML and the
    command line.

    recog_thresh: a tile whose top class probability is below it becomes unclassified (0 = off).
    min_tiles: connected groups of fewer tiles of one class take the most common class around
        them (0 = off).
    median_radius: radius (px) of the disk of the median filter on R, G and B.
    use_entropy: add the 11 x 11 entropy band as a 4th feature.
    phase2: "mlp" or "rf". mlp_depth: "deep" (256-128-64-32-32) or "very_deep".
    mlp_epochs, mlp_batch_size, mlp_learning_rate: training of the pixel MLP.
    n_trees: trees of the random forest.
    subsample / min_sample / max_sample: share of the CNN-classified pixels used to train phase 2,
        with a floor and a cap (the cap matters for orthomosaics: 1% of 150 Mpx is far more pixels
        than three colour features need, and would cost minutes of training).
    use_smote: balance the phase-2 training pixels with SMOTE-ENN.
    min_class_sample: every class of the tile map gets at least this many phase-2 training pixels
        (or all of its pixels), on top of the sample: a rare class is never left with a handful.
    phase2_sampling: "area" (each class in proportion to its pixels in the tile map) or "balanced"
        (the sample split equally among the classes).
    smallest_element: patches of the final map smaller than this (px) take the class of the
        nearest larger patch (0 = off).
    seed: random seed of the phase-2 sample and classifier.
    train_confidence: tiles whose top class probability is below it do not train phase 2 (they
        stay in the CNN map; 0 = all tiles train).
    phase2_check: phase 2 checks itself before it replaces the tile map (:func:`choose_phase2`): a
        share ``check_fraction`` of the confident tiles is held out, each candidate feature set
        (median RGB; with ``use_entropy`` also median RGB + entropy) is fitted on the rest, and the
        one that best reproduces the CNN's classes on the held-out tiles is used, unless even it
        gives the CNN's class to the majority of the pixels of less than ``min_agreement`` of those
        tiles: then the colours cannot carry the classes, and the CNN tile map is kept as the final map.
    normalise: when an image's dark tones (water, shade) are outside those of the CNN's training
        images (recorded in the model card), gamma-correct the CNN's input to bring them to the
        training median (:func:`sscnb.inputstats.normalising_gamma`); phase 2 still learns the
        image's own colours. An image far outside is reported either way (an
        :class:`sscnb.inputstats.InputShiftWarning` naming the image and the statistic).
    """

    KIND = "phase-2"

    recog_thresh: float = 0.0
    min_tiles: int = 0
    median_radius: int = 5
    use_entropy: bool = False
    phase2: str = "mlp"
    mlp_depth: str = "deep"
    mlp_epochs: int = 5
    mlp_batch_size: int = 1024
    mlp_learning_rate: float = 1e-3
    n_trees: int = 150
    subsample: float = 0.01
    min_sample: int = 20_000
    max_sample: int = 200_000
    use_smote: bool = False
    min_class_sample: int = 0
    phase2_sampling: str = "area"
    smallest_element: int = 0
    seed: int = 42
    train_confidence: float = 0.5
    phase2_check: bool = True
    check_fraction: float = 0.2
    min_agreement: float = 0.85
    normalise: bool = True

    def __post_init__(self):
        if self.phase2 not in PHASE2_CHOICES:
            raise ValueError(f"phase2 must be one of {sorted(PHASE2_CHOICES)}, got {self.phase2!r}")
        if self.mlp_depth not in MLP_DEPTHS:
            raise ValueError(f"mlp_depth must be one of {list(MLP_DEPTHS)}, got {self.mlp_depth!r}")
        for f in fields(self):
            v = getattr(self, f.name)
            want = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,)}[f.type]
            if not isinstance(v, want) or (f.type in ("int", "float") and isinstance(v, bool)):
                raise ValueError(f"{f.name} must be {f.type}, got {v!r}")
        if not 0 <= self.recog_thresh <= 1:
            raise ValueError(f"recog_thresh must be between 0 and 1, got {self.recog_thresh}")
        for name in ("train_confidence", "min_agreement"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if not 0 < self.check_fraction < 1:
            raise ValueError(f"check_fraction must be between 0 and 1 (exclusive), got {self.check_fraction}")
        if not 0 < self.subsample <= 1:
            raise ValueError(f"subsample must be in (0, 1], got {self.subsample}")
        if self.phase2_sampling not in ("area", "balanced"):
            raise ValueError(f"phase2_sampling must be 'area' or 'balanced', got {self.phase2_sampling!r}")
        for name in ("min_tiles", "median_radius", "min_sample", "smallest_element", "min_class_sample"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_sample < self.min_sample:
            raise ValueError(f"max_sample ({self.max_sample}) must be >= min_sample ({self.min_sample})")
        for name in ("mlp_epochs", "mlp_batch_size", "n_trees"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def final_name(self) -> str:
        return phase2_name(self.phase2)


#: a class that loses more than this share of its pixels from the tile map to the final map is reported
SHRINK_FRACTION = 0.5


class ClassShrinkWarning(UserWarning):
    """A class of the CNN tile map shrinks by more than half, or vanishes, in the final map."""


def shrinking_classes(cnn_counts: dict, final_counts: dict, name: str, scheme=None, warn: bool = True) -> list[str]:
    """Say (and warn) which classes of the tile map shrink by more than half, or vanish, in the final map.

    Phase 2 learns the classes from the tile map's pixels; a rare class whose colours overlap a
    common one's can be out-voted and disappear from the final map, while the pixel-weighted F1
    barely moves. This names it.

    Parameters
    ----------
    cnn_counts, final_counts : dict of int to int
        Pixels per class code in the CNN tile map and in the final map (0 is ignored).
    name : str
        The image, named in the message.
    scheme : ClassScheme, optional
        Class names (codes otherwise).
    warn : bool
        Also issue a :class:`ClassShrinkWarning` per class.

    Returns
    -------
    list of str

    Examples
    --------
    >>> m = shrinking_classes({1: 1000, 2: 300, 3: 50}, {1: 1340, 2: 10}, "img", warn=False)
    >>> [s.split(": phase 2")[0] for s in m]   # doctest: +NORMALIZE_WHITESPACE
    ['img: class 2 shrinks from 300 px in the CNN tile map to 10 px in the final map (by more than half)',
     'img: class 3 vanishes from 50 px in the CNN tile map to 0 px in the final map']
    """
    msgs = []
    for c, n_cnn in sorted(cnn_counts.items()):
        c, n_cnn = int(c), int(n_cnn)
        if c == 0 or n_cnn == 0:
            continue
        n_fin = int(final_counts.get(c, 0))
        if n_fin >= SHRINK_FRACTION * n_cnn:
            continue
        label = scheme.name(c) if scheme is not None else f"class {c}"
        how = "vanishes" if n_fin == 0 else "shrinks"
        msgs.append(f"{name}: {label} {how} from {n_cnn:,} px in the CNN tile map to {n_fin:,} px in the final map"
                    f"{'' if n_fin == 0 else ' (by more than half)'}: phase 2 may be out-voting a rare class; "
                    "compare the two maps, or keep the tile map (min_agreement 1.0)")
        if warn:
            warnings.warn(msgs[-1], ClassShrinkWarning, stacklevel=2)
    return msgs


def _pixel_counts(class_map: np.ndarray) -> dict:
    n = np.bincount(class_map.ravel(), minlength=256)
    return {int(c): int(n[c]) for c in np.flatnonzero(n)}


@dataclass
class SSCResult:
    """``cnn_map`` and ``final_map``: ``(H, W) uint8`` class codes (0 = unclassified);
    ``cnn_proba``: ``(n_rows, n_cols, C) float32`` per-tile probabilities of the shared classes
    ``classes``; ``timings``: seconds per step."""

    cnn_map: np.ndarray
    final_map: np.ndarray
    cnn_proba: np.ndarray
    classes: np.ndarray
    params: dict
    timings: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @property
    def phase2_name(self) -> str:
        return phase2_name(self.params["phase2"])


def modal_filter_regions(grid: np.ndarray, min_size: int) -> np.ndarray:
    """Absorb small groups of tiles into the class around them.

    Parameters
    ----------
    grid : (R, C) ndarray of int
        Class codes of the tiles.
    min_size : int, tiles
        Connected (4-neighbour) regions of one class smaller than this take the most common class
        among the cells bordering them.

    Returns
    -------
    (R, C) ndarray of int
    """
    from scipy import ndimage as ndi
    from skimage.measure import label

    out = grid.copy()
    if min_size <= 1:
        return out
    for _ in range(3):  # a few passes: a filled region may merge with another small one
        regions = label(out + 1, connectivity=1, background=0)
        sizes = np.bincount(regions.ravel())
        small = np.flatnonzero(sizes < min_size)
        small = small[small > 0]
        if len(small) == 0:
            break
        for r in small:
            m = regions == r
            ring = ndi.binary_dilation(m) & ~m
            vals = out[ring]
            if len(vals):
                out[m] = np.bincount(vals).argmax()
    return out


def despeckle(class_map: np.ndarray, smallest: int) -> np.ndarray:
    """Absorb small patches of a class map.

    Parameters
    ----------
    class_map : (H, W) ndarray of uint8
    smallest : int, px
        Patches (8-connected, one class) smaller than this take the class of the nearest pixel of
        a larger patch.

    Returns
    -------
    (H, W) ndarray of uint8
    """
    from scipy import ndimage as ndi
    from skimage.measure import label

    if smallest <= 1:
        return class_map
    small = np.zeros(class_map.shape, bool)
    for c in np.unique(class_map):
        lab = label(class_map == c, connectivity=2)
        sizes = np.bincount(lab.ravel())
        sizes[0] = smallest  # background of this class mask is never "small"
        small |= sizes[lab] < smallest
    if not small.any() or small.all():
        return class_map
    _, (ri, ci) = ndi.distance_transform_edt(small, return_indices=True)
    return class_map[ri, ci]


def predict_tiles_masked(loaded, x: np.ndarray, valid: np.ndarray | None = None):
    """Phase 1 on a batch of tiles, skipping tiles that touch nodata.

    Parameters
    ----------
    loaded : sscnb.modelfiles.LoadedModel
    x : (n, tile, tile, 3) ndarray of uint8
    valid : (n,) ndarray of bool, optional
        Tiles whose every pixel is valid data; the others are not predicted (code 0,
        confidence 0, probabilities 0).

    Returns
    -------
    codes : (n,) ndarray of uint8, shared-scheme class of each tile
    proba : (n, C) ndarray of float32, probabilities of the shared classes ``classes``
    classes : (C,) ndarray of int
    """

    n = len(x)
    if valid is None or valid.all():
        cls, proba, classes = predict_codes(loaded, None, x)
        return cls.astype(np.uint8), proba.astype(np.float32), classes
    classes = loaded.key.to_hierarchical(np.zeros((0, loaded.key.n_outputs), np.float32))[0]
    codes = np.zeros(n, np.uint8)
    proba = np.zeros((n, len(classes)), np.float32)
    if valid.any():
        c, p, classes = predict_codes(loaded, None, x[valid])
        codes[valid] = c
        proba[valid] = p
    return codes, proba, classes


def apply_tile_rules(tile_grid: np.ndarray, confidence: np.ndarray, params: SSCParams) -> np.ndarray:
    """``recog_thresh`` and ``min_tiles`` on the tile map.

    Parameters
    ----------
    tile_grid : (n_rows, n_cols) ndarray of uint8
        Class codes of the tiles.
    confidence : (n_rows, n_cols) ndarray of float
        Top-class probability of each tile.
    params : SSCParams

    Returns
    -------
    (n_rows, n_cols) ndarray of uint8
    """
    g = tile_grid
    if params.recog_thresh > 0:
        g = np.where(confidence >= params.recog_thresh, g, 0).astype(np.uint8)
    if params.min_tiles > 1:
        g = modal_filter_regions(g, params.min_tiles).astype(np.uint8)
    return g


def fit_phase2(xs: np.ndarray, ys: np.ndarray, params: SSCParams):
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
        xs, ys, params.phase2, depth=params.mlp_depth, epochs=params.mlp_epochs,
        learning_rate=params.mlp_learning_rate, batch_size=params.mlp_batch_size,
        use_smote=params.use_smote, n_trees=params.n_trees, seed=params.seed)


TILE_MAP = "CNN tile map"


def candidate_features(use_entropy: bool) -> list[str]:
    """The feature sets phase 2 tries: median RGB, and with ``use_entropy`` median RGB + entropy.

    Parameters
    ----------
    use_entropy : bool

    Returns
    -------
    list of str

    Examples
    --------
    >>> candidate_features(True)
    ['median RGB', 'median RGB + entropy']
    """
    return ["median RGB", "median RGB + entropy"] if use_entropy else ["median RGB"]


def _candidate_x(xs: np.ndarray, name: str) -> np.ndarray:
    """The columns of full features ``(n, F)`` (median RGB, then entropy) that candidate ``name`` uses."""
    if name == "median RGB":
        return xs[:, :3].astype(np.uint8) if xs.dtype != np.uint8 else xs[:, :3]
    return xs


@dataclass
class Phase2Choice:
    """What phase 2 decided for one image: ``clf`` is None when the CNN tile map is kept.

    ``features``: the candidate used, or :data:`TILE_MAP`. ``info``: ``phase2_choice`` (in words),
    ``phase2_reason``, ``agreement`` per candidate, ``judge`` (``"held-out tiles"`` or
    ``"user-labelled tiles"``), tiles held out and left out for low confidence.
    """

    clf: object
    features: str
    info: dict

    def predict(self, feats: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """The final map of full features ``(H, W, F)`` (None-safe only when ``clf`` is set)."""
        if self.features == "median RGB" and feats.shape[-1] != 3:
            feats = feats[..., :3].astype(np.uint8)
        return self.clf.predict(feats, mask)


def _tile_majority_agreement(tile_id: np.ndarray, cnn: np.ndarray, pred: np.ndarray) -> float:
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
    right = np.bincount(inv, weights=(pred == cnn).astype(float), minlength=len(tiles))
    total = np.bincount(inv, minlength=len(tiles))
    return float(np.mean(right > total / 2)) if len(tiles) else 0.0


def _hold_out(grid: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of held-out tiles: ``fraction`` of each class's tiles (none of a class with fewer
    than 2 tiles, at least 1 otherwise), drawn at random."""
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


def choose_phase2(tile_grid: np.ndarray, confidence: np.ndarray, tile: int, gather, params: SSCParams,
                  judge: np.ndarray | None = None) -> Phase2Choice:
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
        ``use_entropy``); the image is read once per call, whole or in windows.
    params : SSCParams
    judge : (n_rows, n_cols) ndarray of int, optional
        User labels of tiles (class codes > 0; 0 where none).

    Returns
    -------
    Phase2Choice
        With ``phase2_check`` off: the one candidate of ``use_entropy``, fitted on every confident
        tile.
    """
    p = params
    info = {}
    train_grid = tile_grid.copy()
    if p.train_confidence > 0:
        low = (confidence < p.train_confidence) & (tile_grid > 0)
        train_grid[low] = 0
        info["low_confidence_tiles"] = int(low.sum())
        if not (train_grid > 0).any():
            info.update(phase2_choice=TILE_MAP, phase2_reason=(
                f"no tile reaches train_confidence {p.train_confidence}: nothing to train phase 2 on"))
            return Phase2Choice(None, TILE_MAP, info)
    cands = candidate_features(p.use_entropy)
    if not p.phase2_check:
        name = cands[-1]
        rows, cols, ys = _pixel.sample_tile_pixels(train_grid, tile, p.subsample, p.min_sample, p.seed,
                                                   max_sample=p.max_sample, min_class=p.min_class_sample,
                                                   sampling=p.phase2_sampling)
        clf = fit_phase2(_candidate_x(gather(rows, cols), name), ys, p)
        info.update(phase2_choice=f"{p.final_name} on {name}", phase2_reason="phase2_check is off")
        return Phase2Choice(clf, name, info)
    held = _hold_out(train_grid, p.check_fraction, p.seed)
    fit_grid = np.where(held, 0, train_grid).astype(train_grid.dtype)
    check_grid = np.where(held, train_grid, 0).astype(train_grid.dtype)
    info["held_out_tiles"] = int(held.sum())
    rows, cols, ys = _pixel.sample_tile_pixels(fit_grid, tile, p.subsample, p.min_sample, p.seed,
                                               max_sample=p.max_sample, min_class=p.min_class_sample,
                                               sampling=p.phase2_sampling)
    xs = gather(rows, cols)
    fitted = {name: fit_phase2(_candidate_x(xs, name), ys, p) for name in cands}
    agreement = {}
    if held.any():
        cr, cc, cy = _pixel.sample_tile_pixels(check_grid, tile, p.subsample, min(p.min_sample, 20_000), p.seed + 1,
                                               max_sample=50_000)
        cx = gather(cr, cc)
        tile_id = (cr // tile) * train_grid.shape[1] + cc // tile
        for name, clf in fitted.items():
            pred = clf._codes(_candidate_x(cx, name))
            agreement[name] = _tile_majority_agreement(tile_id, cy, pred)
            info.setdefault("agreement_pixels", {})[name] = round(float(np.mean(pred == cy)), 4)
    info["agreement"] = {k: round(v, 4) for k, v in agreement.items()}
    if judge is not None and (judge > 0).any():
        jr, jc, jy = _pixel.sample_tile_pixels(np.asarray(judge), tile, 1.0, 0, p.seed + 2, max_sample=100_000)
        jx = gather(jr, jc)
        scores = {name: float(np.mean(clf._codes(_candidate_x(jx, name)) == jy)) for name, clf in fitted.items()}
        best = max(scores, key=scores.get)
        # the tile map's score is recorded but not compared: a CNN fine-tuned on these very tiles gets
        # them right whatever it does elsewhere
        tile_score = float(np.mean(tile_grid[jr // tile, jc // tile] == jy))
        info.update(judge="user-labelled tiles", judge_tiles=int((judge > 0).sum()),
                    judge_accuracy={**{k: round(v, 4) for k, v in scores.items()}, TILE_MAP: round(tile_score, 4)})
        why = (f"on the pixels of {info['judge_tiles']} user-labelled tiles phase 2 ({best}) is right on "
               f"{scores[best]:.1%}")
        if scores[best] < p.min_agreement:
            info.update(phase2_choice=TILE_MAP, phase2_reason=f"{why}, below min_agreement {p.min_agreement}: the "
                        "CNN tile map is kept")
            return Phase2Choice(None, TILE_MAP, info)
        info.update(phase2_choice=f"{p.final_name} on {best}", phase2_reason=f"{why} (>= min_agreement {p.min_agreement})")
        return Phase2Choice(fitted[best], best, info)
    info["judge"] = "held-out tiles"
    if not agreement:
        name = cands[0]
        info.update(phase2_choice=f"{p.final_name} on {name}",
                    phase2_reason="too few tiles to hold any out: phase 2 used unchecked")
        return Phase2Choice(fitted[name], name, info)
    best = max(agreement, key=agreement.get)
    if agreement[best] < p.min_agreement:
        info.update(phase2_choice=TILE_MAP, phase2_reason=(
            f"phase 2 reproduces the CNN's class (by pixel majority) on {agreement[best]:.1%} of "
            f"{info['held_out_tiles']} held-out tiles at best ({best}), below min_agreement {p.min_agreement}: "
            "the colours cannot carry the classes, so the CNN tile map is kept"))
        log.info("%s", info["phase2_reason"])
        return Phase2Choice(None, TILE_MAP, info)
    info.update(phase2_choice=f"{p.final_name} on {best}", phase2_reason=(
        f"it reproduces the CNN's class (by pixel majority) on {agreement[best]:.1%} of {info['held_out_tiles']} "
        f"held-out tiles (>= min_agreement {p.min_agreement})"))
    return Phase2Choice(fitted[best], best, info)


def check_input(x: np.ndarray, loaded, params: SSCParams, name: str, info: dict | None = None):
    """Compare an image's tiles with the CNN's training images, warn when far outside, and choose
    the gamma of the CNN's input.

    Parameters
    ----------
    x : (n, tile, tile, 3) ndarray of uint8, or dict
        The image's valid tiles, or their statistics (:func:`sscnb.inputstats.tile_statistics`,
        gathered strip by strip for a large raster).
    loaded : sscnb.modelfiles.LoadedModel
        Its card's ``input_statistics`` (absent in models saved before they were recorded: then
        nothing is checked or changed).
    params : SSCParams
        ``normalise``.
    name : str
        The image, named in the warning.
    info : dict, optional
        Receives ``input_stats``, ``input_check`` (the messages) and ``cnn_gamma``.

    Returns
    -------
    stats : dict
    gamma : float
        1.0 unless ``normalise`` is on and the image's dark tones are outside the training range.
    """
    stats = _inputstats.summarise(x if isinstance(x, dict) else _inputstats.tile_statistics(x))
    trained = (getattr(loaded, "card", None) or {}).get("input_statistics")
    msgs = _inputstats.check_image(stats, trained, name, warn=True) if stats else []
    gamma = _inputstats.normalising_gamma(stats, trained) if params.normalise and stats else 1.0
    if gamma != 1.0:
        log.info("%s: the CNN's input gamma-corrected by %.3f to match its training images' dark tones", name, gamma)
    if info is not None:
        info.update(input_stats=stats, input_check=msgs, cnn_gamma=gamma)
    return stats, gamma


def classify_image(image: np.ndarray, loaded, params: SSCParams | None = None,
                   mask: np.ndarray | None = None, judge: np.ndarray | None = None,
                   name: str | None = None) -> SSCResult:
    """Run phase 1 and phase 2 on one image held in memory. Never sees the validation labels.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
    loaded : sscnb.modelfiles.LoadedModel
    params : SSCParams, optional (defaults)
    mask : (H, W) ndarray of bool, optional
        Valid pixels. Tiles touching invalid pixels are not classified, invalid pixels never
        train phase 2, and they are 0 in both maps.
    judge : (n_rows, n_cols) ndarray of int, optional
        User labels of this image's tiles (0 where none): they decide between phase 2 and the tile
        map (:func:`choose_phase2`).
    name : str, optional
        The image's name, for the warning when it is far outside the CNN's training images
        (:func:`check_input`).

    Returns
    -------
    SSCResult
        ``cnn_map`` and ``final_map`` ``(H, W) uint8``; ``cnn_proba`` ``(n_rows, n_cols, C)``;
        ``info`` holds ``input_stats``, ``input_check`` and ``cnn_gamma`` among others.
    """
    p = params or SSCParams()
    t = {}
    tile = loaded.tile_size
    H, W = image.shape[:2]
    if H < tile or W < tile:
        raise ValueError(f"image is {W} x {H} px, smaller than one {tile} px tile of the model")
    t0 = time.perf_counter()
    x = _tiles.to_tiles(image, tile)
    grid = _tiles.grid_shape(image.shape, tile)
    valid = None if mask is None else _tiles.to_tiles(mask, tile).reshape(len(x), -1).all(axis=1)
    t["tiles"] = time.perf_counter() - t0

    info = {}
    stats, gamma = check_input(x if valid is None else x[valid], loaded, p, name or "the image", info)
    t["check"] = time.perf_counter() - t0 - t["tiles"]

    t0 = time.perf_counter()
    tile_cls, proba, codes = predict_tiles_masked(loaded, _inputstats.apply_gamma(x, gamma), valid)
    confidence = proba.max(axis=1) if proba.shape[1] else np.zeros(len(x), np.float32)
    tile_grid = apply_tile_rules(tile_cls.reshape(grid), confidence.reshape(grid), p)
    cnn_map = _tiles.tiles_to_raster(tile_grid.ravel(), grid, tile, out_shape=(H, W), fill=0)
    t["cnn"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    feats = _features.pixel_features(image, p.median_radius, p.use_entropy, mask)
    t["features"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    info["tile_classes"] = {int(c): int((tile_grid == c).sum()) for c in np.unique(tile_grid)}
    choice = None
    if (tile_grid > 0).any():
        choice = choose_phase2(tile_grid, confidence.reshape(grid), tile, lambda r, c: feats[r, c], p, judge)
        info.update(choice.info)
        if choice.clf is not None and choice.clf.info.get("one_class"):
            log.info("one-class tile map: the final map is class %s", choice.clf.classes[0])
            info["note"] = f"the CNN found one class only ({int(choice.clf.classes[0])}): final map is that class"
        elif choice.clf is None:
            info["note"] = f"phase 2 not used: {choice.info['phase2_reason']}"
    else:
        info["note"] = "the CNN classified no tile (all below recog_thresh?): final map left unclassified"
        log.warning(info["note"])
    t["fit"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if choice is None:
        final = np.zeros((H, W), np.uint8)
    elif choice.clf is None:
        final = cnn_map.copy()
    else:
        final = choice.predict(feats, mask)
        info.update(choice.clf.info)  # n_train, one_class, distinct_vectors, ...
    if mask is not None:
        final[~mask] = 0
    t["predict"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if p.smallest_element > 1:
        final = despeckle(final, p.smallest_element)
        if mask is not None:
            final[~mask] = 0
    t["post"] = time.perf_counter() - t0
    info["shrinking"] = shrinking_classes(_pixel_counts(cnn_map), _pixel_counts(final), name or "the image",
                                          getattr(loaded, "scheme", None))
    return SSCResult(cnn_map, final, proba.reshape(grid + (-1,)), codes, p.to_dict(), t, info)
