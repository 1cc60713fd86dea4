"""Per-pixel features for phase 2.

Default: the three RGB bands, each median-filtered with a disk of radius ``median_radius``
(5 px, as in the original method). Optional 4th band: the local entropy of the grey image in an
11 x 11 window (the original's texture feature). Features are returned raw (uint8 for the medians,
float32 for entropy); standardisation belongs to the classifier (fitted on its training pixels).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["median_rgb", "local_entropy", "pixel_features"]


def median_rgb(image: np.ndarray, radius: int = 5) -> np.ndarray:
    """``(H, W, 3) uint8`` -> ``(H, W, 3) uint8``: each band median-filtered with ``disk(radius)``.

    The three bands are independent and filtered in parallel threads (scikit-image's rank filters
    release the GIL). ``radius = 0`` returns the image unchanged.
    """
    if radius <= 0:
        return np.ascontiguousarray(image)
    from skimage.filters.rank import median
    from skimage.morphology import disk

    fp = disk(int(radius))
    bands = [np.ascontiguousarray(image[..., k]) for k in range(3)]
    with ThreadPoolExecutor(max_workers=3) as ex:
        out = list(ex.map(lambda b: median(b, fp), bands))
    return np.stack(out, axis=-1)


def local_entropy(image: np.ndarray, size: int = 11) -> np.ndarray:
    """``(H, W, 3) uint8`` -> ``(H, W) float32``: Shannon entropy (bits) of the grey levels in a
    ``size x size`` window."""
    from skimage.color import rgb2gray
    from skimage.filters.rank import entropy
    from skimage.util import img_as_ubyte

    grey = img_as_ubyte(rgb2gray(image))
    return entropy(grey, np.ones((size, size), bool)).astype(np.float32)


def pixel_features(image: np.ndarray, median_radius: int = 5, use_entropy: bool = False,
                   entropy_size: int = 11) -> np.ndarray:
    """``(H, W, F)`` features: median RGB (F = 3) plus entropy (F = 4) when ``use_entropy``.
    dtype uint8 without entropy, float32 with it."""
    med = median_rgb(image, median_radius)
    if not use_entropy:
        return med
    return np.concatenate([med.astype(np.float32), local_entropy(image, entropy_size)[..., None]], axis=-1)
