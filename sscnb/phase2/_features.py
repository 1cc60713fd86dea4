"""Per-pixel features for phase 2.

Default: the three RGB bands, each median-filtered with a disk of radius ``median_radius``
(5 px, as in the original method). Optional 4th band: the local entropy of the grey image in an
11 x 11 window (the original's texture feature). ``features="multiscale"`` adds
:data:`N_MULTISCALE` bands of smoothed intensity, edges, texture and saturation at five scales
and smoothed hue at two (:func:`multiscale_features`, the filter bank of ilastik's pixel classification in a small form).
Features are returned raw (uint8 for the medians alone, float32 otherwise); standardisation
belongs to the classifier (fitted on its training pixels).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from skimage.color import rgb2gray
from skimage.filters.rank import entropy
from skimage.morphology import disk
from skimage.util import img_as_ubyte

from sscnb.params import FEATURE_SETS
from sscnb.phase2 import _gauss

__all__ = [
    "median_rgb",
    "local_entropy",
    "multiscale_features",
    "pixel_features",
    "feature_halo",
    "bands_recipe",
    "feature_bands",
    "FEATURE_SETS",
    "MULTISCALE_SIGMAS",
    "HUE_SIGMAS",
    "N_MULTISCALE",
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
    return max(1, int(os.environ.get("SSCNB_THREADS") or os.cpu_count() or 1))


def _on_every_core(fn, jobs: list) -> None:
    """Run ``fn(job)`` for every job in :func:`feature_threads` threads.

    For work that releases the GIL: the compiled filters, the forest's tree walks, NumPy's products.

    With one thread the jobs run in turn, without a pool.
    """
    threads = min(feature_threads(), len(jobs))
    if threads > 1:
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(fn, jobs))
    else:
        for job in jobs:
            fn(job)


#: where the median filter may run (``$SSCNB_MEDIAN``): see :func:`median_device`
MEDIAN_DEVICES = ("auto", "cpu", "accelerator")


def median_device() -> str:
    """Where the median filter runs: ``"accelerator"`` or ``"cpu"``.

    ``$SSCNB_MEDIAN`` decides: ``cpu``, ``accelerator`` (the device Keras computes on, whatever it
    is: a GPU, or the CPU through XLA, to compare the two), or ``auto`` (unset): the accelerator
    when Keras is already in use (a CNN was loaded) and computes on a GPU or TPU, else the CPU.
    Both give the same numbers (tested). On an H100 machine with 16 cores, the CPU's filter was the
    slowest stage of ``sscnb map`` while the GPU waited; on the CPU alone, the compiled filter
    (:mod:`sscnb.phase2`) is faster than XLA's program.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        ``$SSCNB_MEDIAN`` is not one of :data:`MEDIAN_DEVICES`.
    """
    choice = os.environ.get("SSCNB_MEDIAN", "").strip().lower() or "auto"
    if choice not in MEDIAN_DEVICES:
        raise ValueError(f"SSCNB_MEDIAN must be one of {', '.join(MEDIAN_DEVICES)}, got {choice!r}")
    if choice != "auto":
        return choice
    from sscnb.cnn import _keras as _keras

    if _keras._KERAS is None:  # Keras not in use: importing it only to look would take seconds
        return "cpu"
    from sscnb.cnn._predict import accelerator

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

    On a GPU machine the filter runs on the GPU (:func:`median_device`, :mod:`sscnb.phase2`).
    On the CPU it is :mod:`sscnb.phase2` (compiled, 4-6 times faster than scikit-image's per
    thread). Each band is filtered in row blocks of :data:`BLOCK_ROWS` (with ``radius`` rows of
    context), all blocks in parallel threads (:func:`feature_threads`; the compiled filter
    releases the GIL): the same numbers as one call on the whole band, on every core.
    """
    if radius <= 0:
        return np.ascontiguousarray(image)

    from sscnb.phase2._median import median_rows

    fp = disk(int(radius))
    if median_device() == "accelerator":
        from sscnb.phase2._median_ops import median_bands

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

    _on_every_core(run, blocks)
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
    grey = img_as_ubyte(rgb2gray(image))
    return entropy(grey, np.ones((size, size), bool), mask=_rank_mask(mask)).astype(np.float32)


