"""The per-image CNN-supervised classification pipeline (phase 1 + phase 2).

::

    cnn = modelfiles.load_model("outputs/x/model/cnn.keras")
    result = classify_image(image, cnn, SSCParams(phase2="mlp"))
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from . import features as _features
from . import inputstats as _inputstats
from . import tiles as _tiles
from .modelfiles import predict_codes
from .patches import despeckle, modal_filter_regions
from .phase2 import TILE_MAP, Phase2Choice, PixelLabels, candidate_features, choose_phase2, fit_phase2
from .settings import Settings

if TYPE_CHECKING:
    from .classes import ClassScheme
    from .modelfiles import LoadedModel

__all__ = [
    "SSCParams",
    "SSCResult",
    "PHASE2_CHOICES",
    "MLP_DEPTHS",
    "phase2_name",
    "classify_image",
    "predict_tiles_masked",
    "apply_tile_rules",
    "fit_phase2",
    "modal_filter_regions",
    "despeckle",
    "Phase2Choice",
    "choose_phase2",
    "candidate_features",
    "TILE_MAP",
    "check_input",
    "shrinking_classes",
    "ClassShrinkWarning",
    "SHRINK_FRACTION",
]

logger = logging.getLogger(__name__)


PHASE2_CHOICES = {"mlp": "MLP", "rf": "RF"}
MLP_DEPTHS = ("deep", "very_deep", "compact")


def phase2_name(phase2: str) -> str:
    """Return the name of the final map in file names and tables.

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

    - recog_thresh: a tile whose top class probability is below it becomes unclassified (0 = off).
    - min_tiles: connected groups of fewer tiles of one class take the most common class around
      them (0 = off).
    - median_radius: radius (px) of the disk of the median filter on R, G and B.
    - use_entropy: add the 11 x 11 entropy band as a 4th feature.
    - features: "median_rgb" (the method's) or "multiscale": phase 2 also tries median RGB with
      smoothed intensity, edges, texture and saturation at 1, 2, 4 and 8 px
      (:func:`sscnb.features.multiscale_features`), and the self-check keeps the better.
    - phase2: the pixel classifier, "mlp" (a neural network) or "rf" (a random forest).
    - mlp_depth: "deep" (256-128-64-32-32), "very_deep", or "compact" (64-32-32: a tenth of the work per
      pixel, for the multiscale set, whose every pixel is predicted).
    - mlp_epochs, mlp_batch_size, mlp_learning_rate: training of the pixel MLP.
    - n_trees: trees of the random forest.
    - subsample / min_sample / max_sample: share of the CNN-classified pixels used to train phase 2,
      with a floor and a cap (the cap matters for orthomosaics: 1% of 150 Mpx is far more pixels
      than three colour features need, and would cost minutes of training).
    - use_smote: balance the phase-2 training pixels with SMOTE-ENN.
    - min_class_sample: every class of the tile map gets at least this many phase-2 training pixels
      (or all of its pixels), on top of the sample: a rare class is never left with a handful.
    - phase2_sampling: "area" (each class in proportion to its pixels in the tile map) or "balanced"
      (the sample split equally among the classes).
    - smallest_element: patches of the final map smaller than this (px) take the class of the
      nearest larger patch (0 = off).
    - seed: random seed of the phase-2 sample and classifier.
    - train_confidence: tiles whose top class probability is below it do not train phase 2 (they
      stay in the CNN map; 0 = all tiles train).
    - phase2_check: phase 2 checks itself on held-out tiles before it replaces the tile map, which stays
      where phase 2 would do worse. In detail (:func:`choose_phase2`): a share ``check_fraction``
      of the confident tiles is held out, each candidate feature set (median RGB; with
      ``use_entropy`` also median RGB + entropy; with ``features`` "multiscale" also every band)
      is fitted on the rest, and the one that best reproduces the CNN's classes on the held-out tiles is used, unless even it
      gives the CNN's class to the majority of the pixels of less than ``min_agreement`` of those
      tiles: then the colours cannot carry the classes, and the CNN tile map is kept as the final map.
      Nor is phase 2 used when it gives nearly all held-out tiles of a class (more than 80%) to other classes.
    - check_fraction: share of the confident tiles held out to check phase 2.
    - min_agreement: share of the held-out tiles phase 2 must give the CNN's class (by pixel majority) to
      replace the tile map.
    - label_cnn_share: where the user labelled pixels of the image (tiles, polygons), phase 2 trains on
      them and on the confident tiles of the tile map away from them: this is the tile map's share
      of its training pixels (0 = the user's labels alone). The user's labels then judge phase 2
      (:func:`sscnb.phase2.choose_phase2`).
    - min_label_f1: where the CNN was fine-tuned on those labels (its score on them is in-sample),
      phase 2 is kept when its F1 on them, held out, reaches this (measured on Wildcat Creek:
      0.80-0.86 where phase 2 added 0.04-0.07 to the map, 0.75-0.78 where it would have cost 0.03-0.04).
    - tta: test-time augmentation of phase 1: the CNN's class probabilities of each tile are averaged
      over its 8 orientations (rotations by 90 degrees, each also mirrored); 8 times the CNN's work.
    - normalise: when an image's dark tones (water, shade) are outside those of the CNN's training
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
    features: str = "median_rgb"
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
    label_cnn_share: float = 0.5
    min_label_f1: float = 0.8
    tta: bool = False
    normalise: bool = True

    def __post_init__(self):
        if self.phase2 not in PHASE2_CHOICES:
            raise ValueError(f"phase2 must be one of {sorted(PHASE2_CHOICES)}, got {self.phase2!r}")
        _features._check_feature_set(self.features)  # the one message for a wrong feature set
        if self.mlp_depth not in MLP_DEPTHS:
            raise ValueError(f"mlp_depth must be one of {list(MLP_DEPTHS)}, got {self.mlp_depth!r}")
        for f in fields(self):
            v = getattr(self, f.name)
            want = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,)}[str(f.type)]
            if not isinstance(v, want) or (f.type in ("int", "float") and isinstance(v, bool)):
                raise ValueError(f"{f.name} must be {f.type}, got {v!r}")
        if not 0 <= self.recog_thresh <= 1:
            raise ValueError(f"recog_thresh must be between 0 and 1, got {self.recog_thresh}")
        if not 0 <= self.label_cnn_share < 1:
            raise ValueError(f"label_cnn_share must be at least 0 and below 1, got {self.label_cnn_share}")
        for name in ("train_confidence", "min_agreement", "min_label_f1"):
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
    def phase2_name(self) -> str:
        """Return the name of the final map (:func:`phase2_name` of the settings)."""
        return phase2_name(self.phase2)


