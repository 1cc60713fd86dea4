"""Separable Gaussian filters of float32 bands, compiled with Numba: the multiscale bands' engine.

The same kernels as ``scipy.ndimage.gaussian_filter`` (order 0, and order 1 for the derivatives of
``gaussian_gradient_magnitude``), truncated at ``truncate`` sigmas, the border mirrored as scipy's
``mode="reflect"`` (``d c b a | a b c d | d c b a``, repeated where the kernel is longer than the
band). Each pass sums in float64 in scipy's order and stores float32, axis 0 first, as scipy does:
the bands equal scipy's bit for bit (tested).

Why not scipy itself: its filters hold the GIL, so the 16 multiscale bands of the first release took one
core about 4 s per 6 Mpx image. Here a scale's filters share their passes down the columns (the intensity is
smoothed once for its mean, its edges and its texture), each row is finished while its passes are in
the cache, blocks of rows run in parallel threads, and the inner loops run along rows, where the
compiler vectorises them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.color import rgb2hsv

from sscnb.phase2._median import _compiled  # without the GIL, cached on disk where a cache folder is writable


def gaussian_kernels(sigma: float, truncate: float) -> tuple[np.ndarray, np.ndarray]:
    """Return scipy's Gaussian correlation weights of orders 0 and 1, ``2r + 1`` of each.

    ``r = int(truncate * sigma + 0.5)``; the order-0 weights sum to 1; the order-1 weights are
    ``x / sigma**2`` times them at offset ``x`` (scipy's ``gaussian_filter1d(order=1)``: the
    derivative kernel, reversed for correlation).

    Parameters
    ----------
    sigma : float, px
    truncate : float

    Returns
    -------
    smooth, derivative : (2r + 1,) ndarray of float64

    Examples
    --------
    >>> g, d = gaussian_kernels(1.0, 3.0)
    >>> len(g), round(float(g.sum()), 6), round(float(d[4] + d[2]), 6)
    (7, 1.0, 0.0)
    """
    r = int(truncate * float(sigma) + 0.5)
    x = np.arange(-r, r + 1, dtype=np.float64)
    phi = np.exp(-0.5 / (sigma * sigma) * x * x)
    phi /= phi.sum()
    return phi, x / (sigma * sigma) * phi


def _mirror(i, n):  # pragma: no cover - compiled
    """Index ``i`` of a band of ``n`` mirrored as scipy's ``reflect``."""
    if n == 1:
        return 0
    i = i % (2 * n)
    return i if i < n else 2 * n - 1 - i


def _planes(rgb, intensity, square, saturation, hue_cos, hue_sin):  # pragma: no cover - compiled
    """Fill the intensity (mean of R, G, B), its square, the HSV saturation (times 255) and the hue's cosine and sine.

    Intensity and saturation in float32 as NumPy computes them: ``(R + G + B) / 3`` and
    ``255 (max - min) / max`` (0 where max is 0). The hue as ``skimage.color.rgb2hsv`` computes it
    (in turns; 0 where max equals min), then ``cos`` and ``sin`` of its angle.
    """
    H, W, _ = rgb.shape
    three, full = np.float32(3.0), np.float32(255.0)
    for y in range(H):
        for x in range(W):
            r, g, b = np.float32(rgb[y, x, 0]), np.float32(rgb[y, x, 1]), np.float32(rgb[y, x, 2])
            m = (r + g + b) / three
            intensity[y, x] = m
            square[y, x] = m * m
            hi, lo = max(r, g, b), min(r, g, b)
            saturation[y, x] = full * (hi - lo) / hi if hi > 0 else np.float32(0.0)
            delta = np.float64(hi) - np.float64(lo)
            turn = 0.0
            if delta > 0:  # scikit-image's order: blue's formula where blue is the maximum, then green's, then red's
                if b == hi:
                    turn = 4.0 + (np.float64(r) - np.float64(g)) / delta
                elif g == hi:
                    turn = 2.0 + (np.float64(b) - np.float64(r)) / delta
                else:
                    turn = (np.float64(g) - np.float64(b)) / delta
                turn = (turn / 6.0) % 1.0
            hue_cos[y, x] = np.cos(2.0 * np.pi * turn)
            hue_sin[y, x] = np.sin(2.0 * np.pi * turn)


