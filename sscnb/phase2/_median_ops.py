"""The exact median filter of :mod:`sscnb.phase2`, in ``keras.ops``: on the accelerator Keras runs on.

On a GPU machine the compiled CPU filter was the slowest stage of ``sscnb map`` (5.5 s of the
12 000 px mosaic's 12.4 s on an H100 with 16 cores), while the GPU sat idle beside it. Here the
same numbers come from a radix select, which suits a GPU: for every pixel, the median's 8 bits
are found from the highest down, each by counting the footprint's values below a candidate
(``m`` is the median when ``#{v < m} <= k < #{v <= m}``, ``k = pop // 2``). That is 9 counts over
the footprint per pixel (the population, then one per bit) and no histogram, sort or branch. On
an H100 an 8 Mpx strip of three bands takes 32 ms on the GPU and 42 ms from the host's arrays to
the host's (the compiled CPU filter: 249 ms on 16 cores).

Definition and padding are those of :mod:`sscnb.phase2` (and scikit-image's rank median): the
value of rank ``pop // 2`` among the valid pixels of the footprint inside the image, 0 where there
is none; outside pixels and invalid ones are padded with 256, which no candidate (at most 255)
exceeds, so they never count as below it. Written once in ``keras.ops`` (backend-neutral: JAX,
TensorFlow or PyTorch), compiled by the backend's own compiler where it has one.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from sscnb.phase2._median import OUTSIDE, row_segments

#: rows and columns of the padded image are rounded up to these, so that the strips of a survey
#: (the first and last with less context) share one compiled program
ROUND_ROWS, ROUND_COLS = 64, 128
#: pixels filtered in one call, at most: larger images go in row blocks
BLOCK_PX = 16_000_000

_compiled: dict = {}


def _median_padded(image, valid, offsets, r, counts="int16"):
    """Medians ``(h, W, B)`` uint8 of ``image`` ``(h + 2r, W + 2r, B)`` uint8 where ``valid`` ``(h + 2r, W + 2r)``.

    The bits are found in a loop (``ops.fori_loop``) rather than unrolled: on an H100, XLA compiled
    the unrolled program in 14-21 s and this one in 3.6 s; it runs an 8 Mpx strip in 32 ms instead
    of 5 ms, which the CNN's work beside it hides.
    """
    from sscnb.cnn._keras import _keras

    ops = _keras().ops
    h, w = image.shape[0] - 2 * r, image.shape[1] - 2 * r
    p = ops.where(ops.expand_dims(valid, -1), ops.cast(image, counts), OUTSIDE)
    window = [p[j : j + h, r + dx : r + dx + w] for j, dx in offsets]

    def count(below):
        return sum(ops.cast(below(v), counts) for v in window)

    pop = count(lambda v: ops.less(v, OUTSIDE))
    k = pop // 2

    def next_bit(i, med):
        cand = med + ops.cast(ops.left_shift(1, 7 - i), counts)
        return ops.where(count(lambda v: ops.less(v, cand)) <= k, cand, med)

    med = ops.fori_loop(0, 8, next_bit, ops.zeros_like(pop))
    return ops.cast(ops.where(pop > 0, med, 0), "uint8")


def _program(footprint: np.ndarray):
    """Return the filter for one footprint, compiled by the Keras backend's compiler (JAX, TensorFlow)."""
    from sscnb.cnn._keras import _keras

    backend = _keras().backend.backend()
    lo, hi = row_segments(footprint)
    key = (backend, footprint.shape, tuple(lo), tuple(hi))
    if key not in _compiled:
        r = len(lo) // 2
        offsets = tuple((j, int(dx)) for j in range(len(lo)) for dx in range(lo[j], hi[j] + 1))
        counts = "int16" if len(offsets) < 2**15 else "int32"  # a disk of radius 100 has 31 417 px
        fn: Any = partial(_median_padded, offsets=offsets, r=r, counts=counts)
        if backend == "jax":
            import jax

            fn = jax.jit(fn)
        elif backend == "tensorflow":
            import tensorflow as tf

            fn = tf.function(fn, jit_compile=True)  # one trace per shape: XLA needs them static
        _compiled[key] = fn  # PyTorch: the ops run one by one, on its GPU
    return _compiled[key]


def median_bands(image: np.ndarray, footprint: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Median-filter every band of an image on Keras's device.

    Parameters
    ----------
    image : (H, W, B) ndarray of uint8
    footprint : (2r + 1, 2r + 1) ndarray of bool
        Row-convex (see :func:`sscnb.phase2.row_segments`); a disk is.
    mask : (H, W) ndarray of bool, optional
        Valid pixels: only they enter a median.

    Returns
    -------
    (H, W, B) ndarray of uint8
        The same numbers as :func:`sscnb.phase2.median_rows` (and scikit-image's
        ``filters.rank.median``) of each band.

    An image of more than :data:`BLOCK_PX` pixels is filtered in row blocks of equal height (each
    with ``r`` rows of context), which bounds the device's memory (about 40 bytes per pixel).
    """
    from sscnb.cnn._keras import _keras

    fp = np.asarray(footprint, bool)
    fn = _program(fp)
    r = fp.shape[0] // 2
    H, W, B = image.shape
    if image.size == 0:
        return np.array(image, np.uint8)
    block = -(-H // -(-H * W // BLOCK_PX))  # rows per call: the fewest calls of at most BLOCK_PX
    rows = -(-(block + 2 * r) // ROUND_ROWS) * ROUND_ROWS  # the padding beyond is outside the image too
    cols = -(-(W + 2 * r) // ROUND_COLS) * ROUND_COLS
    valid = np.ones((H, W), bool) if mask is None else np.asarray(mask, bool)
    out = np.empty(image.shape, np.uint8)
    for y0 in range(0, H, block):
        y1 = min(H, y0 + block)
        a, b = max(0, y0 - r), min(H, y1 + r)
        padded = np.zeros((rows, cols, B), np.uint8)
        inside = np.zeros((rows, cols), bool)
        top = a - (y0 - r)
        padded[top : top + b - a, r : r + W] = image[a:b]
        inside[top : top + b - a, r : r + W] = valid[a:b]
        out[y0:y1] = _keras().ops.convert_to_numpy(fn(padded, inside))[: y1 - y0, :W]
    return out