#: a class that loses more than this share of its pixels from the tile map to the final map is reported
SHRINK_FRACTION = 0.5


class ClassShrinkWarning(UserWarning):
    """A class of the CNN tile map shrinks by more than half, or vanishes, in the final map."""


def shrinking_classes(
    cnn_counts: dict, final_counts: dict, name: str, scheme: ClassScheme | None = None, warn: bool = True
) -> list[str]:
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
        msgs.append(
            f"{name}: {label} {how} from {n_cnn:,} px in the CNN tile map to {n_fin:,} px in the final map"
            f"{'' if n_fin == 0 else ' (by more than half)'}: phase 2 may be out-voting a rare class; "
            "compare the two maps, or keep the tile map (min_agreement 1.0)"
        )
        if warn:
            warnings.warn(msgs[-1], ClassShrinkWarning, stacklevel=2)
    return msgs


def _pixel_counts(class_map: np.ndarray) -> dict:
    n = np.bincount(class_map.ravel(), minlength=256)
    return {int(c): int(n[c]) for c in np.flatnonzero(n)}


@dataclass
class SSCResult:
    """``cnn_map`` and ``final_map``.

    ``(H, W) uint8`` class codes (0 = unclassified); ``cnn_proba``: ``(n_rows, n_cols, C) float32`` per-tile
    probabilities of the shared classes ``classes``; ``timings``: seconds per step, which add up to
    the whole (``features`` is the time waited for them after the CNN: they are computed while it
    runs).
    """

    cnn_map: np.ndarray
    final_map: np.ndarray
    cnn_proba: np.ndarray
    classes: np.ndarray
    params: dict
    timings: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @property
    def phase2_name(self) -> str:
        """Return the name of the final map (:func:`phase2_name` of the settings)."""
        return phase2_name(self.params["phase2"])


