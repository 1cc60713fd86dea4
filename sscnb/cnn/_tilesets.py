"""Training tiles: the pure tiles of labelled images, and how they are split for validation.

A tile is kept when at least ``purity`` of its pixels are one class and no more than 10% are
unlabelled (:func:`sscnb.data.purity_labels`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from sscnb.data import _tiles as _tiles
from sscnb.data._classes import ClassScheme
from sscnb.data._pairs import read_pair
from sscnb.errors import NoTilesError

__all__ = ["NoTilesError", "TileSet", "collect_tiles", "split_indices"]


@dataclass
class TileSet:
    """Pure tiles of a set of images.

    ``x``: ``(n, tile, tile, 3) uint8``; ``y``: ``(n,)`` class codes of the shared scheme;
    ``river``: ``(n,)`` river names; ``image``: ``(n,)`` image names.
    """

    x: np.ndarray
    y: np.ndarray
    river: np.ndarray
    image: np.ndarray
    tile_size: int
    purity: float

    def __len__(self):
        return len(self.y)

    def counts(self, scheme: ClassScheme | None = None):
        """Tiles per river x class as a DataFrame (class names as columns when ``scheme`` given)."""
        df = pd.crosstab(pd.Series(self.river, name="river"), pd.Series(self.y, name="class"))
        if scheme is not None:
            df.columns = [scheme.name(c) for c in df.columns]
        return df

    def subset(self, idx) -> TileSet:
        """Return the tiles at ``idx``, with their rivers and images."""
        return TileSet(self.x[idx], self.y[idx], self.river[idx], self.image[idx], self.tile_size, self.purity)

    def save_npz(self, path) -> None:
        """Write the tiles to a compressed ``.npz`` file (:meth:`load_npz` reads it back)."""
        np.savez_compressed(
            path,
            x=self.x,
            y=self.y,
            river=self.river.astype(str),
            image=self.image.astype(str),
            tile_size=self.tile_size,
            purity=self.purity,
        )

    @classmethod
    def load_npz(cls, path) -> TileSet:
        """Read tiles written by :meth:`save_npz` (no pickled objects are read)."""
        with np.load(path, allow_pickle=False) as z:
            return cls(
                z["x"],
                z["y"],
                z["river"].astype(object),
                z["image"].astype(object),
                int(z["tile_size"]),
                float(z["purity"]),
            )


def collect_tiles(records: list, scheme: ClassScheme, tile_size: int = 50, purity: float = 0.9, progress: bool = True) -> TileSet:
    """Read labelled images and keep their pure tiles (see :func:`sscnb.data.purity_labels`).

    Parameters
    ----------
    records : list of ImageRecord
        From :func:`sscnb.data.find_pairs`; images without a label are left out.
    scheme : ClassScheme
    tile_size : int, px
    purity : float
    progress : bool

    Returns
    -------
    TileSet

    Raises
    ------
    NoTilesError
        Naming the purity and tile size, when no tile qualifies.
    """
    xs, ys, rivers, images = [], [], [], []
    labelled = [r for r in records if r.has_label]
    if not labelled:
        raise NoTilesError("none of the images has a label (SCLS_*.tif): nothing to train on")
    for rec in tqdm(labelled, desc="tiling images", disable=not progress):
        img, lab = read_pair(rec, scheme, tile_size)
        assert lab is not None  # a labelled record
        y = _tiles.purity_labels(lab, tile_size, scheme.labelled_codes, purity)
        keep = y > 0
        if keep.any():
            xs.append(_tiles.to_tiles(img, tile_size)[keep])
            ys.append(y[keep])
            rivers.append(np.full(keep.sum(), rec.river, dtype=object))
            images.append(np.full(keep.sum(), rec.name, dtype=object))
    if not ys:
        raise NoTilesError(
            f"no tile of {tile_size} x {tile_size} px is at least {purity:.0%} one class (with <= 10% "
            f"unlabelled) in {len(labelled)} labelled image(s): lower purity or tile_size, or label "
            "larger areas"
        )
    return TileSet(
        np.concatenate(xs), np.concatenate(ys).astype(np.int64), np.concatenate(rivers), np.concatenate(images), tile_size, purity
    )


def split_indices(tiles: TileSet, val_fraction: float, seed: int = 0, by: str = "tile") -> tuple[np.ndarray, np.ndarray]:
    """Split tiles into training and validation.

    Parameters
    ----------
    tiles : TileSet
    val_fraction : float
        0 puts every tile in training.
    seed : int
    by : {"tile", "image"}
        A stratified random split of tiles, or whole images held out (tiles of one image are alike,
        so this is the stricter test).

    Returns
    -------
    train_idx, val_idx : ndarray of int
    """
    n = len(tiles)
    if not val_fraction:
        return np.arange(n), np.arange(0)
    rng = np.random.default_rng(seed)
    if by == "image":
        names = np.unique(tiles.image)
        rng.shuffle(names)
        n_val = max(1, int(round(val_fraction * len(names))))
        if n_val >= len(names):
            raise ValueError(f"cannot hold out {n_val} of {len(names)} images")
        val = np.isin(tiles.image, names[:n_val])
        return np.flatnonzero(~val), np.flatnonzero(val)
    if by != "tile":
        raise ValueError(f"split by 'tile' or 'image', not {by!r}")
    tr, va = [], []
    for c in np.unique(tiles.y):
        idx = np.flatnonzero(tiles.y == c)
        rng.shuffle(idx)
        k = int(round(val_fraction * len(idx)))
        k = min(max(k, 1), len(idx) - 1) if len(idx) > 1 else 0
        va.append(idx[:k])
        tr.append(idx[k:])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(va))
