"""Small patches of a map absorbed by their surroundings.

Tiles (the tile rules' ``min_tiles``) and pixels (``smallest_element``, the original method's despeckling).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label

__all__ = ["modal_filter_regions", "despeckle"]


def modal_filter_regions(grid: np.ndarray, min_size: int) -> np.ndarray:
    """Absorb small groups of tiles into the class around them.

    Parameters
    ----------
    grid : (R, C) ndarray of int
        Class codes of the tiles.
    min_size : int, tiles
        Connected (4-neighbour) regions of one class smaller than this take the most common class
        among the cells bordering them.

    Returns
    -------
    (R, C) ndarray of int
    """
    out = grid.copy()
    if min_size <= 1:
        return out
    for _ in range(3):  # a few passes: a filled region may merge with another small one
        regions = label(out + 1, connectivity=1, background=0)
        sizes = np.bincount(regions.ravel())
        small = np.flatnonzero(sizes < min_size)
        small = small[small > 0]
        if len(small) == 0:
            break
        for r in small:
            m = regions == r
            ring = ndi.binary_dilation(m) & ~m
            vals = out[ring]
            if len(vals):
                out[m] = np.bincount(vals).argmax()
    return out


def despeckle(class_map: np.ndarray, smallest: int) -> np.ndarray:
    """Absorb small patches of a class map.

    Parameters
    ----------
    class_map : (H, W) ndarray of uint8
    smallest : int, px
        Patches (8-connected, one class) smaller than this take the class of the nearest pixel of
        a larger patch.

    Returns
    -------
    (H, W) ndarray of uint8
    """
    if smallest <= 1:
        return class_map
    small = np.zeros(class_map.shape, bool)
    for c in np.unique(class_map):
        lab = label(class_map == c, connectivity=2)
        sizes = np.bincount(lab.ravel())
        sizes[0] = smallest  # background of this class mask is never "small"
        small |= sizes[lab] < smallest
    if not small.any() or small.all():
        return class_map
    _, (ri, ci) = ndi.distance_transform_edt(small, return_indices=True)
    return class_map[ri, ci]
