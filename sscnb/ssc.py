"""The per-image CNN-supervised classification pipeline (phase 1 + phase 2).

::

    cnn = modelfiles.load_model("outputs/x/model/cnn.keras")
    result = classify_image(image, cnn, SSCParams(phase2="mlp"))
    result.cnn_map, result.final_map, result.timings

Phase 1 tiles the image, predicts every tile and paints the tile classes (shared scheme, through
the class key) back onto a raster; the margin that no whole tile covers stays 0 (unclassified).
A folder of images (notebook 03) is in :mod:`sscnb.evaluation`, a survey (notebook 05) in
:mod:`sscnb.maps`.
Phase 2 trains a pixel classifier on this image alone, on the pixels the CNN classified, and
predicts every pixel.
"""

from __future__ import annotations

import logging
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sscnb.cnn import _inputstats as _inputstats
from sscnb.cnn._files import predict_codes
from sscnb.data import _tiles as _tiles
from sscnb.errors import ClassShrinkWarning
from sscnb.params import MLP_DEPTHS, PHASE2_CHOICES, SSCParams, phase2_name
from sscnb.phase2 import _features as _features
from sscnb.phase2._choose import TILE_MAP, Phase2Choice, PixelLabels, candidate_features, choose_phase2, fit_phase2
from sscnb.phase2._patches import despeckle, modal_filter_regions

if TYPE_CHECKING:
    from sscnb.cnn._files import LoadedModel
    from sscnb.data._classes import ClassScheme

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


SHRINK_FRACTION = 0.5


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
    cnn : sscnb.cnn.LoadedModel
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
        The image's valid tiles, or their statistics (:func:`sscnb.cnn.tile_statistics`,
        gathered strip by strip for a large raster).
    cnn : sscnb.cnn.LoadedModel
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
    cnn : sscnb.cnn.LoadedModel
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
