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
from dataclasses import dataclass, field, fields

import numpy as np

from . import features as _features
from . import pixel as _pixel
from . import tiles as _tiles
from .settings import Settings

__all__ = ["SSCParams", "SSCResult", "PHASE2_CHOICES", "MLP_DEPTHS", "phase2_name", "classify_image",
           "predict_tiles_masked", "apply_tile_rules", "fit_phase2", "modal_filter_regions", "despeckle"]

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
    smallest_element: patches of the final map smaller than this (px) take the class of the
        nearest larger patch (0 = off).
    seed: random seed of the phase-2 sample and classifier.
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
    smallest_element: int = 0
    seed: int = 42

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
        if not 0 < self.subsample <= 1:
            raise ValueError(f"subsample must be in (0, 1], got {self.subsample}")
        for name in ("min_tiles", "median_radius", "min_sample", "smallest_element"):
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
    from .modelfiles import predict_codes

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


def classify_image(image: np.ndarray, loaded, params: SSCParams | None = None,
                   mask: np.ndarray | None = None) -> SSCResult:
    """Run phase 1 and phase 2 on one image held in memory. Never sees the validation labels.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
    loaded : sscnb.modelfiles.LoadedModel
    params : SSCParams, optional (defaults)
    mask : (H, W) ndarray of bool, optional
        Valid pixels. Tiles touching invalid pixels are not classified, invalid pixels never
        train phase 2, and they are 0 in both maps.

    Returns
    -------
    SSCResult
        ``cnn_map`` and ``final_map`` ``(H, W) uint8``; ``cnn_proba`` ``(n_rows, n_cols, C)``.
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

    t0 = time.perf_counter()
    tile_cls, proba, codes = predict_tiles_masked(loaded, x, valid)
    confidence = proba.max(axis=1) if proba.shape[1] else np.zeros(len(x), np.float32)
    tile_grid = apply_tile_rules(tile_cls.reshape(grid), confidence.reshape(grid), p)
    cnn_map = _tiles.tiles_to_raster(tile_grid.ravel(), grid, tile, out_shape=(H, W), fill=0)
    t["cnn"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    feats = _features.pixel_features(image, p.median_radius, p.use_entropy, mask)
    t["features"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    info = {"tile_classes": {int(c): int((tile_grid == c).sum()) for c in np.unique(tile_grid)}}
    if (tile_grid > 0).any():
        rows, cols, ys = _pixel.sample_tile_pixels(tile_grid, tile, p.subsample, p.min_sample, p.seed,
                                                      max_sample=p.max_sample)
        clf = fit_phase2(feats[rows, cols], ys, p)
        if clf.info.get("one_class"):
            log.info("one-class tile map: the final map is class %s", clf.classes[0])
            info["note"] = f"the CNN found one class only ({int(clf.classes[0])}): final map is that class"
    else:
        clf = None
        info["note"] = "the CNN classified no tile (all below recog_thresh?): final map left unclassified"
        log.warning(info["note"])
    t["fit"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if clf is None:
        final = np.zeros((H, W), np.uint8)
    else:
        final = clf.predict(feats, mask)
        info.update(clf.info)  # n_train, one_class, distinct_vectors, ...
    if mask is not None:
        final[~mask] = 0
    t["predict"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if p.smallest_element > 1:
        final = despeckle(final, p.smallest_element)
        if mask is not None:
            final[~mask] = 0
    t["post"] = time.perf_counter() - t0
    return SSCResult(cnn_map, final, proba.reshape(grid + (-1,)), codes, p.to_dict(), t, info)
