"""What the CNN has seen.

The brightness and colour of its training images, recorded in the model card, and a check that names an input
image far outside them ("much brighter than anything the CNN was trained on").

Each statistic is computed per 50 px tile and summarised per image; the card records, for each
statistic, the range (``min``, ``max``) and median of the per-image values over the training
images (their pure training tiles). An input image whose value lies outside that range by more
than ``max(MARGIN * range, floor)`` is far outside: a survey brighter, darker, more or less
saturated, redder or bluer than any the CNN learnt from. The margin is wide on purpose: images of
one river differ a good deal (StMarg's training images span a median brightness of 53-129), and a
warning on every ordinary image would teach users to ignore it.

With the model card's statistics, :func:`normalising_gamma` gives the gamma that brings an image's
dark tones (water, shade) back to those the CNN was trained on (1 when they are inside the
training range): the ``normalise`` setting (:class:`sscnb.params.SSCParams`) applies it to the CNN's
input only; phase 2 still learns the image's own colours.
"""

from __future__ import annotations

import warnings

import numpy as np

from sscnb.data._tiles import to_tiles
from sscnb.errors import InputShiftWarning

__all__ = [
    "STATISTICS",
    "MARGIN",
    "InputShiftWarning",
    "tile_statistics",
    "summarise",
    "image_statistics",
    "MIN_CORRECTION",
    "training_statistics",
    "merge_statistics",
    "far_outside",
    "check_image",
    "normalising_gamma",
    "apply_gamma",
]

#: name -> (what it measures, floor of the margin, word for "above", word for "below")
STATISTICS = {
    "brightness": ("median tile brightness (luma, 0-255)", 20.0, "brighter", "darker"),
    "dark_tones": (
        "10th percentile of tile brightness (water and shade, 0-255)",
        20.0,
        "brighter in its dark tones (water, shade)",
        "darker in its dark tones (water, shade)",
    ),
    "red_share": ("median share of red in a tile's R+G+B", 0.05, "redder (warmer)", "less red"),
    "blue_share": ("median share of blue in a tile's R+G+B", 0.06, "bluer (cooler)", "less blue (warmer)"),
    "saturation": ("median saturation of a tile's mean colour ((max-min)/max)", 0.1, "more saturated", "less saturated (greyer)"),
    "contrast": (
        "median standard deviation of brightness within a tile",
        8.0,
        "more textured (sharper)",
        "smoother (blurrier or flatter)",
    ),
}
#: how far beyond the training images' range (as a share of that range) an image is "far outside"
MARGIN = 0.5
#: gamma corrections nearer 1 than this factor are not applied (images of one survey differ by as much)
MIN_CORRECTION = 1.15
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def tile_statistics(x: np.ndarray) -> dict:
    """Brightness and colour of each tile.

    Parameters
    ----------
    x : (n, tile, tile, 3) ndarray of uint8

    Returns
    -------
    dict of str to (n,) ndarray of float32
        ``brightness`` (mean luma), ``red_share`` and ``blue_share`` (of the tile's mean colour),
        ``saturation`` (``(max - min) / max`` of the mean colour), ``contrast`` (standard deviation
        of luma within the tile, over every other row and column).

    Examples
    --------
    >>> t = np.zeros((1, 2, 2, 3), np.uint8); t[..., 0] = 200; t[..., 2] = 100
    >>> s = tile_statistics(t)
    >>> round(float(s["brightness"][0]), 1), round(float(s["red_share"][0]), 3), float(s["saturation"][0])
    (71.2, 0.667, 1.0)
    """
    n = len(x)
    out = {k: np.zeros(n, np.float32) for k in ("brightness", "red_share", "blue_share", "saturation", "contrast")}
    step = 2048
    for i in range(0, n, step):  # in blocks: bounded memory for large strips
        b = x[i : i + step]
        # the sum of each tile's colours, row sums first: the same integers, 10 times faster than one
        # reduction over the tile's pixels
        rows = b.reshape(len(b), b.shape[1], -1).sum(axis=1, dtype=np.uint32).reshape(len(b), -1, 3)
        m = rows.sum(axis=1).astype(np.float32) / (b.shape[1] * b.shape[2])
        luma = b[:, ::2, ::2].reshape(len(b), -1, 3).astype(np.float32) @ _LUMA  # every 4th pixel: enough for a spread
        s = m.sum(axis=1) + 1e-6
        mx, mn = m.max(axis=1), m.min(axis=1)
        out["brightness"][i : i + step] = m @ _LUMA
        out["contrast"][i : i + step] = luma.std(axis=1)
        out["red_share"][i : i + step] = m[:, 0] / s
        out["blue_share"][i : i + step] = m[:, 2] / s
        out["saturation"][i : i + step] = (mx - mn) / np.maximum(mx, 1.0)
    return out