def predict_tiles_masked(
    cnn: LoadedModel, x: np.ndarray, valid: Any = None, tta: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phase 1 on a batch of tiles, skipping tiles that touch nodata.

    Parameters
    ----------
    cnn : sscnb.modelfiles.LoadedModel
    x : (n, tile, tile, 3) ndarray of uint8
    valid : (n,) ndarray of bool, optional
        Tiles whose every pixel is valid data; the others are not predicted (code 0,
        confidence 0, probabilities 0).
    tta : bool
        Average the CNN's probabilities over each tile's 8 orientations (``SSCParams.tta``).

    Returns
    -------
    codes : (n,) ndarray of uint8, shared-scheme class of each tile
    proba : (n, C) ndarray of float32, probabilities of the shared classes ``classes``
    classes : (C,) ndarray of int
    """
    n = len(x)
    if valid is None or valid.all():
        cls, proba, classes = predict_codes(cnn, None, x, tta=tta)
        return cls.astype(np.uint8), proba.astype(np.float32), classes
    classes = cnn.key.to_hierarchical(np.zeros((0, cnn.key.n_outputs), np.float32))[0]
    codes = np.zeros(n, np.uint8)
    proba = np.zeros((n, len(classes)), np.float32)
    if valid.any():
        c, p, classes = predict_codes(cnn, None, x[valid], tta=tta)
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


def check_input(
    x: np.ndarray | dict, cnn: LoadedModel, params: SSCParams, name: str, info: dict | None = None
) -> tuple[dict, float]:
    """Compare an image's tiles with the CNN's training images, warn when far outside, and choose the gamma of the CNN's input.

    Parameters
    ----------
    x : (n, tile, tile, 3) ndarray of uint8, or dict
        The image's valid tiles, or their statistics (:func:`sscnb.inputstats.tile_statistics`,
        gathered strip by strip for a large raster).
    cnn : sscnb.modelfiles.LoadedModel
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
    trained = (getattr(cnn, "card", None) or {}).get("input_statistics")
    msgs = _inputstats.check_image(stats, trained, name, warn=True) if stats else []
    gamma = _inputstats.normalising_gamma(stats, trained) if params.normalise and stats else 1.0
    if gamma != 1.0:
        logger.info("%s: the CNN's input gamma-corrected by %.3f to match its training images' dark tones", name, gamma)
    if info is not None:
        info.update(input_stats=stats, input_check=msgs, cnn_gamma=gamma)
    return stats, gamma


