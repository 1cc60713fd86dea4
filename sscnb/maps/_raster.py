"""Map one input in strips: the two passes of :mod:`sscnb.maps`, each a named step.

:func:`map_raster` runs the steps over a :class:`_MapJob` (what they share): remove the earlier
maps, pass 1 (CNN tiles, input statistics, features into a scratch folder), the CNN again on a
gamma-corrected input when needed, the tile rules and the phase-2 fit, the colour table, pass 2
(the final map and the tile map as COGs) and publishing (confidence, areas, polygons, the files
moved into place, the manifest last).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sscnb.cnn import _inputstats as _inputstats
from sscnb.cnn import _predict as _predict
from sscnb.cnn._files import model_recipe
from sscnb.data import _tiles as _tiles
from sscnb.maps import _geo as _geo
from sscnb.maps import _strips as _strips
from sscnb.maps._files import ClassMapWriter, write_tile_confidence
from sscnb.maps._geo import SurveyError, SurveyRaster, open_raster, open_survey, read_block
from sscnb.maps._vectors import polygonize_map
from sscnb.params import SSCParams
from sscnb.phase2 import _colours as _colours
from sscnb.phase2 import _features as _features
from sscnb.phase2 import _pixel as _pixel
from sscnb.provenance import package_versions, timestamp, tmp_name, write_json
from sscnb.results import every_map_file, map_files, remove_item
from sscnb.ssc import (
    apply_tile_rules,
    check_input,
    choose_phase2,
    predict_tiles_masked,
    shrinking_classes,
)

if TYPE_CHECKING:
    import pandas as pd

    from sscnb.cnn._files import LoadedModel
    from sscnb.phase2._choose import PixelLabels

__all__ = ["MapResult", "map_raster", "WINDOW_MPX", "MIN_POLYGON_AREA"]

logger = logging.getLogger("sscnb.maps")

WINDOW_MPX = 8.0  # megapixels per strip: sets peak memory (about 0.1 GB per Mpx), not results
MIN_POLYGON_AREA = 1.0  # m2 (px without a projected CRS): smaller patches are sieved before polygons


@dataclass
class MapResult:
    """What :func:`map_raster` made for one input."""

    input: Path
    files: dict
    areas: pd.DataFrame  # see geo.area_table
    info: dict
    timings: dict = field(default_factory=dict)
    status: str = "done"
    phase2_name: str = "MLP"  # the final map's classifier, as in its file names ("MLP" or "RF")


def _recipe(
    path: Path,
    cnn: LoadedModel,
    params: SSCParams,
    vectors: bool,
    min_polygon_area: float,
    model: dict | None = None,
    labels: PixelLabels | None = None,
) -> dict:
    """Everything that decides the result for one input: compared on a re-run.

    ``model``: the model's part, when already computed (the model file is hashed once per batch, not per
    input). ``labels``: the user's labelled pixels of the input, which phase 2 learnt from (recorded only then).
    """
    st = Path(path).stat()
    recipe = {
        "input": {"path": str(Path(path).resolve()), "bytes": st.st_size, "modified": st.st_mtime},
        "model": model or model_recipe(cnn),
        "settings": params.to_dict(),
        "vectors": {"make": bool(vectors), "min_polygon_area": float(min_polygon_area)} if vectors else None,
    }
    if labels is not None:
        recipe["labels"] = labels.recipe()
    return recipe


@dataclass
class _MapJob:
    """One input being mapped.

    What every step reads (the input, the CNN, the settings, the strips, the scratch folder and the staged
    output files) and what pass 1 fills in.
    """

    path: Path
    raster: SurveyRaster
    cnn: LoadedModel
    params: SSCParams
    strips: list
    scratch: _strips.Scratch
    stage: dict
    progress: bool
    labels: Any = None  # the user's labelled pixels of the input (phase2.PixelLabels), or None
    tile_codes: Any = None  # (tiles,) class codes, filled in by pass 1
    confidence: Any = None  # (tiles,) top-class probability, filled in by pass 1
    present: Any = None  # (tiles,) whole valid tiles, filled in by pass 1
    n_valid: int = 0
    tile_stats: dict = field(
        default_factory=lambda: {k: [] for k in ("brightness", "red_share", "blue_share", "saturation", "contrast")}
    )

    def __post_init__(self):
        self.tile = self.cnn.tile_size
        self.H, self.W = self.raster.shape
        self.grid = _tiles.grid_shape((self.H, self.W), self.tile)
        self.tile_codes = np.zeros(self.grid, np.uint8)
        self.confidence = np.full(self.grid, -1.0, np.float32)
        self.present = np.zeros(_pixel.N_RGB, bool)  # the median-RGB colours that occur

    def bar(self, desc: str):
        from tqdm.auto import tqdm

        return tqdm(total=self.H, desc=f"{self.path.name}: {desc}", unit="row", disable=not self.progress, leave=False)

    def strip_tiles(self, rgb, valid, first_row, tr0, tr1):
        """Return the whole tiles of tile rows tr0..tr1 of a strip, and which of them are wholly valid.

        The strip was read from ``first_row`` of the input.
        """
        rows = slice(tr0 * self.tile - first_row, tr1 * self.tile - first_row)
        x = _tiles.to_tiles(rgb[rows, : self.grid[1] * self.tile], self.tile)
        return x, _tiles.to_tiles(valid[rows, : self.grid[1] * self.tile], self.tile).reshape(len(x), -1).all(axis=1)

    def run_cnn(self, x, vt, tr0, tr1):
        codes, proba, _ = predict_tiles_masked(self.cnn, x, vt, self.params.tta)
        self.tile_codes[tr0:tr1] = codes.reshape(tr1 - tr0, self.grid[1])
        conf = np.where(vt, proba.max(axis=1) if proba.shape[1] else 0, -1.0)
        self.confidence[tr0:tr1] = conf.reshape(tr1 - tr0, self.grid[1])

    def gather(self, rows, cols):
        """Return the scratch features of the pixels at (rows, cols), rows sorted: phase 2's training sample."""
        xs = np.empty((len(rows), self.scratch.F), self.scratch.dtype)
        for y0, y1 in self.strips:
            a, b = np.searchsorted(rows, [y0, y1])
            if b > a:
                f, _ = self.scratch.read(y0, y1)
                xs[a:b] = f[rows[a:b] - y0, cols[a:b]]
        return xs