def summarise(per_tile: dict) -> dict:
    """One image's statistics from its tiles' (:func:`tile_statistics`, valid tiles only).

    Parameters
    ----------
    per_tile : dict of str to ndarray

    Returns
    -------
    dict of str to float
        The keys of :data:`STATISTICS`; empty when there is no tile.

    Examples
    --------
    >>> summarise({"brightness": np.arange(11.0), "red_share": np.full(11, .3), "blue_share": np.full(11, .3),
    ...            "saturation": np.full(11, .2), "contrast": np.full(11, 9.)})["dark_tones"]
    1.0
    """
    b = np.asarray(per_tile["brightness"], np.float64)
    if b.size == 0:
        return {}
    out = {"brightness": float(np.median(b)), "dark_tones": float(np.percentile(b, 10))}
    for k in ("red_share", "blue_share", "saturation", "contrast"):
        out[k] = float(np.median(np.asarray(per_tile[k], np.float64)))
    return out


def image_statistics(image: np.ndarray, tile: int = 50, mask: np.ndarray | None = None) -> dict:
    """Return an image's statistics over its whole tiles (those wholly valid under ``mask``).

    Parameters
    ----------
    image : (H, W, 3) ndarray of uint8
    tile : int
    mask : (H, W) ndarray of bool, optional

    Returns
    -------
    dict of str to float
    """
    x = to_tiles(image, tile)
    if mask is not None:
        x = x[to_tiles(mask, tile).reshape(len(x), -1).all(axis=1)]
    return summarise(tile_statistics(x))


def training_statistics(x: np.ndarray, image: np.ndarray, min_tiles: int = 20) -> dict:
    """Return the card's record of the training tiles' brightness and colour.

    Parameters
    ----------
    x : (n, tile, tile, 3) ndarray of uint8
        The training tiles.
    image : (n,) array of str
        The image each tile comes from. Images with fewer than ``min_tiles`` tiles are pooled
        together as one (their own statistics would be noise).
    min_tiles : int

    Returns
    -------
    dict
        ``{"n_images": int, "n_tiles": int, "statistics": {name: {"min", "median", "max"}}}``.
    """
    per = tile_statistics(x)
    image = np.asarray(image).astype(str)
    names, counts = np.unique(image, return_counts=True)
    groups = [image == n for n, c in zip(names, counts, strict=True) if c >= min_tiles]
    small = np.isin(image, names[counts < min_tiles])
    if small.sum() >= min_tiles or not groups:
        groups.append(small if groups else np.ones(len(image), bool))
    summaries = [summarise({k: v[g] for k, v in per.items()}) for g in groups if g.any()]
    stats = (
        {
            k: {
                "min": float(min(s[k] for s in summaries)),
                "median": float(np.median([s[k] for s in summaries])),
                "max": float(max(s[k] for s in summaries)),
            }
            for k in STATISTICS
        }
        if summaries
        else {}
    )
    return {"n_images": len(summaries), "n_tiles": int(len(x)), "statistics": stats}


def merge_statistics(a: dict | None, b: dict | None) -> dict | None:
    """Return the statistics of a model trained on both tile sets: the union of the ranges.

    A fine-tuned model was trained on its parent's tiles and its new river's.

    Parameters
    ----------
    a, b : dict or None
        From :func:`training_statistics` (None: not recorded).

    Returns
    -------
    dict or None
    """
    if not a or not b:
        return a or b
    sa, sb = a["statistics"], b["statistics"]
    stats = {
        k: {
            "min": min(sa[k]["min"], sb[k]["min"]),
            "max": max(sa[k]["max"], sb[k]["max"]),
            "median": float(np.median([sa[k]["median"], sb[k]["median"]])),
        }
        for k in sa
        if k in sb
    }
    return {"n_images": a["n_images"] + b["n_images"], "n_tiles": a["n_tiles"] + b["n_tiles"], "statistics": stats}


def far_outside(stats: dict, trained: dict) -> dict:
    """Return the statistics of one image that are far outside the training images'.

    Parameters
    ----------
    stats : dict
        From :func:`image_statistics` or :func:`summarise`.
    trained : dict
        The card's ``input_statistics`` (:func:`training_statistics`).

    Returns
    -------
    dict of str to tuple
        ``{name: (value, low, high, word)}`` for each statistic beyond ``[low, high]``, the training
        range widened by the margin; ``word`` says which way ("brighter", "less blue (warmer)").

    Examples
    --------
    >>> trained = {"statistics": {"brightness": {"min": 60.0, "median": 100.0, "max": 120.0}}}
    >>> far_outside({"brightness": 160.0}, trained)
    {'brightness': (160.0, 30.0, 150.0, 'brighter')}
    >>> far_outside({"brightness": 140.0}, trained)
    {}
    """
    out = {}
    for name, rng in (trained or {}).get("statistics", {}).items():
        if name not in stats or name not in STATISTICS:
            continue
        _, floor, up, down = STATISTICS[name]
        margin = max(MARGIN * (rng["max"] - rng["min"]), floor)
        low, high = rng["min"] - margin, rng["max"] + margin
        v = float(stats[name])
        if v > high or v < low:
            out[name] = (v, low, high, up if v > high else down)
    return out