ENTROPY_SIZE = 11


#: scales (px) of :func:`multiscale_features`: intensity, edges, texture and saturation
MULTISCALE_SIGMAS = (1.0, 2.0, 4.0, 8.0, 16.0)
#: scales (px) of the hue's smoothed cosine and sine in :func:`multiscale_features`
HUE_SIGMAS = (2.0, 8.0)
#: the Gaussian kernels reach this many sigmas
_TRUNCATE = 3.0
#: bands per scale: smoothed intensity, gradient magnitude, local standard deviation, smoothed saturation
_PER_SCALE = ("intensity", "edges", "texture", "saturation")
N_MULTISCALE = len(MULTISCALE_SIGMAS) * len(_PER_SCALE) + 2 * len(HUE_SIGMAS)
#: rows of one job of :func:`multiscale_features` (one scale's bands of those rows)
_MULTISCALE_ROWS = 64


def _reach(sigma: float) -> int:
    """Return the radius (px) of scipy's Gaussian kernel of ``sigma`` truncated at :data:`_TRUNCATE`."""
    return int(_TRUNCATE * float(sigma) + 0.5)


def multiscale_features(image: np.ndarray) -> np.ndarray:
    """Smoothed intensity, edges, texture and saturation of each pixel at five scales, and its smoothed hue at two.

    For each sigma of :data:`MULTISCALE_SIGMAS` (1, 2, 4, 8 and 16 px): the Gaussian-smoothed
    intensity (the mean of R, G and B), its gradient magnitude (Gaussian derivatives), its local
    standard deviation (``sqrt(G(I**2) - G(I)**2)``) and the Gaussian-smoothed saturation of HSV
    (``(max - min) / max`` of R, G, B, times 255). Then for each sigma of :data:`HUE_SIGMAS` (2 and
    8 px): the Gaussian-smoothed cosine and sine of the HSV hue's angle (a circle: red at 0 and
    at 1 turn are one colour). The 16 px scale and the hue lifted phase 2 on the user's labels by
    0.03 on both Wildcat Creek frames (docs/phase2_features.md). scipy.ndimage's separable Gaussian filters (the
    border reflected), compiled and run on blocks of rows in parallel (:mod:`sscnb.phase2._gauss`):
    the same numbers, bit for bit. A pixel's bands depend only on the pixels within
    :func:`feature_halo` of it, so a window read with that halo gives the whole image's numbers.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8

    Returns
    -------
    (H, W, N_MULTISCALE) ndarray of float32
        Bands scale by scale, in the order intensity, edges, texture, saturation; then the hue's
        cosine and sine, scale by scale.

    Examples
    --------
    >>> import numpy as np
    >>> flat = np.full((20, 30, 3), (200, 100, 0), np.uint8)
    >>> f = multiscale_features(flat)
    >>> f.shape, float(f[10, 15, 0]), float(f[10, 15, 1]), float(f[10, 15, 2]), float(f[10, 15, 3])
    ((20, 30, 24), 100.0, 0.0, 0.0, 255.0)
    >>> [round(float(v), 3) for v in f[10, 15, 20:]]  # orange: 30 degrees of hue, at 2 px and at 8 px
    [0.866, 0.5, 0.866, 0.5]
    """
    bands = _gauss.planes(image)
    H = bands[0].shape[0]
    out = np.empty(image.shape[:2] + (N_MULTISCALE,), np.float32)

    def block(job):
        k, y0 = job
        y1 = min(H, y0 + _MULTISCALE_ROWS)
        if k < len(MULTISCALE_SIGMAS):
            _gauss.scale_rows(bands, y0, y1, MULTISCALE_SIGMAS[k], _TRUNCATE, out, k)
        else:  # the hue's cosine and sine at one scale
            j = k - len(MULTISCALE_SIGMAS)
            for i in range(2):
                _gauss.smooth_rows(bands[3 + i], y0, y1, HUE_SIGMAS[j], _TRUNCATE, out, 4 * len(MULTISCALE_SIGMAS) + 2 * j + i)

    _on_every_core(
        block, [(k, y0) for k in range(len(MULTISCALE_SIGMAS) + len(HUE_SIGMAS)) for y0 in range(0, H, _MULTISCALE_ROWS)]
    )
    return out


