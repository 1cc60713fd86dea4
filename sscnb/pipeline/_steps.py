"""One image through the method: the steps, over strips of rows, that every path runs.

::

    read -> tiles -> CNN (phase 1) -> input check -> features -> phase 2's choice and fit -> predict

An :class:`ImageJob` holds what the steps share: the source (:class:`ImageSource`, an image held in
memory, read as one strip; or a raster read in strips of ``window_mpx`` megapixels), the CNN, the
settings, and where the features wait between the passes (:class:`MemoryFeatures`, or the scratch
files of :class:`sscnb.pipeline.Scratch` on disk). :func:`sscnb.ssc.classify_image` runs the steps
on an image in memory, :func:`sscnb.maps.map_raster` on a raster, writing each strip of the maps as it
comes: the same code, so a change to the method is made once.

When the whole image is one strip, the input check comes before the CNN, which then runs once on
the corrected input; over several strips, the check needs every strip's statistics, and the CNN
runs again only where it corrects the input (a rare case).
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from sscnb.cnn import _inputstats as _inputstats
from sscnb.cnn._files import predict_codes
from sscnb.cnn._predict import predict_with_hidden
from sscnb.data import _tiles as _tiles
from sscnb.errors import ClassShrinkWarning
from sscnb.params import SSCParams
from sscnb.phase2 import _cnnbands as _cnnbands
from sscnb.phase2 import _colours as _colours
from sscnb.phase2 import _features as _features
from sscnb.phase2 import _pixel as _pixel
from sscnb.phase2._choose import TILE_MAP, Phase2Choice, choose_phase2
from sscnb.phase2._patches import modal_filter_regions
from sscnb.pipeline import _strips as _strips

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sscnb.cnn._files import LoadedModel
    from sscnb.data._classes import ClassScheme
    from sscnb.phase2._choose import PixelLabels

__all__ = [
    "ImageSource",
    "MemoryFeatures",
    "ImageJob",
    "phase1",
    "correct_input",
    "choose",
    "final_strips",
    "cnn_strip",
    "colour_table",
    "class_counts",
    "tile_classes",
    "predict_tiles_masked",
    "apply_tile_rules",
    "check_input",
    "shrinking_classes",
    "SHRINK_FRACTION",
]

logger = logging.getLogger("sscnb.pipeline")

SHRINK_FRACTION = 0.5
_STATS = ("brightness", "red_share", "blue_share", "saturation", "contrast")


class ImageSource:
    """An image held in memory, read as one strip (rows ``r0:r1`` are views, not copies).

    ``mask``: ``(H, W) bool``, the valid pixels, or None where every pixel is.
    """

    def __init__(self, image: np.ndarray, mask: np.ndarray | None = None):
        self.image, self.mask = image, mask
        self.shape = image.shape[:2]

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def read(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Return rows ``r0:r1`` of the image and of its mask (None: every pixel valid)."""
        return self.image[r0:r1], None if self.mask is None else self.mask[r0:r1]


class MemoryFeatures:
    """Every pixel's features and the valid mask, kept in memory between the passes.

    The in-memory twin of :class:`sscnb.pipeline.Scratch` (same methods): the features of a strip
    that covers the whole image are kept as they are, without a copy.
    """

    def __init__(self, shape: tuple[int, int]):
        self.H, self.W = shape
        self.feats: np.ndarray | None = None
        self.valid: np.ndarray | None = None

    def write(self, y0: int, feats: np.ndarray, valid: np.ndarray) -> None:
        if y0 == 0 and len(feats) == self.H:
            self.feats, self.valid = feats, valid
            return
        if self.feats is None or self.valid is None:
            self.feats = np.zeros((self.H, self.W, feats.shape[-1]), feats.dtype)
            self.valid = np.zeros((self.H, self.W), bool)
        self.feats[y0 : y0 + len(feats)] = feats
        self.valid[y0 : y0 + len(feats)] = valid

    def flush(self) -> None:
        return None

    def read(self, y0: int, y1: int) -> tuple[np.ndarray, np.ndarray]:
        assert self.feats is not None, "read before phase 1 wrote the features"
        assert self.valid is not None
        return self.feats[y0:y1], self.valid[y0:y1]

    def read_valid(self, y0: int, y1: int) -> np.ndarray:
        assert self.valid is not None, "read before phase 1 wrote the features"
        return self.valid[y0:y1]

    def close(self) -> None:
        self.feats = self.valid = None