def check_image(stats: dict, trained: dict | None, name: str, warn: bool = True) -> list[str]:
    """Say (and warn) when an image is far outside the brightness and colour of the CNN's training images.

    Parameters
    ----------
    stats : dict
        The image's statistics.
    trained : dict or None
        The card's ``input_statistics``; None (a model saved before they were recorded) checks nothing.
    name : str
        The image, named in the message.
    warn : bool
        Also issue an :class:`InputShiftWarning` per finding.

    Returns
    -------
    list of str
        One message per statistic far outside, e.g. "StMarg_1: much brighter than anything the CNN was
        trained on (median tile brightness (luma, 0-255) 153.4; its training images 53.2-128.8) ...".
    """
    msgs: list[str] = []
    if trained is None:
        return msgs
    for stat, (v, _low, _high, word) in far_outside(stats, trained).items():
        rng = trained["statistics"][stat]
        msgs.append(
            f"{name}: much {word} than anything the CNN was trained on ({STATISTICS[stat][0]} {v:.3g}; its "
            f"training images {rng['min']:.3g}-{rng['max']:.3g}). Expect more errors in its maps; label "
            "some of its tiles and adapt the model (notebook 07), or add such images to the training set"
        )
        if warn:
            warnings.warn(msgs[-1], InputShiftWarning, stacklevel=2)
    return msgs


def normalising_gamma(stats: dict, trained: dict | None) -> float:
    """Return the gamma that brings an image's dark tones to those of the training images, when outside their range.

    Water (and shade) are the dark tones of river imagery, and they are what a brighter or darker
    survey moves most, so the 10th percentile of tile brightness (``dark_tones``) is matched: when
    it lies outside the training images' range, the gamma maps it onto the training images' median.
    Inside the range nothing changes, nor when the gamma would be within :data:`MIN_CORRECTION` of 1
    (just outside a narrow range: the synthetic sample data's validation images would get 1.06-1.10,
    changes of a size that images of one survey show anyway). Measured with
    ``benchmarks/robustness_benchmark.py``.

    Parameters
    ----------
    stats : dict
        The image's statistics (``dark_tones``).
    trained : dict or None
        The card's ``input_statistics``.

    Returns
    -------
    float
        ``g`` with ``255 * (d / 255) ** g`` equal to the training median; 1.0 when the image's
        ``d`` is inside the range, ``g`` is within :data:`MIN_CORRECTION` of 1, or nothing is recorded.

    Examples
    --------
    >>> trained = {"statistics": {"dark_tones": {"min": 20.0, "median": 63.75, "max": 90.0}}}
    >>> normalising_gamma({"dark_tones": 60.0}, trained)
    1.0
    >>> normalising_gamma({"dark_tones": 127.5}, trained)   # (1/2)**g = 1/4
    2.0
    >>> near = {"statistics": {"dark_tones": {"min": 20.0, "median": 80.0, "max": 90.0}}}
    >>> normalising_gamma({"dark_tones": 92.0}, near)       # just outside: g = 1.14, too small a change
    1.0
    """
    rng = (trained or {}).get("statistics", {}).get("dark_tones")
    d = stats.get("dark_tones")
    if not rng or d is None or rng["min"] <= d <= rng["max"] or not 0 < d < 255 or not 0 < rng["median"] < 255:
        return 1.0
    g = float(np.log(rng["median"] / 255.0) / np.log(d / 255.0))
    return 1.0 if max(g, 1.0 / g) < MIN_CORRECTION else g


def apply_gamma(x: np.ndarray, gamma: float) -> np.ndarray:
    """``255 * (x / 255) ** gamma``, rounded, as uint8 (``x`` itself when gamma is 1).

    Parameters
    ----------
    x : ndarray of uint8
    gamma : float

    Returns
    -------
    ndarray of uint8

    Examples
    --------
    >>> apply_gamma(np.array([0, 64, 255], np.uint8), 0.5).tolist()
    [0, 128, 255]
    """
    if gamma == 1.0:
        return x
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** gamma + 0.5, 0, 255).astype(np.uint8)
    return lut[x]