class _BusyCores:
    """Count the cores this process kept busy, on average, over consecutive spans.

    CPU seconds (every thread) per wall second: about 1 marks a span that ran on one core, the
    machine's core count one that used them all.
    """

    def __init__(self):
        self.busy: dict = {}
        self._mark = (time.perf_counter(), time.process_time())

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.busy[name] = round((cpu - self._mark[1]) / max(wall - self._mark[0], 1e-9), 2)
        self._mark = (wall, cpu)


def _remove_earlier_maps(out_dir: Path, stem: str, experiment: str, files: dict) -> None:
    """Before an input is mapped again.

    Its manifest first (it is not done until it is rewritten), then every map an earlier run made of it, of
    any settings, and what a killed run left.
    """
    stale = list(out_dir.glob(f".tmp_*_{stem}_{experiment}_*"))
    remove_item(every_map_file(out_dir, stem, experiment).values(), manifest=files["manifest"], stale=stale)


def overlap_features() -> bool:
    """Whether pass 1 computes a strip's features in a thread while the CNN classifies its tiles.

    Yes when the CNN runs on an accelerator, whose work then leaves the CPU cores free. Not on the
    CPU alone: there the CNN and the median compete for the same cores, and on 2 cores pass 1 of
    the 12 000 px mosaic took 27.7 and 24.7 s with the overlap, 24.3 and 23.0 s without.

    Returns
    -------
    bool
    """
    return _predict.accelerator() is not None


