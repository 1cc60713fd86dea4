"""Per-pixel features for phase 2.

Default: the three RGB bands, each median-filtered with a disk of radius ``median_radius``
(5 px, as in the original method). Optional 4th band: the local entropy of the grey image in an
11 x 11 window (the original's texture feature). Features are returned raw (uint8 for the medians,
float32 for entropy); standardisation belongs to the classifier (fitted on its training pixels).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["median_rgb", "local_entropy", "pixel_features", "feature_halo", "ENTROPY_SIZE"]


def _rank_mask(mask):
    """None when every pixel is valid (scikit-image's rank filters then take the fast path)."""
    if mask is None:
        return None
    mask = np.asarray(mask, bool)
    return None if mask.all() else mask.astype(np.uint8)


def median_rgb(image: np.ndarray, radius: int = 5, mask: np.ndarray | None = None) -> np.ndarray:
    """Median-filter each band with ``disk(radius)``.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
    radius : int, px. ``0`` returns the image unchanged.
    mask : (H, W) ndarray of bool, optional
        Valid pixels (e.g. inside an orthomosaic's flown area). Only valid pixels enter a median,
        so the nodata border never bleeds into the features of the pixels next to it.

    Returns
    -------
    (H, W, 3) ndarray of uint8

    The three bands are filtered in parallel threads (scikit-image's rank filters release the GIL).
    """
    if radius <= 0:
        return np.ascontiguousarray(image)
    from skimage.filters.rank import median
    from skimage.morphology import disk

    fp = disk(int(radius))
    m = _rank_mask(mask)
    bands = [np.ascontiguousarray(image[..., k]) for k in range(3)]
    with ThreadPoolExecutor(max_workers=3) as ex:
        out = list(ex.map(lambda b: median(b, fp, mask=m), bands))
    return np.stack(out, axis=-1)


def local_entropy(image: np.ndarray, size: int = 11, mask: np.ndarray | None = None) -> np.ndarray:
    """``(H, W, 3) uint8`` -> ``(H, W) float32``: Shannon entropy (bits) of the grey levels in a
    ``size x size`` window (only the valid pixels of ``mask`` when given)."""
    from skimage.color import rgb2gray
    from skimage.filters.rank import entropy
    from skimage.util import img_as_ubyte

    grey = img_as_ubyte(rgb2gray(image))
    return entropy(grey, np.ones((size, size), bool), mask=_rank_mask(mask)).astype(np.float32)


ENTROPY_SIZE = 11


def feature_halo(median_radius: int, use_entropy: bool) -> int:
    """Rows/columns of context (px) a window needs on each side so that its features equal the
    whole-image features: the widest filter's reach."""
    return max(int(median_radius), ENTROPY_SIZE // 2 if use_entropy else 0)


def pixel_features(image: np.ndarray, median_radius: int = 5, use_entropy: bool = False,
                   mask: np.ndarray | None = None) -> np.ndarray:
    """``(H, W, F)`` features: median RGB (F = 3) plus entropy (F = 4) when ``use_entropy``.
    dtype uint8 without entropy, float32 with it. ``mask``: valid pixels, see :func:`median_rgb`."""
    med = median_rgb(image, median_radius, mask)
    if not use_entropy:
        return med
    ent = local_entropy(image, ENTROPY_SIZE, mask)
    return np.concatenate([med.astype(np.float32), ent[..., None]], axis=-1)
