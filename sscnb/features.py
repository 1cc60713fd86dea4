"""Per-pixel features for phase 2.

Default: the three RGB bands, each median-filtered with a disk of radius ``median_radius``
(5 px, as in the original method). Optional 4th band: the local entropy of the grey image in an
11 x 11 window (the original's texture feature). Features are returned raw (uint8 for the medians,
float32 for entropy); standardisation belongs to the classifier (fitted on its training pixels).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = [
    "median_rgb",
    "local_entropy",
    "pixel_features",
    "feature_halo",
    "ENTROPY_SIZE",
    "feature_threads",
    "median_device",
    "MEDIAN_DEVICES",
]

#: rows of one block of a band (plus the halo); blocks of every band are filtered in parallel
BLOCK_ROWS = 256


def feature_threads() -> int:
    """Threads for the median filter.

    ``$SSCNB_THREADS`` (a Dask worker's share of the cores, set by :mod:`sscnb.batch`) or every core.

    Returns
    -------
    int
    """
    import os

    return max(1, int(os.environ.get("SSCNB_THREADS") or os.cpu_count() or 1))


#: where the median filter may run (``$SSCNB_MEDIAN``): see :func:`median_device`
MEDIAN_DEVICES = ("auto", "cpu", "accelerator")


def median_device() -> str:
    """Where the median filter runs: ``"accelerator"`` or ``"cpu"``.

    ``$SSCNB_MEDIAN`` decides: ``cpu``, ``accelerator`` (the device Keras computes on, whatever it
    is: a GPU, or the CPU through XLA, to compare the two), or ``auto`` (unset): the accelerator
    when Keras is already in use (a CNN was loaded) and computes on a GPU or TPU, else the CPU.
    Both give the same numbers (tested). On an H100 machine with 16 cores, the CPU's filter was the
    slowest stage of ``sscnb map`` while the GPU waited; on the CPU alone, the compiled filter
    (:mod:`sscnb._median`) is faster than XLA's program.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        ``$SSCNB_MEDIAN`` is not one of :data:`MEDIAN_DEVICES`.
    """
    import os

    choice = os.environ.get("SSCNB_MEDIAN", "").strip().lower() or "auto"
    if choice not in MEDIAN_DEVICES:
        raise ValueError(f"SSCNB_MEDIAN must be one of {', '.join(MEDIAN_DEVICES)}, got {choice!r}")
    if choice != "auto":
        return choice
    from . import _keras

    if _keras._KERAS is None:  # Keras not in use: importing it only to look would take seconds
        return "cpu"
    from .predict import accelerator

    return "accelerator" if accelerator() else "cpu"


def _rank_mask(mask):
    """None when every pixel is valid (the filters then skip the mask), else the mask as uint8."""
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
        Exactly ``skimage.filters.rank.median`` of each band (the original method's filter).

    On a GPU machine the filter runs on the GPU (:func:`median_device`, :mod:`sscnb._median_ops`).
    On the CPU it is :mod:`sscnb._median` (compiled, 4-6 times faster than scikit-image's per
    thread). Each band is filtered in row blocks of :data:`BLOCK_ROWS` (with ``radius`` rows of
    context), all blocks in parallel threads (:func:`feature_threads`; the compiled filter
    releases the GIL): the same numbers as one call on the whole band, on every core.
    """
    if radius <= 0:
        return np.ascontiguousarray(image)
    from skimage.morphology import disk

    from sscnb._median import median_rows

    fp = disk(int(radius))
    if median_device() == "accelerator":
        from sscnb._median_ops import median_bands

        return median_bands(image, fp, mask)
    m = _rank_mask(mask)
    H = image.shape[0]
    # row blocks of every band: a pixel's median needs only the rows within the radius of it
    # (median_rows reads them), so the blocks give exactly the whole band's result, on all cores
    blocks = [(k, y0, min(H, y0 + BLOCK_ROWS)) for k in range(3) for y0 in range(0, H, BLOCK_ROWS)]
    bands = [np.ascontiguousarray(image[..., k]) for k in range(3)]
    out = np.empty(image.shape, np.uint8)

    def run(block):
        k, y0, y1 = block
        out[y0:y1, :, k] = median_rows(bands[k], fp, y0, y1, mask=m)

    with ThreadPoolExecutor(max_workers=min(feature_threads(), len(blocks))) as ex:
        list(ex.map(run, blocks))
    return out


def local_entropy(image: np.ndarray, size: int = 11, mask: np.ndarray | None = None) -> np.ndarray:
    """Shannon entropy (bits) of the grey levels in a square window.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
    size : int, px
        Side of the window.
    mask : (H, W) ndarray of bool, optional
        Only valid pixels enter the window.

    Returns
    -------
    (H, W) ndarray of float32
    """
    from skimage.color import rgb2gray
    from skimage.filters.rank import entropy
    from skimage.util import img_as_ubyte

    grey = img_as_ubyte(rgb2gray(image))
    return entropy(grey, np.ones((size, size), bool), mask=_rank_mask(mask)).astype(np.float32)


ENTROPY_SIZE = 11


def feature_halo(median_radius: int, use_entropy: bool) -> int:
    """Context a window needs on each side so that its features equal the whole image's.

    Parameters
    ----------
    median_radius : int, px
    use_entropy : bool

    Returns
    -------
    int, px
        The widest filter's reach.

    Examples
    --------
    >>> feature_halo(5, False), feature_halo(2, True)
    (5, 5)
    """
    return max(int(median_radius), ENTROPY_SIZE // 2 if use_entropy else 0)


def pixel_features(
    image: np.ndarray, median_radius: int = 5, use_entropy: bool = False, mask: np.ndarray | None = None
) -> np.ndarray:
    """Per-pixel features of phase 2.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
    median_radius : int, px
    use_entropy : bool
        Add the 11 x 11 entropy band.
    mask : (H, W) ndarray of bool, optional
        Valid pixels, see :func:`median_rgb`.

    Returns
    -------
    (H, W, F) ndarray
        Median RGB (F = 3, uint8), plus entropy (F = 4, float32).
    """
    med = median_rgb(image, median_radius, mask)
    if not use_entropy:
        return med
    ent = local_entropy(image, ENTROPY_SIZE, mask)
    return np.concatenate([med.astype(np.float32), ent[..., None]], axis=-1)