def bands_recipe(features: str) -> dict:
    """Return what a results recipe records of the feature bands beyond the settings: the number of multiscale bands.

    The multiscale set grew (16 bands, then 24 with the hue and the 16 px scale): results made with
    another set are other results, so a batch never mixes them on resuming. Nothing for median RGB,
    whose bands never changed.

    Parameters
    ----------
    features : str
        One of :data:`FEATURE_SETS`.

    Returns
    -------
    dict

    Examples
    --------
    >>> bands_recipe("median_rgb"), bands_recipe("multiscale")
    ({}, {'multiscale_bands': 24})
    """
    _check_feature_set(features)
    return {} if features == "median_rgb" else {"multiscale_bands": N_MULTISCALE}


def _check_feature_set(features: str) -> None:
    if features not in FEATURE_SETS:
        raise ValueError(f"features must be one of {list(FEATURE_SETS)}, got {features!r}")


def feature_halo(median_radius: int, use_entropy: bool, features: str = "median_rgb") -> int:
    """Context a window needs on each side so that its features equal the whole image's.

    Parameters
    ----------
    median_radius : int, px
    use_entropy : bool
    features : str
        One of :data:`FEATURE_SETS`.

    Returns
    -------
    int, px
        The widest filter's reach.

    Examples
    --------
    >>> feature_halo(5, False), feature_halo(2, True), feature_halo(5, False, "multiscale")
    (5, 5, 48)
    """
    _check_feature_set(features)
    reach = [int(median_radius), ENTROPY_SIZE // 2 if use_entropy else 0]
    if features != "median_rgb":
        reach.append(_reach(max(MULTISCALE_SIGMAS + HUE_SIGMAS)))
    return max(reach)


def feature_bands(use_entropy: bool, features: str = "median_rgb") -> tuple[int, type]:
    """Return the number of feature bands and their dtype.

    Parameters
    ----------
    use_entropy : bool
    features : str
        One of :data:`FEATURE_SETS`.

    Returns
    -------
    (int, type)
        Bands of :func:`pixel_features`, and ``numpy.uint8`` (median RGB alone) or ``numpy.float32``.

    Examples
    --------
    >>> feature_bands(False), feature_bands(True), feature_bands(False, "multiscale")
    ((3, <class 'numpy.uint8'>), (4, <class 'numpy.float32'>), (27, <class 'numpy.float32'>))
    """
    _check_feature_set(features)
    n = 3 + int(use_entropy) + (N_MULTISCALE if features != "median_rgb" else 0)
    return n, (np.uint8 if n == 3 else np.float32)


def pixel_features(
    image: np.ndarray,
    median_radius: int = 5,
    use_entropy: bool = False,
    mask: np.ndarray | None = None,
    features: str = "median_rgb",
) -> np.ndarray:
    """Per-pixel features of phase 2.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
    median_radius : int, px
    use_entropy : bool
        Add the 11 x 11 entropy band.
    mask : (H, W) ndarray of bool, optional
        Valid pixels, see :func:`median_rgb` (the multiscale bands see every pixel, as a window
        read with the halo does).
    features : str
        ``"median_rgb"``, or ``"multiscale"`` (or ``"multiscale_cnn"``) to add :func:`multiscale_features`.

    Returns
    -------
    (H, W, F) ndarray
        Median RGB (F = 3, uint8); then entropy (F = 4) and the multiscale bands (F + 24), all
        float32 when there are more than the three medians (:func:`feature_bands`).
    """
    _check_feature_set(features)
    med = median_rgb(image, median_radius, mask)
    if not use_entropy and features == "median_rgb":
        return med
    bands = [med.astype(np.float32)]
    if use_entropy:
        bands.append(local_entropy(image, ENTROPY_SIZE, mask)[..., None])
    if features != "median_rgb":  # "multiscale_cnn": the CNN's bands join after phase 1 (sscnb.phase2._cnnbands)
        bands.append(multiscale_features(image))
    return np.concatenate(bands, axis=-1)