def classify_image(
    image: np.ndarray,
    cnn: LoadedModel,
    params: SSCParams | None = None,
    mask: np.ndarray | None = None,
    labels: PixelLabels | None = None,
    name: str | None = None,
) -> SSCResult:
    """Run phase 1 and phase 2 on one image held in memory. Never sees the validation labels.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
    cnn : sscnb.modelfiles.LoadedModel
    params : SSCParams, optional (defaults)
    mask : (H, W) ndarray of bool, optional
        Valid pixels. Tiles touching invalid pixels are not classified, invalid pixels never
        train phase 2, and they are 0 in both maps.
    labels : sscnb.phase2.PixelLabels, optional
        The user's labelled pixels of this image (tiles, polygons): phase 2 learns from them and they
        judge it (:func:`choose_phase2`).
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
    tile = cnn.tile_size
    H, W = image.shape[:2]
    if tile > H or tile > W:
        raise ValueError(f"image is {W} x {H} px, smaller than one {tile} px tile of the model")
    # the pixel features are computed in a thread while the CNN classifies the tiles (TensorFlow
    # leaves part of the cores idle on small batches); "features" is the time waited for them after
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sscnb-features") as ex:
        pending = ex.submit(_features.pixel_features, image, p.median_radius, p.use_entropy, mask, p.features)
        t0 = time.perf_counter()
        x = _tiles.to_tiles(image, tile)
        grid = _tiles.grid_shape(image.shape, tile)
        valid = None if mask is None else _tiles.to_tiles(mask, tile).reshape(len(x), -1).all(axis=1)
        t["tiles"] = time.perf_counter() - t0
        info: dict[str, Any] = {}
        stats, gamma = check_input(x if valid is None else x[valid], cnn, p, name or "the image", info)
        t["check"] = time.perf_counter() - t0 - t["tiles"]
        t0 = time.perf_counter()
        tile_cls, proba, codes = predict_tiles_masked(cnn, _inputstats.apply_gamma(x, gamma), valid, p.tta)
        confidence = proba.max(axis=1) if proba.shape[1] else np.zeros(len(x), np.float32)
        tile_grid = apply_tile_rules(tile_cls.reshape(grid), confidence.reshape(grid), p)
        cnn_map = _tiles.tiles_to_raster(tile_grid.ravel(), grid, tile, out_shape=(H, W), fill=0)
        t["cnn"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        feats = pending.result()
        t["features"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    info["tile_classes"] = {int(c): int((tile_grid == c).sum()) for c in np.unique(tile_grid)}
    choice = _choose(tile_grid, confidence.reshape(grid), tile, feats, p, labels, info)
    t["fit"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    final = _final_map(choice, cnn_map, feats, mask, info)
    t["predict"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if p.smallest_element > 1:
        final = despeckle(final, p.smallest_element)
        if mask is not None:
            final[~mask] = 0
    t["post"] = time.perf_counter() - t0
    info["shrinking"] = shrinking_classes(
        _pixel_counts(cnn_map), _pixel_counts(final), name or "the image", getattr(cnn, "scheme", None)
    )
    return SSCResult(cnn_map, final, proba.reshape(grid + (-1,)), codes, p.to_dict(), t, info)


def _choose(
    tile_grid: np.ndarray, confidence: np.ndarray, tile: int, feats: np.ndarray, p: SSCParams, labels, info: dict
) -> Phase2Choice | None:
    """Return phase 2's choice on an image's tile map (None when no tile is classified); ``info`` gets why."""
    if not (tile_grid > 0).any():
        info["note"] = "the CNN classified no tile (all below recog_thresh?): final map left unclassified"
        logger.warning(info["note"])
        return None
    choice = choose_phase2(tile_grid, confidence, tile, lambda r, c: feats[r, c], p, labels)
    info.update(choice.info)
    if choice.clf is not None and choice.clf.info.get("one_class"):
        logger.info("one-class tile map: the final map is class %s", choice.clf.classes[0])
        info["note"] = f"the CNN found one class only ({int(choice.clf.classes[0])}): final map is that class"
    elif choice.clf is None:
        info["note"] = f"phase 2 not used: {choice.info['phase2_reason']}"
    return choice


def _final_map(choice: Phase2Choice | None, cnn_map: np.ndarray, feats: np.ndarray, mask, info: dict) -> np.ndarray:
    """Return the final map: nothing, the tile map, or phase 2's prediction of every pixel (0 outside ``mask``)."""
    if choice is None:
        final = np.zeros(cnn_map.shape, np.uint8)
    elif choice.clf is None:
        final = cnn_map.copy()
    else:
        final = choice.predict(feats, mask)
        info.update(choice.clf.info)  # n_train, one_class, distinct_vectors, ...
    if mask is not None:
        final[~mask] = 0
    return final