def _pass1(job: _MapJob) -> dict:
    """Pass 1, strip by strip: the next strip read, and this one's features computed (on a GPU machine), while the CNN works.

    The CNN's tiles, the input statistics (in a thread of their own on a GPU machine: on the
    H100, cutting the tiles and taking their statistics took 1.5-2.0 s of the CNN thread's
    2.4-2.9 s, the statistics 1.1-1.3 s of that), and the features and valid mask into the
    scratch folder (in a third thread, while the next strip's features are computed). Returns the
    profile: seconds in each stage, in the thread that ran it (the stages overlap), and the seconds
    a thread waited for another's job of the strip before: ``features_wait`` (the CNN's thread for
    the features), ``scratch_wait`` (the features for the scratch files) and ``tile_stats_wait``
    (the CNN's thread for the statistics).
    """
    from rasterio.windows import Window

    p, H, W, tile, grid = job.params, job.H, job.W, job.tile, job.grid
    halo = _features.feature_halo(p.median_radius, p.use_entropy, p.features)
    stages = ("read", "tiles", "tile_stats", "cnn", "features", "scratch", "features_wait", "scratch_wait", "tile_stats_wait")
    prof = dict.fromkeys(stages, 0.0)

    def scratch(y0, feats, vcore):  # in the writer's thread, while the next strip's features are computed
        c0 = time.perf_counter()
        job.scratch.write(y0, feats, vcore)
        job.n_valid += _colours.mark_colours(feats[..., :3], vcore, job.present)
        prof["scratch"] += time.perf_counter() - c0

    def statistics(xv):  # beside the CNN (on a GPU machine), in order: the statistics of every whole valid tile
        c0 = time.perf_counter()
        for k, v in _inputstats.tile_statistics(xv).items():
            job.tile_stats[k].append(v)
        prof["tile_stats"] += time.perf_counter() - c0

    def features(rgb, valid, y0, core):  # in the background thread, while the CNN works (on a GPU machine)
        c0 = time.perf_counter()
        feats = _features.pixel_features(rgb, p.median_radius, p.use_entropy, valid, p.features)[core]
        prof["features"] += time.perf_counter() - c0
        writer.submit(scratch, y0, feats, valid[core])

    # the writer is entered first, so it ends last: the features' last job hands it the last strip
    beside = overlap_features()
    writer = _strips.Background("sscnb-scratch")
    background = _strips.Background("sscnb-features", threaded=beside)
    stats = _strips.Background("sscnb-tile-stats", threaded=beside)
    with open_raster(job.path) as ds, job.bar("phase 1") as bar, writer, background as bg, stats:

        def read(y0, y1):
            r0, r1 = max(0, y0 - halo), min(H, y1 + halo)
            return r0, read_block(ds, job.raster, Window(0, r0, W, r1 - r0))

        for y0, y1, (r0, (rgb, valid)), waited in _strips.read_ahead(job.strips, read):
            prof["read"] += waited  # the time this strip was waited for
            bg.submit(features, rgb, valid, y0, slice(y0 - r0, y1 - r0))
            tr0, tr1 = y0 // tile, min(y1 // tile, grid[0])
            c1 = time.perf_counter()
            if tr1 > tr0 and grid[1] > 0:
                x, vt = job.strip_tiles(rgb, valid, r0, tr0, tr1)
                xv = x[vt]
                prof["tiles"] += time.perf_counter() - c1
                stats.submit(statistics, xv)
                c2 = time.perf_counter()
                job.run_cnn(x, vt, tr0, tr1)
                prof["cnn"] += time.perf_counter() - c2
            bar.update(y1 - y0)
        bg.wait()
        writer.wait()
        stats.wait()
        prof["features_wait"], prof["scratch_wait"], prof["tile_stats_wait"] = bg.waited, writer.waited, stats.waited
    job.scratch.flush()  # pass 2 reads what pass 1 wrote
    return {f"pass1_{k}": round(v, 3) for k, v in prof.items()}  # parts of phase1_features


def _cnn_again(job: _MapJob, gamma: float) -> None:
    """Run the CNN once more, on its gamma-corrected input (the input read again: a rare case)."""
    from rasterio.windows import Window

    tile, grid = job.tile, job.grid
    with open_raster(job.path) as ds, job.bar(f"phase 1 (gamma {gamma:.2f})") as bar:
        for y0, y1 in job.strips:
            tr0, tr1 = y0 // tile, min(y1 // tile, grid[0])
            if tr1 > tr0 and grid[1] > 0:
                rgb, valid = read_block(ds, job.raster, Window(0, tr0 * tile, grid[1] * tile, (tr1 - tr0) * tile))
                x, vt = job.strip_tiles(rgb, valid, tr0 * tile, tr0, tr1)
                job.run_cnn(_inputstats.apply_gamma(x, gamma), vt, tr0, tr1)
            bar.update(y1 - y0)


