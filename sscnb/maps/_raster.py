"""Map one input in strips: the per-image pipeline of :mod:`sscnb.pipeline`, written to COGs as it goes.

:func:`map_raster` runs the pipeline's steps over a :class:`_MapJob` (its job, with the input's
raster and the staged files): remove the earlier maps, pass 1 (CNN tiles, input statistics,
features into a scratch folder), the CNN again on a gamma-corrected input when needed, the tile
rules and the phase-2 fit, the colour table, pass 2 (the final map and the tile map as COGs) and
publishing (confidence, areas, polygons, the files moved into place, the manifest last). An image in
memory runs the same steps (:func:`sscnb.ssc.classify_image`).
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rasterio.windows import Window

from sscnb.cnn import _predict as _predict
from sscnb.cnn._files import model_recipe
from sscnb.data import _geo as _geo
from sscnb.data import _tiles as _tiles
from sscnb.data._geo import SurveyError, SurveyRaster, open_raster, open_survey, read_block
from sscnb.maps._files import ClassMapWriter, write_tile_confidence
from sscnb.maps._vectors import polygonize_map
from sscnb.params import DEFAULT_PHASE2, PHASE2_CHOICES, SSCParams
from sscnb.phase2 import _features as _features
from sscnb.pipeline import _strips as _strips
from sscnb.pipeline._steps import (
    ImageJob,
    apply_tile_rules,
    choose,
    class_counts,
    cnn_strip,
    colour_table,
    correct_input,
    final_strips,
    phase1,
    shrinking_classes,
    tile_classes,
)
from sscnb.provenance import package_versions, timestamp, tmp_name, write_json
from sscnb.results import every_map_file, map_files, remove_item

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
    phase2_name: str = PHASE2_CHOICES[DEFAULT_PHASE2]  # the final map's classifier, as in its file names ("MLP", "RF" or "MLPRF")


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
        **_features.bands_recipe(params.features),
        "vectors": {"make": bool(vectors), "min_polygon_area": float(min_polygon_area)} if vectors else None,
    }
    if labels is not None:
        recipe["labels"] = labels.recipe(params.phase2)
    return recipe


class _RasterSource:
    """A raster read in strips (a context manager: the dataset is open while a pass reads it)."""

    def __init__(self, path: Path, raster: SurveyRaster):
        self.path, self.raster = path, raster
        self.ds = None

    def __enter__(self) -> _RasterSource:
        self.ds = open_raster(self.path).__enter__()
        return self

    def __exit__(self, *exc) -> None:
        ds, self.ds = self.ds, None
        if ds is not None:
            ds.__exit__(*exc)

    def read(self, r0: int, r1: int):
        """Return rows ``r0:r1`` (RGB and the valid mask)."""
        return read_block(self.ds, self.raster, Window(0, r0, self.raster.shape[1], r1 - r0))


@dataclass
class _MapJob(ImageJob):
    """One input being mapped: the pipeline's job over a :class:`_RasterSource`, with its staged output files."""

    stage: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """Return the input's path (its source's)."""
        return self.source.path

    @property
    def raster(self) -> SurveyRaster:
        """Return the input's raster (its source's)."""
        return self.source.raster


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


