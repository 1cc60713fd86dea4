"""An image strip by strip: the strips of whole tile rows, the next one read ahead, jobs in the background.

The strips of whole tile rows, the next strip read ahead in a thread, a strip's features computed in
another while the CNN works, and the scratch files in which phase 1 keeps every pixel's features of a
raster for pass 2 (an image in memory keeps them in :class:`sscnb.pipeline.MemoryFeatures`).
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import numpy as np

__all__ = ["strips", "Scratch"]


def read_ahead(strips, read):
    """Yield ``(y0, y1, read(y0, y1), seconds waited)`` for each strip, reading the next one ahead.

    The next strip is read (and decoded), or computed, in a background thread while the caller works on this
    one: two strips in memory at most. Whatever ``read`` uses (a dataset, the scratch files) is only ever used
    by that one thread. Pass 1 reads the input so; pass 2 and the CNN map compute their next strip so while
    the caller writes this one (GDAL's writes stay in the caller's thread).
    """
    if not strips:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sscnb-read") as ex:
        fut = ex.submit(read, *strips[0])
        for i, (y0, y1) in enumerate(strips):
            t0 = time.perf_counter()
            data = fut.result()
            waited = time.perf_counter() - t0
            if i + 1 < len(strips):
                fut = ex.submit(read, *strips[i + 1])
            yield y0, y1, data, waited


class Background:
    """One job at a time in a background thread, in the order given; or each job at once.

    ``submit`` first waits for the job before it, so at most one is in flight and a job that
    failed raises in the caller at the next ``submit``, at ``wait`` or at the end of the ``with``.
    With ``threaded=False``, ``submit`` runs the job in the caller's thread and returns when it
    is done. Pass 1 computes a strip's features here while the CNN classifies the strip's tiles
    on an accelerator.
    """

    def __init__(self, name: str, threaded: bool = True):
        self._ex = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) if threaded else None
        self._fut: Future | None = None
        self.waited = 0.0  # seconds the caller waited for a job to end

    def submit(self, fn, *args) -> None:
        self.wait()
        if self._ex is None:
            fn(*args)
            return
        self._fut = self._ex.submit(fn, *args)

    def wait(self) -> None:
        if self._fut is not None:
            t0 = time.perf_counter()
            fut, self._fut = self._fut, None
            fut.result()
            self.waited += time.perf_counter() - t0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            if exc[0] is None:
                self.wait()
        finally:
            if self._ex is not None:
                self._ex.shutdown(wait=True, cancel_futures=True)


def strips(height: int, width: int, tile: int, window_mpx: float) -> list[tuple[int, int]]:
    """Return row ranges ``[(y0, y1)]`` covering the image, each a whole number of tile rows.

    The last one also takes the margin below the last tile row.

    Parameters
    ----------
    height, width : int, px
    tile : int, px
    window_mpx : float
        About how many megapixels a strip holds (at least one tile row).

    Returns
    -------
    list of (int, int)

    Examples
    --------
    >>> strips(250, 100, 50, 0.01)   # 100 rows of 100 px a strip; the 50 left are one more
    [(0, 100), (100, 200), (200, 250)]
    >>> strips(120, 100, 50, 1.0)    # the 20 px margin below the last tile row joins the strip
    [(0, 120)]
    """
    rows = int(window_mpx * 1e6 // max(width, 1)) // tile * tile
    rows = max(tile, rows)
    n_tile_rows = height // tile
    bounds = list(range(0, n_tile_rows * tile, rows)) + [height]
    bounds = sorted(set(bounds))
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < tile:  # fold a sub-tile remainder into the last strip
        bounds.pop(-2)
    return list(pairwise(bounds))


class Scratch:
    """Per-pixel features and valid mask of the whole input, kept on disk between the passes."""

    def __init__(self, folder: Path, shape, n_feat: int, dtype):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.W = shape[1]
        self.F = n_feat
        self.dtype = np.dtype(dtype)
        # both stay open across the strips of both passes; close() ends them
        self.feat = open(folder / "features.raw", "w+b")  # noqa: SIM115
        self.valid = open(folder / "valid.raw", "w+b")  # noqa: SIM115

    def write(self, y0, feats, valid):
        self.feat.seek(y0 * self.W * self.F * self.dtype.itemsize)
        self.feat.write(np.ascontiguousarray(feats, self.dtype).data.cast("B"))  # no copy
        self.valid.seek(y0 * self.W)
        self.valid.write(np.ascontiguousarray(valid, np.uint8).data.cast("B"))

    def flush(self):
        """Hand what was written to the files: after pass 1, before any read."""
        self.feat.flush()
        self.valid.flush()

    def read(self, y0, y1):
        """Return the features and the valid mask of rows ``y0:y1``.

        Each read opens the files anew, so it shares no file position with the writer's handles or with
        another thread (pass 2 and the CNN map read their next strip in :func:`read_ahead`'s thread).
        """
        n = (y1 - y0) * self.W
        with open(self.folder / "features.raw", "rb") as fh:
            fh.seek(y0 * self.W * self.F * self.dtype.itemsize)
            f = np.fromfile(fh, self.dtype, n * self.F).reshape(y1 - y0, self.W, self.F)
        return f, self.read_valid(y0, y1)

    def read_valid(self, y0, y1):
        """Return the valid mask of rows ``y0:y1``."""
        n = (y1 - y0) * self.W
        with open(self.folder / "valid.raw", "rb") as fh:
            fh.seek(y0 * self.W)
            return np.fromfile(fh, np.uint8, n).reshape(y1 - y0, self.W).astype(bool)

    def close(self):
        self.feat.close()
        self.valid.close()
        shutil.rmtree(self.folder, ignore_errors=True)
