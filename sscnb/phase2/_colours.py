"""The two per-pixel colour steps of ``sscnb map``, compiled with Numba and run on every core.

Pass 1 marks which median-RGB colours occur among a strip's valid pixels (the pixel MLP then
classifies each colour once); pass 2 looks each pixel's colour up in the table of classes. In
NumPy each step is several whole-strip passes in one thread (the packed colour, a boolean pick,
the scatter), and on the 16 slow cores of an H100 machine those single threads became the longest
parts of pass 1 once the median moved to the GPU. Here each is one pass over the pixels, in row
blocks on :func:`sscnb.phase2.feature_threads` threads (the compiled loops release the GIL):
the same results, tested against the NumPy expressions.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from sscnb.phase2._median import _compiled

#: rows of one block, at least: smaller strips are not split
MIN_BLOCK_ROWS = 32


def _mark(rgb, valid, present):  # pragma: no cover - compiled
    """Set ``present[r << 16 | g << 8 | b]`` for every valid pixel; return how many are valid."""
    n = 0
    for y in range(rgb.shape[0]):
        for x in range(rgb.shape[1]):
            if valid[y, x]:
                present[(np.int64(rgb[y, x, 0]) << 16) | (np.int64(rgb[y, x, 1]) << 8) | rgb[y, x, 2]] = True
                n += 1
    return n


def _lookup(rgb, valid, lut, out):  # pragma: no cover - compiled
    """``out = lut[r << 16 | g << 8 | b]`` where valid, else 0."""
    for y in range(rgb.shape[0]):
        for x in range(rgb.shape[1]):
            if valid[y, x]:
                out[y, x] = lut[(np.int64(rgb[y, x, 0]) << 16) | (np.int64(rgb[y, x, 1]) << 8) | rgb[y, x, 2]]
            else:
                out[y, x] = 0


_mark = _compiled(_mark)
_lookup = _compiled(_lookup)


def _in_blocks(fn, rgb: np.ndarray, *arrays) -> list:
    """Run ``fn(rgb[a:b], *(x[a:b] for x in arrays))`` over row blocks, on every core; return the results."""
    from sscnb.phase2._features import feature_threads

    H = rgb.shape[0]
    n = max(1, min(feature_threads(), H // MIN_BLOCK_ROWS))
    bounds = np.linspace(0, H, n + 1).astype(int)
    blocks = [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    if len(blocks) <= 1:
        return [fn(rgb, *arrays)]
    with ThreadPoolExecutor(max_workers=len(blocks), thread_name_prefix="sscnb-colours") as ex:
        return list(ex.map(lambda ab: fn(rgb[ab[0] : ab[1]], *(x[ab[0] : ab[1]] for x in arrays)), blocks))


def mark_colours(rgb: np.ndarray, valid: np.ndarray, present: np.ndarray) -> int:
    """Mark the colours of the valid pixels in ``present``.

    Parameters
    ----------
    rgb : (H, W, 3) ndarray of uint8
    valid : (H, W) ndarray of bool
    present : (2**24,) ndarray of bool
        Indexed by :func:`sscnb.phase2.pack_rgb`; set to True where a valid pixel has that colour
        (in place; nothing is cleared).

    Returns
    -------
    int
        The valid pixels.
    """
    return int(sum(_in_blocks(lambda c, v: _mark(c, v, present), _uint8_rgb(rgb), np.asarray(valid, bool))))


def colour_lookup(rgb: np.ndarray, valid: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Each valid pixel's entry in a colour table.

    Parameters
    ----------
    rgb : (H, W, 3) ndarray of uint8
    valid : (H, W) ndarray of bool
    lut : (2**24,) ndarray of uint8
        Indexed by :func:`sscnb.phase2.pack_rgb`.

    Returns
    -------
    (H, W) ndarray of uint8
        ``lut[pack_rgb(rgb)]`` where valid, 0 elsewhere.
    """
    rgb = _uint8_rgb(rgb)
    out = np.empty(rgb.shape[:2], np.uint8)
    _in_blocks(lambda c, v, o: _lookup(c, v, lut, o), rgb, np.asarray(valid, bool), out)
    return out


def _uint8_rgb(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) array of colours, got shape {rgb.shape}")
    return rgb.astype(np.uint8, copy=False)