def _fit_on_tile_map(job: _MapJob, tile_grid: np.ndarray, map_info: dict):
    """Phase 2 trained on the tile map (or not: no tile classified, or its self-check failed).

    Returns ``(choice, clf)``: the choice (None without any classified tile) and the classifier (None when the
    tile map stands).
    """
    choice = None
    if (tile_grid > 0).any():
        choice = choose_phase2(tile_grid, job.confidence, job.tile, job.gather, job.params, job.labels)
        map_info.update(choice.info)
        if choice.clf is None:
            map_info["note"] = f"phase 2 not used: {choice.info['phase2_reason']}"
            logger.warning("%s: %s", job.path.name, map_info["note"])
        else:
            map_info.update(choice.clf.info)
            if choice.clf.info.get("one_class"):
                map_info["note"] = f"the CNN found one class only ({int(choice.clf.classes[0])}): the final map is that class"
    else:
        map_info["note"] = "the CNN classified no tile (all below recog_thresh?): the final map is left empty"
        logger.warning("%s: %s", job.path.name, map_info["note"])
    return choice, None if choice is None else choice.clf


def _colour_table(choice, clf, job: _MapJob, map_info: dict):
    """Return the classifier's class of every median-RGB colour that occurs, when its features are those."""
    lut = clf.colour_lut(job.present) if clf is not None and choice.features == "median RGB" else None
    if lut is not None:
        map_info["distinct_vectors"] = clf.info["distinct_vectors"]
    return lut