def _down_row(src, y, w, odd, acc, out):  # pragma: no cover - compiled
    """Correlate ``src`` (H, W) with ``w`` down the columns at row ``y`` into ``out`` (W,) float32."""
    H, W = src.shape
    r = len(w) // 2
    c = src[_mirror(y, H)]
    for x in range(W):
        acc[x] = w[r] * c[x]
    for j in range(1, r + 1):
        a = src[_mirror(y - j, H)]
        b = src[_mirror(y + j, H)]
        wj = w[r + j]
        if odd:
            for x in range(W):
                acc[x] += wj * (np.float64(b[x]) - np.float64(a[x]))
        else:
            for x in range(W):
                acc[x] += wj * (np.float64(b[x]) + np.float64(a[x]))
    for x in range(W):
        out[x] = acc[x]


def _across_row(row, w, odd, pad, acc, out):  # pragma: no cover - compiled
    """Correlate ``row`` (W,) float32 with ``w`` along it into ``out`` (W,) float32."""
    W = len(row)
    r = len(w) // 2
    for x in range(W):
        pad[x + r] = row[x]
    for x in range(-r, 0):
        pad[x + r] = row[_mirror(x, W)]
    for x in range(W, W + r):
        pad[x + r] = row[_mirror(x, W)]
    for x in range(W):
        acc[x] = w[r] * pad[x + r]
    for j in range(1, r + 1):
        wj = w[r + j]
        hi = pad[r + j : r + j + W]  # views: the loops below vectorise
        lo = pad[r - j : r - j + W]
        if odd:
            for x in range(W):
                acc[x] += wj * (hi[x] - lo[x])
        else:
            for x in range(W):
                acc[x] += wj * (hi[x] + lo[x])
    for x in range(W):
        out[x] = acc[x]


def _scale_rows(intensity, square, saturation, y0, y1, g, d, out, k):  # pragma: no cover - compiled
    """Write rows ``y0:y1`` of one scale's bands into ``out[y0:y1, :, 4k:4k + 4]`` (see :func:`scale_rows`)."""
    W = intensity.shape[1]
    r = len(g) // 2
    pad = np.empty(W + 2 * r, np.float64)
    acc = np.empty(W, np.float64)
    down = np.empty((4, W), np.float32)  # smoothed and derived down the columns: intensity, square, saturation
    across = np.empty((5, W), np.float32)
    for y in range(y0, y1):
        _down_row(intensity, y, g, False, acc, down[0])
        _down_row(intensity, y, d, True, acc, down[1])
        _down_row(square, y, g, False, acc, down[2])
        _down_row(saturation, y, g, False, acc, down[3])
        _across_row(down[0], g, False, pad, acc, across[0])  # the smoothed intensity
        _across_row(down[0], d, True, pad, acc, across[1])  # d/dx: along the rows of the column-smoothed band
        _across_row(down[1], g, False, pad, acc, across[2])  # d/dy: smoothed along the rows of the column derivative
        _across_row(down[2], g, False, pad, acc, across[3])
        _across_row(down[3], g, False, pad, acc, across[4])
        for x in range(W):
            m = across[0, x]
            gx, gy = across[1, x], across[2, x]
            var = across[3, x] - m * m
            out[y, x, 4 * k] = m
            out[y, x, 4 * k + 1] = np.sqrt(gy * gy + gx * gx)  # scipy's order: axis 0's square first
            out[y, x, 4 * k + 2] = np.sqrt(var if var > 0 else np.float32(0.0))
            out[y, x, 4 * k + 3] = across[4, x]


def _smooth_rows(src, y0, y1, g, out, band):  # pragma: no cover - compiled
    """Write rows ``y0:y1`` of ``src`` smoothed by ``g`` (down the columns, then along the rows) into ``out[..., band]``."""
    W = src.shape[1]
    r = len(g) // 2
    pad = np.empty(W + 2 * r, np.float64)
    acc = np.empty(W, np.float64)
    down = np.empty(W, np.float32)
    across = np.empty(W, np.float32)
    for y in range(y0, y1):
        _down_row(src, y, g, False, acc, down)
        _across_row(down, g, False, pad, acc, across)
        for x in range(W):
            out[y, x, band] = across[x]


_mirror = _compiled(_mirror)
_planes = _compiled(_planes)
_down_row = _compiled(_down_row)
_across_row = _compiled(_across_row)
_scale_rows = _compiled(_scale_rows)
_smooth_rows = _compiled(_smooth_rows)