def _fit_beside_cnn_map(job: _MapJob, tile_grid: np.ndarray, map_profile: dict, t: dict, t0: float):
    """Fit phase 2 and make its colour table, with the CNN map written beside them on an accelerator.

    There the fit leaves the CPU's cores free, and the CNN map's 1.7 s of painting and compressing
    on a 16-core GPU machine are hidden behind it. GDAL is still used by one thread at a time: the
    fit reads only the scratch files, and the CNN map is finished before pass 2 writes the final
    map (two GeoTIFFs written from two threads at once share GDAL's block cache, and a test run
    once lost blocks of the final map that way). Without an accelerator the CNN map is written
    first, in turn: on 2 cores it competed with the fit, for no gain. ``t`` gets the seconds
    (``sample_fit`` counted from ``t0``). Returns ``(choice, lut, cnn_map)``, ``cnn_map`` with
    the CNN map's pixels per class code (``counts``).
    """
    cnn_map: dict = {}
    beside = overlap_features()
    with _strips.Background("sscnb-cnn-map", threaded=beside) as bg:
        bg.submit(_write_cnn_map, job, tile_grid, cnn_map)  # returns when written, unless beside
        if not beside:
            t["cnn_map"] = cnn_map["seconds"]
            t0 += t["cnn_map"]  # not the fit's
        choice = choose(job, tile_grid)
        t["sample_fit"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        lut = colour_table(job, choice)
        t["predict_colours"] = time.perf_counter() - t0
        bg.wait()
    if beside:
        t["cnn_map_wait"] = bg.waited  # beyond the fit
        map_profile["fit_beside_cnn_map"] = round(cnn_map["seconds"], 3)  # in its own thread
    return choice, lut, cnn_map


def _write_cnn_map(job: _MapJob, tile_grid: np.ndarray, out: dict) -> None:
    """Write the CNN tile map into its COG, strip by strip (the next strip painted in a thread meanwhile).

    ``out`` gets its pixels per class code (``counts``) and the seconds it took (``seconds``).
    """
    t0 = time.perf_counter()
    counts = np.zeros(256, np.int64)

    def paint(y0, y1):
        return cnn_strip(job, tile_grid, y0, y1, job.store.read_valid(y0, y1))

    with ClassMapWriter(job.stage["cnn"], job.raster, job.cnn.scheme) as w_cnn:
        for y0, y1, painted, _ in _strips.read_ahead(job.strips, paint):
            counts += np.bincount(painted.ravel(), minlength=256)
            w_cnn.write(Window(0, y0, job.W, y1 - y0), painted)
    out["counts"] = counts
    out["seconds"] = time.perf_counter() - t0


def _pass2(job: _MapJob, tile_grid: np.ndarray, choice, lut, t: dict):
    """Pass 2, strip by strip: the final map into its COG (the next strip classified in a thread meanwhile).

    ``t`` gets the seconds, ``predict_write`` and ``cog``. Returns the pixels per class code.
    """
    t0 = time.perf_counter()
    counts = np.zeros(256, np.int64)
    with ClassMapWriter(job.stage["final"], job.raster, job.cnn.scheme) as w_final, job.bar("phase 2") as bar:
        for y0, y1, final in final_strips(job, tile_grid, choice, lut):
            counts += np.bincount(final.ravel(), minlength=256)
            w_final.write(Window(0, y0, job.W, y1 - y0), final)
            bar.update(y1 - y0)
        t["predict_write"] = time.perf_counter() - t0
        t0 = time.perf_counter()
    t["cog"] = time.perf_counter() - t0  # the writer made its COG as it closed
    return counts


def _publish(job: _MapJob, out_dir: Path, counts, cnn_counts, t: dict, vectors: bool, min_polygon_area: float):
    """Write the confidence raster, the class areas and the polygons, then move every staged file beside the input's maps.

    Returns the area table.
    """
    scheme = job.cnn.scheme
    write_tile_confidence(job.stage["confidence"], job.raster, job.confidence, job.tile)
    job.info["shrinking"] = shrinking_classes(class_counts(cnn_counts), class_counts(counts), job.name, scheme)
    areas = _geo.area_table(class_counts(counts), scheme, job.raster)
    areas.to_csv(job.stage["areas"], index=False)
    if vectors:
        t0 = time.perf_counter()
        job.info["polygons"] = polygonize_map(job.stage["final"], job.stage["vectors"], scheme, job.raster, min_polygon_area)
        t["vectors"] = time.perf_counter() - t0
    for f in sorted(job.stage["final"].parent.iterdir()):  # COGs, .aux.xml, .qml, CSV, GeoPackage
        f.replace(out_dir / f.name)
    return areas


def _new_job(
    path: Path,
    raster: SurveyRaster,
    cnn: LoadedModel,
    experiment: str,
    p: SSCParams,
    vectors: bool,
    window_mpx: float,
    progress: bool,
    folder: Path,
    labels: PixelLabels | None,
) -> _MapJob:
    """Return the job of one input: its strips, and a scratch ``folder`` in which every file is made."""
    H, W = raster.shape
    scratch = _strips.Scratch(folder, (H, W), *_features.feature_bands(p.use_entropy, p.features))
    # everything is made in the scratch folder and moved beside the input's other maps at the end
    stage = map_files(scratch.folder / "out", path.stem, experiment, p, vectors)
    stage["final"].parent.mkdir()
    job = _MapJob(
        path.name,
        _RasterSource(path, raster),
        (H, W),
        cnn,
        p,
        _strips.strips(H, W, cnn.tile_size, window_mpx),
        scratch,
        progress,
        labels,
        stage=stage,
    )
    job.info.update(input=raster.describe(), tiles=int(job.grid[0] * job.grid[1]))
    return job


def _phase1(job: _MapJob, t: dict) -> dict:
    """Run pass 1 (:func:`sscnb.pipeline.phase1`), then the input check and the CNN again where it needs a gamma.

    Returns pass 1's profile (``t`` gets the seconds).
    """
    t0 = time.perf_counter()
    profile = phase1(job, overlap_features())
    t["phase1_features"] = time.perf_counter() - t0
    if job.n_valid == 0:
        raise SurveyError(f"{job.path.name} holds no valid pixel (all no-data): nothing to map")
    again = correct_input(job)
    if again:
        t["phase1_normalised"] = again
    return {f"pass1_{k}": round(v, 3) for k, v in profile.items()}  # parts of phase1_features


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
    raster = raster or open_survey(path)
    t: dict = {}
    cores = _BusyCores()
    scratch, job = tmp_name(out_dir / f"{path.stem}_{experiment}_scratch"), None
    try:
        job = _new_job(path, raster, cnn, experiment, p, vectors, window_mpx, progress, scratch, labels)
        map_profile = _phase1(job, t)
        cores.lap("pass1")
        t0 = time.perf_counter()
        tile_grid = apply_tile_rules(job.tile_codes, job.confidence, p)
        job.info.update(tile_classes=tile_classes(tile_grid), valid_px=job.n_valid)
        choice, lut, cnn_map = _fit_beside_cnn_map(job, tile_grid, map_profile, t, t0)
        cores.lap("fit")
        counts = _pass2(job, tile_grid, choice, lut, t)
        cores.lap("pass2")
        areas = _publish(job, out_dir, counts, cnn_map["counts"], t, vectors, min_polygon_area)
    finally:
        if job is not None:
            job.store.close()
        shutil.rmtree(scratch, ignore_errors=True)  # an interrupt (Cancel, Ctrl-C) may come before the job exists
    map_info = job.info
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