@dataclass
class ImageJob:
    """One image going through the steps: what they read, and what phase 1 fills in.

    ``source`` has ``read(r0, r1) -> (rgb, valid or None)`` and is a context manager (opened once per
    pass); ``store`` keeps the features (``write``, ``read``, ``read_valid``, ``flush``, ``close``).
    ``keep_proba``: also keep every tile's probabilities (``proba``, ``classes``), as an image in memory
    does. ``info`` gathers what the steps found (the input check, the tile classes, phase 2's choice).
    """

    name: str
    source: Any
    shape: tuple[int, int]
    cnn: LoadedModel
    params: SSCParams
    strips: list
    store: Any
    progress: bool = False
    labels: PixelLabels | None = None
    keep_proba: bool = False
    tile_codes: Any = None  # (rows, cols) class codes, filled in by phase 1
    confidence: Any = None  # (rows, cols) top-class probability, -1 where no whole valid tile
    proba: Any = None  # (rows, cols, C) with keep_proba
    classes: Any = None  # the codes of proba's C columns
    present: Any = None  # (2**24,) the median-RGB colours that occur in the valid pixels
    n_valid: int = 0
    gamma: float | None = None  # the CNN input's gamma, once the input check has chosen it
    acts: Any = None  # (rows, cols, D) the CNN's last hidden layer, for features "multiscale_cnn"
    # (rows, cols, k) those reduced (:meth:`cnn_bands`), made once phase 1 is done
    _bands: Any = field(default=None, init=False, repr=False)
    tile_stats: dict = field(default_factory=lambda: {k: [] for k in _STATS})
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        self.tile = self.cnn.tile_size
        self.H, self.W = self.shape
        self.grid = _tiles.grid_shape((self.H, self.W), self.tile)
        self.tile_codes = np.zeros(self.grid, np.uint8)
        self.confidence = np.full(self.grid, -1.0, np.float32)
        self.present = np.zeros(_pixel.N_RGB, bool)

    def bar(self, desc: str):
        return tqdm(total=self.H, desc=f"{self.name}: {desc}", unit="row", disable=not self.progress, leave=False)

    def strip_tiles(self, rgb: np.ndarray, valid: np.ndarray, first_row: int, tr0: int, tr1: int):
        """Return the whole tiles of tile rows tr0..tr1 of a strip read from ``first_row``, and which are wholly valid."""
        rows = slice(tr0 * self.tile - first_row, tr1 * self.tile - first_row)
        x = _tiles.to_tiles(rgb[rows, : self.grid[1] * self.tile], self.tile)
        return x, _tiles.to_tiles(valid[rows, : self.grid[1] * self.tile], self.tile).reshape(len(x), -1).all(axis=1)

    def run_cnn(self, x: np.ndarray, vt: np.ndarray, tr0: int, tr1: int) -> None:
        """Classify tile rows tr0..tr1 (``x``, whole valid ones ``vt``) into the tile map."""
        raw = a = None
        if self.params.features == "multiscale_cnn" and vt.any():  # the CNN's hidden layer too, in the same pass
            raw, a = predict_with_hidden(self.cnn.model, x[vt], tta=self.params.tta)
        codes, proba, classes = predict_tiles_masked(self.cnn, x, vt, self.params.tta, raw)
        self.tile_codes[tr0:tr1] = codes.reshape(tr1 - tr0, self.grid[1])
        conf = np.where(vt, proba.max(axis=1) if proba.shape[1] else 0, -1.0)
        self.confidence[tr0:tr1] = conf.reshape(tr1 - tr0, self.grid[1])
        if a is not None:  # tiles that touch nodata keep zeros; cnn_bands() reduces the new activations again
            if self.acts is None:
                self.acts = np.zeros(self.grid + (a.shape[1],), np.float32)
            rows = np.zeros((len(x), a.shape[1]), np.float32)
            rows[vt] = a
            self.acts[tr0:tr1] = rows.reshape(tr1 - tr0, self.grid[1], -1)
            self._bands = None
        if self.keep_proba:
            if self.proba is None:
                self.proba = np.zeros(self.grid + (proba.shape[1],), np.float32)
            self.proba[tr0:tr1] = proba.reshape(tr1 - tr0, self.grid[1], -1)
            self.classes = classes

    def gather(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Return the features of the pixels at (rows, cols), rows sorted: phase 2's training sample."""
        xs: np.ndarray | None = None
        for y0, y1 in self.strips:
            a, b = np.searchsorted(rows, [y0, y1])
            if b > a:
                f, _ = self.store.read(y0, y1)
                if xs is None:
                    xs = np.empty((len(rows), f.shape[-1]), f.dtype)
                xs[a:b] = f[rows[a:b] - y0, cols[a:b]]
        if xs is None:
            f, _ = self.store.read(0, min(1, self.H))
            xs = np.empty((0, f.shape[-1]), f.dtype)
        if self.params.features == "multiscale_cnn":
            xs = np.concatenate([xs, _cnnbands.bands_at(self.cnn_bands(), self.tile, rows, cols)], axis=1)
        return xs

    def cnn_bands(self) -> np.ndarray:
        """Return the tiles' activations reduced to their principal components (:mod:`sscnb.phase2._cnnbands`)."""
        if self._bands is None:
            acts = self.acts if self.acts is not None else np.zeros(self.grid + (1,), np.float32)
            self._bands = _cnnbands.project_activations(acts, self.confidence >= 0)
        return self._bands

    def strip_features(self, y0: int, y1: int, feats: np.ndarray) -> np.ndarray:
        """Return the features of rows y0:y1 that phase 2 classifies: the stored ones, and the CNN's bands where asked."""
        if self.params.features != "multiscale_cnn":
            return feats
        return np.concatenate([feats, _cnnbands.bands_rows(self.cnn_bands(), self.tile, y0, y1, self.W)], axis=-1)


def phase1(job: ImageJob, overlap: bool) -> dict:
    """Phase 1, strip by strip: the tiles through the CNN, their statistics, and every pixel's features stored.

    The next strip is read while this one is worked on; with ``overlap`` a strip's features (and,
    over several strips, the tiles' statistics) are computed in threads of their own beside the CNN,
    else in turn. A raster overlaps them where an accelerator runs the CNN (on 2 CPU cores, pass 1
    of the 12 000 px mosaic took 27.7 and 24.7 s with the overlap, 24.3 and 23.0 s without); an
    image in memory always does (TensorFlow leaves part of the cores idle on its small batches).
    When the image is one strip, the input check (:func:`check_input`) comes before the CNN, which
    then classifies the corrected input once.

    Parameters
    ----------
    job : ImageJob
    overlap : bool
        Compute the features (and statistics) beside the CNN.

    Returns
    -------
    dict
        Seconds in each stage, in the thread that ran it (the stages overlap: ``read``, ``tiles``,
        ``tile_stats``, ``cnn``, ``features``, ``scratch``), and those a thread waited for another's
        job of the strip before (``features_wait``, ``scratch_wait``, ``tile_stats_wait``).
    """
    p, tile, grid, H = job.params, job.tile, job.grid, job.H
    halo = _features.feature_halo(p.median_radius, p.use_entropy, p.features)
    stages = ("read", "tiles", "tile_stats", "cnn", "features", "scratch", "features_wait", "scratch_wait", "tile_stats_wait")
    prof = dict.fromkeys(stages, 0.0)
    one_strip = len(job.strips) == 1

    def store(y0, feats, vcore):  # in the writer's thread, while the next strip's features are computed
        c0 = time.perf_counter()
        job.store.write(y0, feats, vcore)
        job.n_valid += _colours.mark_colours(feats[..., :3], vcore, job.present)
        prof["scratch"] += time.perf_counter() - c0

    def statistics(xv):  # in order: the statistics of every whole valid tile
        c0 = time.perf_counter()
        for k, v in _inputstats.tile_statistics(xv).items():
            job.tile_stats[k].append(v)
        prof["tile_stats"] += time.perf_counter() - c0

    def features(rgb, mask, valid, y0, core):
        c0 = time.perf_counter()
        feats = _features.pixel_features(rgb, p.median_radius, p.use_entropy, mask, p.features)[core]
        prof["features"] += time.perf_counter() - c0
        writer.submit(store, y0, feats, valid[core])

    def read(y0, y1):
        r0, r1 = max(0, y0 - halo), min(H, y1 + halo)
        return r0, job.source.read(r0, r1)

    # the writer is entered first, so it ends last: the features' last job hands it the last strip
    writer = _strips.Background("sscnb-scratch")
    background = _strips.Background("sscnb-features", threaded=overlap)
    stats = _strips.Background("sscnb-tile-stats", threaded=overlap and not one_strip)
    with job.source, job.bar("phase 1") as bar, writer, background as bg, stats:
        for y0, y1, (r0, (rgb, mask)), waited in _strips.read_ahead(job.strips, read):
            prof["read"] += waited  # the time this strip was waited for
            valid = np.ones(rgb.shape[:2], bool) if mask is None else mask
            bg.submit(features, rgb, mask, valid, y0, slice(y0 - r0, y1 - r0))
            tr0, tr1 = y0 // tile, min(y1 // tile, grid[0])
            c1 = time.perf_counter()
            if tr1 > tr0 and grid[1] > 0:
                x, vt = job.strip_tiles(rgb, valid, r0, tr0, tr1)
                prof["tiles"] += time.perf_counter() - c1
                if one_strip:  # the whole image: checked first, so that the CNN runs once
                    c0 = time.perf_counter()
                    _, job.gamma = check_input(x[vt], job.cnn, p, job.name, job.info)
                    prof["tile_stats"] += time.perf_counter() - c0
                    x = _inputstats.apply_gamma(x, job.gamma)
                else:
                    stats.submit(statistics, x[vt])
                c2 = time.perf_counter()
                job.run_cnn(x, vt, tr0, tr1)
                prof["cnn"] += time.perf_counter() - c2
            bar.update(y1 - y0)
        bg.wait()
        writer.wait()
        stats.wait()
        prof["features_wait"], prof["scratch_wait"], prof["tile_stats_wait"] = bg.waited, writer.waited, stats.waited
    job.store.flush()  # pass 2 reads what phase 1 wrote
    return prof


def correct_input(job: ImageJob) -> float:
    """Check the input against the CNN's training images, once phase 1 saw every strip, and run the CNN again if it needs a gamma.

    Nothing to do where phase 1 checked the image before its CNN (one strip).

    Parameters
    ----------
    job : ImageJob
        ``info`` gets ``input_stats``, ``input_check`` and ``cnn_gamma``.

    Returns
    -------
    float
        Seconds spent running the CNN again (0 where it did not).
    """
    if job.gamma is not None:
        return 0.0
    stats = {k: np.concatenate(v) if v else np.zeros(0, np.float32) for k, v in job.tile_stats.items()}
    _, job.gamma = check_input(stats, job.cnn, job.params, job.name, job.info)
    if job.gamma == 1.0:
        return 0.0
    t0 = time.perf_counter()
    tile, grid = job.tile, job.grid
    with job.source, job.bar(f"phase 1 (gamma {job.gamma:.2f})") as bar:
        for y0, y1 in job.strips:
            tr0, tr1 = y0 // tile, min(y1 // tile, grid[0])
            if tr1 > tr0 and grid[1] > 0:
                rgb, mask = job.source.read(tr0 * tile, tr1 * tile)
                valid = np.ones(rgb.shape[:2], bool) if mask is None else mask
                x, vt = job.strip_tiles(rgb, valid, tr0 * tile, tr0, tr1)
                job.run_cnn(_inputstats.apply_gamma(x, job.gamma), vt, tr0, tr1)
            bar.update(y1 - y0)
    return time.perf_counter() - t0


#: where the input check found the image outside the CNN's training and only the tile map judges phase 2, phase 2
#: must give this share of the held-out tiles the CNN's class (or min_agreement, if higher; none at min_agreement 0).
#: Measured (docs/robustness.md): StMarg shifted darker, brighter, warmer or flown lower, 13 images warned of,
#: 0.974-1.000, phase 2 adding 0.004-0.022 to each; Wildcat Creek zero-shot frame 3, 0.855-0.864, phase 2 costing
#: 0.06-0.09
OUTSIDE_MIN_AGREEMENT = 0.95

#: said with phase 2's reason where the input check found the image outside the CNN's training and only the
#: tile map judged phase 2: there phase 2 can reproduce the tile map's errors, pass, and lower the map
_OUTSIDE_TRAINING = (
    "but the image lies outside what the CNN was trained on (the input check), where phase 2 can pass this "
    "check against the tile map and still lower the map: label some of its tiles (notebook 07) so that your "
    "labels judge phase 2, or keep the tile map (min_agreement 1.0)"
)


def outside_training(choice: Phase2Choice, info: dict, min_agreement: float) -> Phase2Choice:
    """Judge phase 2 more strictly on an image outside the CNN's training, where only its tile map judged it.

    There the tile map is least sure, and phase 2 can reproduce its errors, pass ``min_agreement`` and still
    lower the map. Phase 2 is kept only where it gives :data:`OUTSIDE_MIN_AGREEMENT` of the held-out tiles the
    CNN's class (``min_agreement`` if higher; no bar at ``min_agreement`` 0, which takes any phase 2), and its
    reason then adds the caution of ``_OUTSIDE_TRAINING``; below, the tile map is kept.

    Parameters
    ----------
    choice : Phase2Choice
        Phase 2 as the held-out tiles chose it (``clf`` set).
    info : dict
        The image's info, with ``agreement`` per candidate; updated.
    min_agreement : float

    Returns
    -------
    Phase2Choice
        ``choice``, or the tile map kept.

    Examples
    --------
    >>> from sscnb.phase2 import Phase2Choice
    >>> info = {"agreement": {"median RGB": 0.86}, "phase2_reason": "r"}
    >>> outside_training(Phase2Choice(object(), "median RGB", info), info, 0.85).features
    'CNN tile map'
    >>> info = {"agreement": {"median RGB": 0.97}, "phase2_reason": "r"}
    >>> outside_training(Phase2Choice(object(), "median RGB", info), info, 0.85).features
    'median RGB'
    """
    bar = max(OUTSIDE_MIN_AGREEMENT, min_agreement) if min_agreement > 0 else 0.0
    got = info.get("agreement", {}).get(choice.features)
    if got is None or got >= bar:
        info["phase2_reason"] += f"; {_OUTSIDE_TRAINING}"
        return choice
    info.update(
        phase2_choice=TILE_MAP,
        phase2_reason=(
            f"the image lies outside what the CNN was trained on (the input check), where phase 2 can reproduce "
            f"the tile map's errors and still lower the map: there it must give {bar:.0%} of the held-out tiles the "
            f"CNN's class, and it gave {got:.1%} ({choice.features}), so the CNN tile map is kept; label some of "
            "its tiles (notebook 07) so that your labels judge phase 2"
        ),
    )
    return Phase2Choice(None, TILE_MAP, info)


def choose(job: ImageJob, tile_grid: np.ndarray) -> Phase2Choice | None:
    """Phase 2 on the tile map: fitted and checked (:func:`sscnb.phase2.choose_phase2`), or the tile map kept.

    Parameters
    ----------
    job : ImageJob
        ``info`` gets the choice and why (``note`` where the final map is not phase 2's). Where the input
        check warned and held-out tiles judged phase 2, :func:`outside_training` judges it more strictly.
    tile_grid : (rows, cols) ndarray of uint8
        The tile map after the tile rules (:func:`apply_tile_rules`).

    Returns
    -------
    Phase2Choice or None
        None where the CNN classified no tile (the final map is then left unclassified).
    """
    info = job.info
    if not (tile_grid > 0).any():
        info["note"] = "the CNN classified no tile (all below recog_thresh?): the final map is left unclassified"
        logger.warning("%s: %s", job.name, info["note"])
        return None
    choice = choose_phase2(tile_grid, job.confidence, job.tile, job.gather, job.params, job.labels)
    info.update(choice.info)
    if choice.clf is not None and info.get("judge") == "held-out tiles" and info.get("input_check"):
        choice = outside_training(choice, info, job.params.min_agreement)  # measured: docs/new_river.md, "A harm miss"
    if choice.clf is None:
        info["note"] = f"phase 2 not used: {choice.info['phase2_reason']}"
        logger.warning("%s: %s", job.name, info["note"])
    else:
        info.update(choice.clf.info)  # n_train, one_class, ...
        info["phase2_bands"] = int(np.size(choice.clf.mean))  # the features it classifies
        if choice.clf.info.get("one_class"):
            info["note"] = f"the CNN found one class only ({int(choice.clf.classes[0])}): the final map is that class"
            logger.info("%s: %s", job.name, info["note"])
    return choice


def cnn_strip(job: ImageJob, tile_grid: np.ndarray, y0: int, y1: int, valid: np.ndarray) -> np.ndarray:
    """Return rows ``y0:y1`` of the tile map at full resolution.

    Parameters
    ----------
    job : ImageJob
    tile_grid : (rows, cols) ndarray of uint8
    y0, y1 : int
    valid : (y1 - y0, W) ndarray of bool
        The valid pixels; the others are 0, as is the margin that no whole tile covers.

    Returns
    -------
    (y1 - y0, W) ndarray of uint8
    """
    tile, grid, W = job.tile, job.grid, job.W
    tr0, tr1 = y0 // tile, min(-(-y1 // tile), grid[0])
    out = np.zeros((y1 - y0, W), np.uint8)
    if tr1 > tr0:
        painted = _tiles.tiles_to_raster(tile_grid[tr0:tr1].ravel(), (tr1 - tr0, grid[1]), tile)
        painted = painted[y0 - tr0 * tile :]
        h = min(painted.shape[0], y1 - y0)
        out[:h, : painted.shape[1]] = painted[:h]
    out[~valid] = 0
    return out


def colour_table(job: ImageJob, choice: Phase2Choice | None) -> np.ndarray | None:
    """Return phase 2's class of every median-RGB colour of the image, where it classifies median RGB.

    Parameters
    ----------
    job : ImageJob
        ``present``: the colours phase 1 saw; ``info`` gets ``distinct_vectors``.
    choice : Phase2Choice or None

    Returns
    -------
    (2**24,) ndarray of uint8, or None
        None where phase 2 is not used or classifies other features.
    """
    if choice is None or choice.clf is None or choice.features != "median RGB":
        return None
    lut = choice.clf.colour_lut(job.present)
    job.info["distinct_vectors"] = choice.clf.info["distinct_vectors"]
    return lut


def final_strips(
    job: ImageJob, tile_grid: np.ndarray, choice: Phase2Choice | None, lut: np.ndarray | None
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(y0, y1, final map of rows y0:y1)``, each strip classified in a thread while the caller uses the one before.

    Parameters
    ----------
    job : ImageJob
    tile_grid : (rows, cols) ndarray of uint8
    choice : Phase2Choice or None
        None: the final map is left unclassified; no classifier: the tile map stands.
    lut : ndarray, optional
        The colour table of :func:`colour_table`: a median-RGB phase 2 looks each pixel's colour up.

    Yields
    ------
    y0, y1 : int
    final : (y1 - y0, W) ndarray of uint8
        0 outside the valid pixels.
    """

    def classify(y0, y1):
        f, v = job.store.read(y0, y1)
        if choice is None:
            return np.zeros((y1 - y0, job.W), np.uint8)
        if choice.clf is None:
            return cnn_strip(job, tile_grid, y0, y1, v)
        if lut is not None:
            return _colours.colour_lookup(f[..., :3], v, lut)  # 0 outside the valid pixels
        final = choice.predict(job.strip_features(y0, y1, f))  # the columns of the candidate it chose
        final[~v] = 0
        return final

    for y0, y1, final, _ in _strips.read_ahead(job.strips, classify):
        yield y0, y1, final


def predict_tiles_masked(
    cnn: LoadedModel, x: np.ndarray, valid: Any = None, tta: bool = False, raw: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phase 1 on a batch of tiles, skipping tiles that touch nodata.

    Parameters
    ----------
    cnn : sscnb.cnn.LoadedModel
    x : (n, tile, tile, 3) ndarray of uint8
    valid : (n,) ndarray of bool, optional
        Tiles whose every pixel is valid data; the others are not predicted (code 0,
        confidence 0, probabilities 0).
    tta : bool
        Average the CNN's probabilities over each tile's 8 orientations (``SSCParams.tta``).
    raw : (m, K) ndarray, optional
        The CNN's outputs for the valid tiles ``x[valid]``, where already known.

    Returns
    -------
    codes : (n,) ndarray of uint8, shared-scheme class of each tile
    proba : (n, C) ndarray of float32, probabilities of the shared classes ``classes``
    classes : (C,) ndarray of int
    """
    n = len(x)
    if valid is None or valid.all():
        cls, proba, classes = predict_codes(cnn, None, x, tta=tta, raw=raw)
        return cls.astype(np.uint8), proba.astype(np.float32), classes
    classes = cnn.key.to_hierarchical(np.zeros((0, cnn.key.n_outputs), np.float32))[0]
    codes = np.zeros(n, np.uint8)
    proba = np.zeros((n, len(classes)), np.float32)
    if valid.any():
        c, p, classes = predict_codes(cnn, None, x[valid], tta=tta, raw=raw)
        codes[valid] = c
        proba[valid] = p
    return codes, proba, classes


def apply_tile_rules(tile_grid: np.ndarray, confidence: np.ndarray, params: SSCParams) -> np.ndarray:
    """``recog_thresh`` and ``min_tiles`` on the tile map.

    Parameters
    ----------
    tile_grid : (n_rows, n_cols) ndarray of uint8
        Class codes of the tiles.
    confidence : (n_rows, n_cols) ndarray of float
        Top-class probability of each tile.
    params : SSCParams

    Returns
    -------
    (n_rows, n_cols) ndarray of uint8
    """
    g = tile_grid
    if params.recog_thresh > 0:
        g = np.where(confidence >= params.recog_thresh, g, 0).astype(np.uint8)
    if params.min_tiles > 1:
        g = modal_filter_regions(g, params.min_tiles).astype(np.uint8)
    return g


def check_input(
    x: np.ndarray | dict, cnn: LoadedModel, params: SSCParams, name: str, info: dict | None = None
) -> tuple[dict, float]:
    """Compare an image's tiles with the CNN's training images, warn when far outside, and choose the gamma of the CNN's input.

    Parameters
    ----------
    x : (n, tile, tile, 3) ndarray of uint8, or dict
        The image's valid tiles, or their statistics (:func:`sscnb.cnn.tile_statistics`,
        gathered strip by strip for a large raster).
    cnn : sscnb.cnn.LoadedModel
        Its card's ``input_statistics`` (absent in models saved before they were recorded: then
        nothing is checked or changed).
    params : SSCParams
        ``normalise``.
    name : str
        The image, named in the warning.
    info : dict, optional
        Receives ``input_stats``, ``input_check`` (the messages) and ``cnn_gamma``.

    Returns
    -------
    stats : dict
    gamma : float
        1.0 unless ``normalise`` is on and the image's dark tones are outside the training range.
    """
    stats = _inputstats.summarise(x if isinstance(x, dict) else _inputstats.tile_statistics(x))
    trained = (getattr(cnn, "card", None) or {}).get("input_statistics")
    msgs = _inputstats.check_image(stats, trained, name, warn=True) if stats else []
    gamma = _inputstats.normalising_gamma(stats, trained) if params.normalise and stats else 1.0
    if gamma != 1.0:
        logger.info("%s: the CNN's input gamma-corrected by %.3f to match its training images' dark tones", name, gamma)
    if info is not None:
        info.update(input_stats=stats, input_check=msgs, cnn_gamma=gamma)
    return stats, gamma


def shrinking_classes(
    cnn_counts: dict, final_counts: dict, name: str, scheme: ClassScheme | None = None, warn: bool = True
) -> list[str]:
    """Say (and warn) which classes of the tile map shrink by more than half, or vanish, in the final map.

    Phase 2 learns the classes from the tile map's pixels; a rare class whose colours overlap a
    common one's can be out-voted and disappear from the final map, while the pixel-weighted F1
    barely moves. This names it.

    Parameters
    ----------
    cnn_counts, final_counts : dict of int to int
        Pixels per class code in the CNN tile map and in the final map (0 is ignored).
    name : str
        The image, named in the message.
    scheme : ClassScheme, optional
        Class names (codes otherwise).
    warn : bool
        Also issue a :class:`ClassShrinkWarning` per class.

    Returns
    -------
    list of str

    Examples
    --------
    >>> m = shrinking_classes({1: 1000, 2: 300, 3: 50}, {1: 1340, 2: 10}, "img", warn=False)
    >>> [s.split(": phase 2")[0] for s in m]   # doctest: +NORMALIZE_WHITESPACE
    ['img: class 2 shrinks from 300 px in the CNN tile map to 10 px in the final map (by more than half)',
     'img: class 3 vanishes from 50 px in the CNN tile map to 0 px in the final map']
    """
    msgs = []
    for c, n_cnn in sorted(cnn_counts.items()):
        c, n_cnn = int(c), int(n_cnn)
        if c == 0 or n_cnn == 0:
            continue
        n_fin = int(final_counts.get(c, 0))
        if n_fin >= SHRINK_FRACTION * n_cnn:
            continue
        label = scheme.name(c) if scheme is not None else f"class {c}"
        how = "vanishes" if n_fin == 0 else "shrinks"
        msgs.append(
            f"{name}: {label} {how} from {n_cnn:,} px in the CNN tile map to {n_fin:,} px in the final map"
            f"{'' if n_fin == 0 else ' (by more than half)'}: phase 2 may be out-voting a rare class; "
            "compare the two maps, or keep the tile map (min_agreement 1.0)"
        )
        if warn:
            warnings.warn(msgs[-1], ClassShrinkWarning, stacklevel=2)
    return msgs


def class_counts(counts: np.ndarray) -> dict:
    """Return the pixels per class code of a class map's ``bincount``, its zero counts left out.

    Parameters
    ----------
    counts : (256,) ndarray of int

    Returns
    -------
    dict of int to int

    Examples
    --------
    >>> class_counts(np.bincount(np.array([0, 2, 2, 5]), minlength=256))
    {0: 1, 2: 2, 5: 1}
    """
    return {int(c): int(n) for c, n in enumerate(counts) if n}


def tile_classes(tile_grid: np.ndarray) -> dict:
    """Return the tiles per class code of a tile map (0: unclassified).

    Parameters
    ----------
    tile_grid : (rows, cols) ndarray of uint8

    Returns
    -------
    dict of int to int

    Examples
    --------
    >>> tile_classes(np.array([[0, 3], [3, 3]], np.uint8))
    {0: 1, 3: 3}
    """
    return {int(c): int((tile_grid == c).sum()) for c in np.unique(tile_grid)}
