"""The per-image CNN-supervised classification pipeline (phase 1 + phase 2).

::

    cnn = modelfiles.load_model("outputs/x/model/cnn.keras")
    result = classify_image(image, cnn, SSCParams(phase2="mlp_rf"))
    result.cnn_map, result.final_map, result.timings

Phase 1 tiles the image, predicts every tile and paints the tile classes (shared scheme, through
the class key) back onto a raster; the margin that no whole tile covers stays 0 (unclassified).
A folder of images (notebook 03) is in :mod:`sscnb.evaluation`, a survey (notebook 05) in
:mod:`sscnb.maps`. The steps themselves are :mod:`sscnb.pipeline`'s, the same for an image in
memory (here: one strip) and a raster read in strips (:func:`sscnb.maps.map_raster`).
Phase 2 trains a pixel classifier on this image alone, on the pixels the CNN classified, and
predicts every pixel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from sscnb.errors import ClassShrinkWarning
from sscnb.params import MLP_DEPTHS, PHASE2_CHOICES, SSCParams, phase2_name
from sscnb.phase2._choose import TILE_MAP, Phase2Choice, PixelLabels, candidate_features, choose_phase2, fit_phase2
from sscnb.phase2._patches import despeckle, modal_filter_regions
from sscnb.pipeline._steps import (
    SHRINK_FRACTION,
    ImageJob,
    ImageSource,
    MemoryFeatures,
    apply_tile_rules,
    check_input,
    choose,
    class_counts,
    cnn_strip,
    colour_table,
    final_strips,
    phase1,
    predict_tiles_masked,
    shrinking_classes,
    tile_classes,
)

if TYPE_CHECKING:
    from sscnb.cnn._files import LoadedModel

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
    tile = cnn.tile_size
    H, W = image.shape[:2]
    if tile > H or tile > W:
        raise ValueError(f"image is {W} x {H} px, smaller than one {tile} px tile of the model")
    job = ImageJob(
        name or "the image",
        ImageSource(image, mask),
        (H, W),
        cnn,
        p,
        [(0, H)],
        MemoryFeatures((H, W)),
        labels=labels,
        keep_proba=True,
    )
    t: dict = {}
    # the pixel features are computed in a thread while the CNN classifies the tiles (TensorFlow
    # leaves part of the cores idle on small batches); "features" is the time waited for them after
    profile = phase1(job, overlap=True)
    t.update(tiles=profile["tiles"], check=profile["tile_stats"], cnn=profile["cnn"])
    t["features"] = profile["features_wait"] + profile["scratch_wait"]
    t0 = time.perf_counter()
    tile_grid = apply_tile_rules(job.tile_codes, job.confidence, p)
    job.info["tile_classes"] = tile_classes(tile_grid)
    choice = choose(job, tile_grid)
    lut = colour_table(job, choice)
    t["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    final = next(final_strips(job, tile_grid, choice, lut))[2]
    cnn_map = cnn_strip(job, tile_grid, 0, H, job.store.read_valid(0, H))
    t["predict"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if p.smallest_element > 1:
        final = despeckle(final, p.smallest_element)
        if mask is not None:
            final[~mask] = 0
    t["post"] = time.perf_counter() - t0
    job.info["shrinking"] = shrinking_classes(
        _pixel_counts(cnn_map), _pixel_counts(final), job.name, getattr(cnn, "scheme", None)
    )
    proba = job.proba if job.proba is not None else np.zeros(job.grid + (0,), np.float32)
    classes = job.classes if job.classes is not None else np.zeros(0, int)
    job.store.close()
    return SSCResult(cnn_map, final, proba, classes, p.to_dict(), t, job.info)


def _pixel_counts(class_map: np.ndarray) -> dict:
    return class_counts(np.bincount(class_map.ravel(), minlength=256))