def _fit_beside_cnn_map(job: _MapJob, tile_grid: np.ndarray, map_info: dict, map_profile: dict, t: dict, t0: float):
    """Fit phase 2 and make its colour table, with the CNN map written beside them on an accelerator.

    There the fit leaves the CPU's cores free, and the CNN map's 1.7 s of painting and compressing
    on a 16-core GPU machine are hidden behind it. GDAL is still used by one thread at a time: the
    fit reads only the scratch files, and the CNN map is finished before pass 2 writes the final
    map (two GeoTIFFs written from two threads at once share GDAL's block cache, and a test run
    once lost blocks of the final map that way). Without an accelerator the CNN map is written
    first, in turn: on 2 cores it competed with the fit, for no gain. ``t`` gets the seconds
    (``sample_fit`` counted from ``t0``). Returns ``(choice, clf, lut, cnn_map)``, ``cnn_map`` with
    the CNN map's pixels per class code (``counts``).
    """
    cnn_map: dict = {}
    beside = overlap_features()
    with _strips.Background("sscnb-cnn-map", threaded=beside) as bg:
        bg.submit(_write_cnn_map, job, tile_grid, cnn_map)  # returns when written, unless beside
        if not beside:
            t["cnn_map"] = cnn_map["seconds"]
            t0 += t["cnn_map"]  # not the fit's
        choice, clf = _fit_on_tile_map(job, tile_grid, map_info)
        t["sample_fit"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        lut = _colour_table(choice, clf, job, map_info)
        t["predict_colours"] = time.perf_counter() - t0
        bg.wait()
    if beside:
        t["cnn_map_wait"] = bg.waited  # beyond the fit
        map_profile["fit_beside_cnn_map"] = round(cnn_map["seconds"], 3)  # in its own thread
    return choice, clf, lut, cnn_map


def _cnn_strip(job: _MapJob, tile_grid: np.ndarray, y0: int, y1: int, valid: np.ndarray) -> np.ndarray:
    """Return rows ``y0:y1`` of the CNN tile map at full resolution (0 outside the valid pixels)."""
    tile, grid, W = job.tile, job.grid, job.W
    tr0, tr1 = y0 // tile, min(-(-y1 // tile), grid[0])
    cnn_strip = np.zeros((y1 - y0, W), np.uint8)
    if tr1 > tr0:
        painted = _tiles.tiles_to_raster(tile_grid[tr0:tr1].ravel(), (tr1 - tr0, grid[1]), tile)
        h = min(painted.shape[0], y1 - y0)
        cnn_strip[:h, : painted.shape[1]] = painted[:h]
    cnn_strip[~valid] = 0
    return cnn_strip


def _write_cnn_map(job: _MapJob, tile_grid: np.ndarray, out: dict) -> None:
    """Write the CNN tile map into its COG, strip by strip (the next strip painted in a thread meanwhile).

    ``out`` gets its pixels per class code (``counts``) and the seconds it took (``seconds``).
    """
    from rasterio.windows import Window

    t0 = time.perf_counter()
    counts = np.zeros(256, np.int64)

    def paint(y0, y1):
        return _cnn_strip(job, tile_grid, y0, y1, job.scratch.read_valid(y0, y1))

    with ClassMapWriter(job.stage["cnn"], job.raster, job.cnn.scheme) as w_cnn:
        for y0, y1, cnn_strip, _ in _strips.read_ahead(job.strips, paint):
            counts += np.bincount(cnn_strip.ravel(), minlength=256)
            w_cnn.write(Window(0, y0, job.W, y1 - y0), cnn_strip)
    out["counts"] = counts
    out["seconds"] = time.perf_counter() - t0


def _pass2(job: _MapJob, tile_grid: np.ndarray, choice, clf, lut, t: dict):
    """Pass 2, strip by strip: the final map into its COG (the next strip classified in a thread meanwhile).

    ``t`` gets the seconds, ``predict_write`` and ``cog``. Returns the pixels per class code.
    """
    from rasterio.windows import Window

    t0 = time.perf_counter()
    W = job.W
    counts = np.zeros(256, np.int64)

    def classify(y0, y1):  # in a thread, while the strip before is written
        f, v = job.scratch.read(y0, y1)
        if choice is None:
            final = np.zeros((y1 - y0, W), np.uint8)
        elif clf is None:
            final = _cnn_strip(job, tile_grid, y0, y1, v)
        elif lut is not None:
            return _colours.colour_lookup(f[..., :3], v, lut)  # 0 outside the valid pixels
        else:
            final = choice.predict(f)  # the columns of the candidate it chose
        final[~v] = 0
        return final

    with ClassMapWriter(job.stage["final"], job.raster, job.cnn.scheme) as w_final, job.bar("phase 2") as bar:
        for y0, y1, final, _ in _strips.read_ahead(job.strips, classify):
            counts += np.bincount(final.ravel(), minlength=256)
            w_final.write(Window(0, y0, W, y1 - y0), final)
            bar.update(y1 - y0)
        t["predict_write"] = time.perf_counter() - t0
        t0 = time.perf_counter()
    t["cog"] = time.perf_counter() - t0  # the writer made its COG as it closed
    return counts


def _publish(job: _MapJob, out_dir: Path, counts, cnn_counts, map_info: dict, t: dict, vectors: bool, min_polygon_area: float):
    """Write the confidence raster, the class areas and the polygons, then move every staged file beside the input's maps.

    Returns the area table.
    """
    scheme = job.cnn.scheme
    write_tile_confidence(job.stage["confidence"], job.raster, job.confidence, job.tile)
    map_info["shrinking"] = shrinking_classes(
        {c: int(n) for c, n in enumerate(cnn_counts) if n}, {c: int(n) for c, n in enumerate(counts) if n}, job.path.name, scheme
    )
    areas = _geo.area_table({c: int(n) for c, n in enumerate(counts) if n}, scheme, job.raster)
    areas.to_csv(job.stage["areas"], index=False)
    if vectors:
        t0 = time.perf_counter()
        map_info["polygons"] = polygonize_map(job.stage["final"], job.stage["vectors"], scheme, job.raster, min_polygon_area)
        t["vectors"] = time.perf_counter() - t0
    for f in sorted(job.stage["final"].parent.iterdir()):  # COGs, .aux.xml, .qml, CSV, GeoPackage
        f.replace(out_dir / f.name)
    return areas


def _new_job(
    path: Path,
    raster: SurveyRaster,
    cnn: LoadedModel,
    out_dir: Path,
    experiment: str,
    p: SSCParams,
    vectors: bool,
    window_mpx: float,
    progress: bool,
) -> _MapJob:
    """Return the job of one input: its strips, and a scratch folder in which every file is made."""
    H, W = raster.shape
    scratch = _strips.Scratch(
        tmp_name(out_dir / f"{path.stem}_{experiment}_scratch"),
        (H, W),
        *_features.feature_bands(p.use_entropy, p.features),
    )
    # everything is made in the scratch folder and moved beside the input's other maps at the end
    stage = map_files(scratch.folder / "out", path.stem, experiment, p, vectors)
    stage["final"].parent.mkdir()
    return _MapJob(path, raster, cnn, p, _strips.strips(H, W, cnn.tile_size, window_mpx), scratch, stage, progress)


def _phase1(job: _MapJob, t: dict) -> tuple[dict, dict]:
    """Run pass 1, check the input against the CNN's training images, and run the CNN again if it needs a gamma.

    Returns pass 1's profile and what the check found (``t`` gets the seconds).
    """
    t0 = time.perf_counter()
    map_profile = _pass1(job)
    t["phase1_features"] = time.perf_counter() - t0
    if job.n_valid == 0:
        raise SurveyError(f"{job.path.name} holds no valid pixel (all no-data): nothing to map")
    input_info: dict = {}
    _, gamma = check_input(
        {k: np.concatenate(v) for k, v in job.tile_stats.items()}, job.cnn, job.params, job.path.name, input_info
    )
    if gamma != 1.0:
        t0 = time.perf_counter()
        _cnn_again(job, gamma)
        t["phase1_normalised"] = time.perf_counter() - t0
    return map_profile, input_info


def map_raster(
    path: str | Path,
    cnn: LoadedModel,
    out_dir: str | Path,
    experiment: str,
    params: SSCParams,
    *,
    vectors: bool = False,
    min_polygon_area: float = MIN_POLYGON_AREA,
    window_mpx: float = WINDOW_MPX,
    raster: SurveyRaster | None = None,
    recipe: dict | None = None,
    progress: bool = True,
    labels: PixelLabels | None = None,
) -> MapResult:
    """Map one input in strips of about ``window_mpx`` megapixels; see the module docstring.

    Parameters
    ----------
    path : str or Path
        The input (checked by :func:`plan_inputs` first when called through :func:`map_inputs`).
    cnn : LoadedModel
        The CNN.
    out_dir : str or Path
    experiment : str
    params : SSCParams
        Phase-2 settings (``smallest_element`` must be 0).
    vectors : bool
        Also write polygons.
    min_polygon_area : float, m2 (px without a projected CRS)
    window_mpx : float, megapixels
        Size of a strip: sets peak memory, not results.
    info : SurveyRaster, optional
    recipe : dict, optional
        What the manifest records; made here when not given.
    progress : bool
        Progress bars (tqdm).
    labels : sscnb.phase2.PixelLabels, optional
        The user's labelled pixels of this input: phase 2 learns from them and they judge it.

    Returns
    -------
    MapResult

    Writes (see :func:`map_files`): the final map and the CNN tile map as COGs with colour table,
    category names and ``.qml``; the CNN's top-class confidence per tile (float32, one pixel per
    tile, nodata -1); the area per class (CSV); with ``vectors`` a GeoPackage of polygons; and, last,
    a manifest (``.json``) with the model, settings and versions that made them. Every file is
    written under a temporary name and renamed when complete.
    """
    path, out_dir, p = Path(path), Path(out_dir), params
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe = recipe or _recipe(path, cnn, p, vectors, min_polygon_area, labels=labels)
    files = map_files(out_dir, path.stem, experiment, p, vectors)
    _remove_earlier_maps(out_dir, path.stem, experiment, files)
    job = _new_job(path, raster or open_survey(path), cnn, out_dir, experiment, p, vectors, window_mpx, progress)
    job.labels = labels
    t: dict = {}
    cores = _BusyCores()
    try:
        map_profile, input_info = _phase1(job, t)
        cores.lap("pass1")
        t0 = time.perf_counter()
        tile_grid = apply_tile_rules(job.tile_codes, job.confidence, p)
        map_info = {
            "input": job.raster.describe(),
            "tiles": int(job.grid[0] * job.grid[1]),
            **input_info,
            "tile_classes": {int(c): int((tile_grid == c).sum()) for c in np.unique(tile_grid)},
            "valid_px": job.n_valid,
        }
        choice, clf, lut, cnn_map = _fit_beside_cnn_map(job, tile_grid, map_info, map_profile, t, t0)
        cores.lap("fit")
        counts = _pass2(job, tile_grid, choice, clf, lut, t)
        cores.lap("pass2")
        areas = _publish(job, out_dir, counts, cnn_map["counts"], map_info, t, vectors, min_polygon_area)
    finally:
        job.scratch.close()
    t["total"] = sum(t.values())
    manifest = {
        "recipe": recipe,
        "experiment": experiment,
        "outputs": {k: v.name for k, v in files.items()},
        "info": map_info,
        "seconds": t,
        "profile": map_profile,
        "cores_busy": cores.busy,
        "versions": package_versions(),
        "created": timestamp(),
    }
    write_json(files["manifest"], manifest)  # last: its presence marks the input done
    return MapResult(path, files, areas, map_info, t, phase2_name=p.phase2_name)