def planes(image: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return the planes the multiscale bands filter: intensity, its square, saturation, and the hue's cosine and sine.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8

    Returns
    -------
    intensity, square, saturation, hue_cos, hue_sin : (H, W) ndarray of float32
        ``(R + G + B) / 3``, its square, ``255 (max - min) / max`` (0 where max is 0), and the
        cosine and sine of the HSV hue's angle (``skimage.color.rgb2hsv``; a grey pixel's hue is 0).

    Examples
    --------
    >>> i, q, s, c, n = planes(np.array([[[200, 100, 0], [0, 0, 0]]], np.uint8))
    >>> i.tolist(), q.tolist(), s.tolist(), [round(float(v), 3) for v in (c[0, 0], n[0, 0], c[0, 1], n[0, 1])]
    ([[100.0, 0.0]], [[10000.0, 0.0]], [[255.0, 0.0]], [0.866, 0.5, 1.0, 0.0])
    """
    rgb = np.ascontiguousarray(image, np.uint8)
    out = tuple(np.empty(rgb.shape[:2], np.float32) for _ in range(5))
    _planes(rgb, *out)
    return out


def smooth_rows(plane: np.ndarray, y0: int, y1: int, sigma: float, truncate: float, out: np.ndarray, band: int) -> None:
    """Write rows ``y0:y1`` of ``scipy.ndimage.gaussian_filter(plane, sigma)`` into ``out[y0:y1, :, band]``.

    Parameters
    ----------
    plane : (H, W) ndarray of float32
        The whole plane (rows within the kernel's reach of ``y0:y1`` are read).
    y0, y1 : int
    sigma, truncate : float
    out : (H, W, B) ndarray of float32
    band : int
    """
    g, _ = gaussian_kernels(sigma, truncate)
    _smooth_rows(plane, int(y0), int(y1), g, out, int(band))


def scale_rows(planes: tuple[np.ndarray, ...], y0: int, y1: int, sigma: float, truncate: float, out: np.ndarray, k: int) -> None:
    """Write rows ``y0:y1`` of the four bands of scale ``sigma`` into ``out[y0:y1, :, 4k:4k + 4]``.

    The bands, as scipy computes them of the whole planes: ``gaussian_filter(intensity)``,
    ``gaussian_gradient_magnitude(intensity)``, ``sqrt(max(gaussian_filter(square) - smooth**2, 0))``
    and ``gaussian_filter(saturation)``.

    Parameters
    ----------
    planes : tuple of (H, W) ndarray of float32
        Intensity, its square and saturation of the whole image (:func:`planes`; rows within the
        kernel's reach of ``y0:y1`` are read).
    y0, y1 : int
    sigma, truncate : float
    out : (H, W, B) ndarray of float32
    k : int
        The scale's place: its bands go to ``4k`` to ``4k + 3``.
    """
    g, d = gaussian_kernels(sigma, truncate)
    _scale_rows(planes[0], planes[1], planes[2], int(y0), int(y1), g, d, out, int(k))


def scipy_reference(image: np.ndarray, sigmas: tuple, truncate: float, hue_sigmas: tuple = ()) -> np.ndarray:
    """Return the multiscale bands by ``scipy.ndimage`` and scikit-image, filter by filter: the plain reference.

    What :func:`sscnb.phase2.multiscale_features` computes with its compiled filters (scipy's took one
    core about 4 s per 6 Mpx for 16 bands); tests and ``benchmarks/ssc_benchmark.py`` compare the two.

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
    sigmas : tuple of float
        Scales of the intensity, edges, texture and saturation bands.
    truncate : float
    hue_sigmas : tuple of float
        Scales of the hue's smoothed cosine and sine (``skimage.color.rgb2hsv``).

    Returns
    -------
    (H, W, 4 * len(sigmas) + 2 * len(hue_sigmas)) ndarray of float32
    """
    rgb = np.asarray(image, np.float32)
    intensity = rgb.mean(axis=-1, dtype=np.float32)
    hi, lo = rgb.max(axis=-1), rgb.min(axis=-1)
    saturation = np.where(hi > 0, 255.0 * (hi - lo) / np.maximum(hi, 1.0), 0.0).astype(np.float32)
    bands = []
    for sigma in sigmas:
        kw = {"sigma": sigma, "truncate": truncate, "mode": "reflect", "output": np.float32}
        smooth = ndimage.gaussian_filter(intensity, **kw)
        var = ndimage.gaussian_filter(intensity * intensity, **kw) - smooth * smooth
        edges = ndimage.gaussian_gradient_magnitude(intensity, **kw)
        bands += [smooth, edges, np.sqrt(np.maximum(var, 0.0)), ndimage.gaussian_filter(saturation, **kw)]
    angle = 2 * np.pi * rgb2hsv(np.asarray(image, np.uint8))[..., 0]
    for sigma in hue_sigmas:
        kw = {"sigma": sigma, "truncate": truncate, "mode": "reflect", "output": np.float32}
        bands += [ndimage.gaussian_filter(np.cos(angle).astype(np.float32), **kw)]
        bands += [ndimage.gaussian_filter(np.sin(angle).astype(np.float32), **kw)]
    return np.stack(bands, axis=-1)
