"""Tiling: crop to whole tiles, split into tiles, purity labelling, tile values back to rasters.

Everything here is vectorised with reshapes (no Python loop per tile). Tiles are numbered in
row-major order over the tile grid: tile ``k`` covers rows ``(k // n_cols) * tile`` and columns
``(k % n_cols) * tile``. As in the original method, images are cropped (never padded) to a whole
number of tiles; the pixels cut off along the bottom and right edges get no tile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "grid_shape",
    "crop_to_tiles",
    "to_tiles",
    "tiles_to_raster",
    "tile_class_counts",
    "purity_labels",
    "count_pure_tiles",
]


def grid_shape(shape: tuple[int, ...], tile: int) -> tuple[int, int]:
    """Return the number of whole tiles in an image.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W, ...)``, px.
    tile : int, px

    Returns
    -------
    (n_rows, n_cols) : tuple of int

    Examples
    --------
    >>> grid_shape((120, 230, 3), 50)
    (2, 4)
    """
    if tile < 1:
        raise ValueError(f"tile size must be >= 1 px, got {tile}")
    return int(shape[0]) // tile, int(shape[1]) // tile


def crop_to_tiles(arr: np.ndarray, tile: int) -> np.ndarray:
    """Crop to a whole number of tiles (the bottom and right margins are cut off).

    Parameters
    ----------
    arr : (H, W) or (H, W, C) ndarray
    tile : int, px

    Returns
    -------
    (n_rows * tile, n_cols * tile[, C]) ndarray
        A view of ``arr``.
    """
    nr, nc = grid_shape(arr.shape, tile)
    return arr[: nr * tile, : nc * tile]


def to_tiles(arr: np.ndarray, tile: int) -> np.ndarray:
    """Split an image into tiles, row-major over the tile grid.

    Parameters
    ----------
    arr : (H, W, C) or (H, W) ndarray
    tile : int, px

    Returns
    -------
    (n_tiles, tile, tile, C) or (n_tiles, tile, tile) ndarray
        Same dtype as the input; a C-contiguous copy.
    """
    a = crop_to_tiles(np.asarray(arr), tile)
    nr, nc = grid_shape(a.shape, tile)
    rest = a.shape[2:]
    t = a.reshape((nr, tile, nc, tile) + rest).swapaxes(1, 2)
    return np.ascontiguousarray(t.reshape((nr * nc, tile, tile) + rest))


def tiles_to_raster(
    values: np.ndarray, grid: tuple[int, int], tile: int, out_shape: tuple[int, ...] | None = None, fill: float = 0
) -> np.ndarray:
    """Paint one value per tile back onto a raster.

    Parameters
    ----------
    values : (n_tiles,) or (n_tiles, K) array_like
        Row-major over ``grid`` (e.g. class codes, or per-tile probability vectors).
    grid : (n_rows, n_cols)
    tile : int, px
    out_shape : tuple of int, optional
        ``(H, W)`` of the result; the margin no tile reaches gets ``fill``.
    fill : scalar

    Returns
    -------
    (n_rows * tile, n_cols * tile[, K]) ndarray, or out_shape[:2] (+ K) when given
    """
    v = np.asarray(values)
    nr, nc = grid
    if v.shape[0] != nr * nc:
        raise ValueError(f"{v.shape[0]} tile values do not fit a {nr} x {nc} tile grid")
    g = v.reshape((nr, nc) + v.shape[1:])
    r = np.repeat(np.repeat(g, tile, axis=0), tile, axis=1)
    if out_shape is None:
        return r
    H, W = int(out_shape[0]), int(out_shape[1])
    if r.shape[0] > H or r.shape[1] > W:
        raise ValueError(f"out_shape {out_shape} is smaller than the tiled area {r.shape[:2]}")
    out = np.full((H, W) + v.shape[1:], fill, dtype=v.dtype)
    out[: r.shape[0], : r.shape[1]] = r
    return out


def tile_class_counts(label: np.ndarray, tile: int, codes: Sequence[int]) -> np.ndarray:
    """Pixels of each class in each tile.

    Parameters
    ----------
    label : (H, W) ndarray of int
    tile : int, px
    codes : sequence of int
        The classes to count, in the order of the columns.

    Returns
    -------
    (n_tiles, len(codes)) ndarray of int64
    """
    t = to_tiles(np.asarray(label), tile).reshape(-1, tile * tile)
    return np.stack([(t == c).sum(axis=1) for c in codes], axis=1).astype(np.int64)


def purity_labels(
    label: np.ndarray,
    tile: int,
    codes: Sequence[int],
    purity: float = 0.9,
    max_unlabelled: float = 0.1,
) -> np.ndarray:
    """Purity labelling of the original method.

    A tile gets class ``c`` when at least ``purity`` of its pixels are ``c`` **and** no more than
    ``max_unlabelled`` of them are unlabelled (0). Other tiles get 0 (not used for training).

    Parameters
    ----------
    label : (H, W) ndarray of int
        Class raster.
    tile : int, px
    codes : sequence of int
        The labelled class codes (0 is ignored).
    purity : float
        In (0, 1].
    max_unlabelled : float
        Largest share of unlabelled pixels.

    Returns
    -------
    (n_tiles,) ndarray of int64
        Class codes, row-major over the tile grid.

    Examples
    --------
    >>> import numpy as np
    >>> lab = np.ones((10, 20), np.uint8)
    >>> lab[0, 10:] = 2                  # the second tile is 90% class 1
    >>> purity_labels(lab, 10, [1, 2]).tolist()
    [1, 1]
    """
    if not 0 < purity <= 1:
        raise ValueError(f"purity must be in (0, 1], got {purity}")
    codes = [int(c) for c in codes if int(c) != 0]
    if not codes:
        return np.zeros(np.prod(grid_shape(label.shape, tile)), np.int64)
    counts = tile_class_counts(label, tile, [0] + codes)
    npix = tile * tile
    unl = counts[:, 0]
    cls = counts[:, 1:]
    best = cls.argmax(axis=1)
    best_n = cls[np.arange(len(cls)), best]
    eps = 1e-9 * npix
    ok = (best_n >= purity * npix - eps) & (unl <= max_unlabelled * npix + eps)
    return np.where(ok, np.asarray(codes, np.int64)[best], 0)


def count_pure_tiles(
    label: np.ndarray, tile: int, codes: Sequence[int], purity: float = 0.9, max_unlabelled: float = 0.1
) -> dict:
    """Return the number of pure tiles of each class.

    Parameters
    ----------
    label : (H, W) ndarray of int
    tile : int, px
    codes : sequence of int
    purity, max_unlabelled : float
        As in :func:`purity_labels`.

    Returns
    -------
    dict of int to int
        ``{code: tiles}`` for each code (zeros included).
    """
    lab = purity_labels(label, tile, codes, purity, max_unlabelled)
    return {int(c): int((lab == c).sum()) for c in codes if int(c) != 0}
