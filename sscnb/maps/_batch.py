"""Map a survey: unlabelled images and orthomosaics of any size to GIS-ready class maps.

::

    cnn = modelfiles.load_model("outputs/demo/model/cnn.keras")
    results = map_inputs(["survey/ortho.tif"], cnn, "outputs/demo/map", "demo", SSCParams())

The method is that of :func:`sscnb.ssc.classify_image` (one pixel classifier per input, trained on
its own CNN tile map), run in horizontal strips so that memory depends on the strip size, never on
the input's size:

1. **Pass 1**, strip by strip: read RGB + valid mask (with a halo of ``median_radius`` rows), classify
   the strip's tiles with the CNN (tiles touching no-data are not classified), compute the
   median-RGB features of the strip's pixels and keep them in a scratch file, and note which
   colours occur.
2. The tile rules (``recog_thresh``, ``min_tiles``) run on the whole tile map (one byte per tile),
   and the CNN map is written from it. A stratified sample of CNN-classified pixels is drawn
   across the whole input (:func:`sscnb.phase2.sample_tile_pixels`) and the phase-2 classifier is
   fitted on it (on a GPU machine while the CNN map is written; otherwise after it).
3. Every colour that occurs is predicted once (a look-up table of 2**24 entries).
4. **Pass 2**, strip by strip: the look-up table gives the final map. Both maps are written as
   tiled GeoTIFFs, then copied to Cloud-Optimized GeoTIFFs with overviews.

On an image that fits in memory, the result equals ``classify_image`` exactly (tested): the halo
makes every window's features those of the whole image, the sample depends only on the tile map,
and the colours are predicted in one order whatever the strips.
"""

from __future__ import annotations

import glob
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import rasterio

from sscnb.assess import _metrics as metrics
from sscnb.batch._tasks import BatchError, run_batch, worker_model
from sscnb.cnn._files import model_recipe
from sscnb.data._geo import (
    RASTER_SUFFIXES,
    SurveyError,
    SurveyRaster,
    open_raster,
    open_survey,
)
from sscnb.data._pairs import DataError, find_pairs, read_label
from sscnb.labels._sources import labels_for_images
from sscnb.layout import prepare_output
from sscnb.maps._raster import (  # one input's mapping; its names are mapping's too
    MIN_POLYGON_AREA,
    WINDOW_MPX,
    MapResult,
    _recipe,
    map_raster,
)
from sscnb.params import SSCParams
from sscnb.phase2._features import feature_threads
from sscnb.results import every_map_file, item_status, map_files, refuse_conflicts

if TYPE_CHECKING:
    from collections.abc import Callable

    from sscnb.cnn._files import LoadedModel
    from sscnb.data._classes import ClassScheme

__all__ = [
    "MapResult",
    "resolve_inputs",
    "map_raster",
    "map_inputs",
    "plan_inputs",
    "area_summary",
    "label_scores",
    "WINDOW_MPX",
    "MIN_POLYGON_AREA",
]

logger = logging.getLogger(__name__)

GDAL_CACHE_MB = 256  # GDAL's block cache while mapping (its default, 5% of RAM, would dominate peak memory)


def resolve_inputs(inputs: str | Path | list) -> tuple[list[Path], list[str]]:
    """Return the input rasters named by a folder, a file, a glob pattern, or a list of those.

    Parameters
    ----------
    inputs : str, Path or list of them

    Returns
    -------
    paths : list of Path
        Resolved, without duplicates, in the order given (a folder's files sorted by name).
    skipped : list of str
        Files of a folder left out, and why (label rasters ``SCLS_*``, files that are not rasters).

    Raises
    ------
    SurveyError
        A name that matches nothing, no image at all, or two inputs of the same name (their maps
        would overwrite each other).
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    paths, skipped = [], []
    for item in inputs:
        s = str(item)
        if any(ch in s for ch in "*?["):
            hits = sorted(Path(p) for p in glob.glob(s, recursive=True))
            if not hits:
                raise SurveyError(f"no file matches {s!r}")
            cands = hits
        else:
            p = Path(s)
            if p.is_dir():
                cands = sorted(q for q in p.iterdir() if q.is_file() and not q.name.startswith("."))
            elif p.exists():
                paths.append(p)
                continue
            else:
                raise SurveyError(f"input {p} does not exist: give an image, an orthomosaic, a folder or a glob")
        for q in cands:
            if q.suffix.lower() not in RASTER_SUFFIXES:
                if q.suffix.lower() not in (".jgw", ".pgw", ".tfw", ".wld", ".prj", ".xml", ".jpgw", ".pngw", ".tifw"):
                    skipped.append(f"{q}: not a raster sscnb maps ({', '.join(RASTER_SUFFIXES)}), skipped")
            elif q.name.upper().startswith("SCLS_"):
                skipped.append(f"{q}: a label raster (SCLS_*), skipped")
            else:
                paths.append(q)
    seen: dict[str, Path] = {}
    for p in paths:
        if p.stem in seen and seen[p.stem].resolve() != p.resolve():
            raise SurveyError(
                f"{seen[p.stem]} and {p} have the same name {p.stem!r}: their maps would overwrite "
                "each other; map them into different output folders"
            )
        seen[p.stem] = p
    unique = list(dict.fromkeys(p.resolve() for p in paths))
    if not unique:
        raise SurveyError(f"no image to map in {', '.join(map(str, inputs))}")
    return [Path(p) for p in unique], skipped


def plan_inputs(
    paths: list[Path],
    cnn: LoadedModel,
    out_dir: str | Path,
    experiment: str,
    params: SSCParams,
    *,
    vectors: bool = False,
    min_polygon_area: float = MIN_POLYGON_AREA,
    overwrite: bool = False,
    labels: dict | None = None,
) -> list[tuple]:
    """Check every input before anything runs.

    Parameters
    ----------
    paths : list of Path
    cnn : LoadedModel
    out_dir : str or Path
    experiment : str
    params : SSCParams
    vectors : bool
    min_polygon_area : float, m2 (px without a projected CRS)
    overwrite : bool
    labels : dict of str to sscnb.phase2.PixelLabels, optional
        The user's labelled pixels, by input name (stem): part of each input's recipe.

    Returns
    -------
    list of (Path, SurveyRaster, str, dict)
        Per input: its header, its status - ``"todo"``, ``"done"`` (its maps exist, made from this
        input with this model and these settings: skipped) or ``"redo"`` (``overwrite``) - and the
        recipe recorded in its manifest.

    Raises
    ------
    SurveyError
        A bad input (see :func:`sscnb.data.open_survey`), an input smaller than one tile, or a setting
        mapping cannot honour.
    ResultsConflictError
        Finished maps made otherwise (unless ``overwrite``): two settings' results never mix in one
        folder.
    """
    if params.smallest_element > 1:
        raise SurveyError(
            "smallest_element is not applied when mapping surveys (it needs the whole map in "
            "memory): set it to 0, and use min_polygon_area to drop small patches from the polygons"
        )
    plan, conflicts = [], []
    model = model_recipe(cnn)
    tile = cnn.tile_size
    for p in paths:
        raster = open_survey(p)
        if raster.height < tile or raster.width < tile:
            raise SurveyError(
                f"{p.name} is {raster.width} x {raster.height} px, smaller than one {tile} px tile of the "
                f"model {Path(cnn.path).name}: map it with a model of a smaller tile size"
            )
        recipe = _recipe(p, cnn, params, vectors, min_polygon_area, model, (labels or {}).get(p.stem))
        files = map_files(out_dir, p.stem, experiment, params, vectors)
        # the maps of another phase 2 of this input and experiment share its CNN map: never mixed
        for other in every_map_file(out_dir, p.stem, experiment).values():
            if other["manifest"] != files["manifest"] and other["manifest"].exists() and not overwrite:
                _, why = item_status({"manifest": other["manifest"]}, recipe)
                made = f"{why or 'phase2'}; {other['manifest'].name}"
                conflicts.append(f"{p.name}: its maps were made with other inputs or settings ({made})")
        status, why = item_status(files, recipe)
        if overwrite and files["manifest"].exists():
            status = "redo"
        elif status == "other":
            conflicts.append(f"{p.name}: its maps were made with other inputs or settings ({why})")
        plan.append((p, raster, status, recipe))
    refuse_conflicts(conflicts, "input", out_dir, experiment)
    return plan


def area_summary(results: list[MapResult]) -> pd.DataFrame:
    """One tidy table of the area per class of every mapped input.

    Parameters
    ----------
    results : list of MapResult

    Returns
    -------
    pandas.DataFrame
        The rows of every input's area table, with ``input`` (file name) first and ``status``.
    """
    frames = [r.areas.assign(input=r.input.name, status=r.status) for r in results]
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    return df[["input"] + [c for c in df.columns if c != "input"]]


def label_scores(results: list[MapResult], scheme: ClassScheme) -> pd.DataFrame:
    """Return every class's precision, recall and F1 of the maps whose input has a label raster.

    The label raster is beside the input (``SCLS_<image>.tif``, as in a labelled folder): frames of a survey
    that were also labelled.

    Parameters
    ----------
    results : list of MapResult
    scheme : ClassScheme

    Returns
    -------
    pandas.DataFrame
        ``input, map`` (``CNN`` or the final map's name), ``class, precision, recall, f1_score,
        support`` per class, then per input and map a ``macro F1`` row and a ``pixel-weighted F1``
        row (in ``f1_score``). Empty when no input has a label.

    Raises
    ------
    sscnb.errors.DataError
        A label of another size than its image, or with codes outside the scheme.
    """
    codes = list(scheme.labelled_codes)
    names = {c: scheme.name(c) for c in scheme.codes}
    frames = []
    by_folder = {}
    for r in results:
        folder = Path(r.input).parent
        if folder not in by_folder:
            try:
                recs = find_pairs(folder)
            except DataError:  # no image named River_NNNN there: no label can belong to one
                recs = []
            by_folder[folder] = {Path(rec.image_path).resolve(): rec for rec in recs if rec.has_label}
        rec = by_folder[folder].get(Path(r.input).resolve())
        if rec is None or rec.label_path is None:
            continue
        lab = read_label(rec.label_path, scheme)
        for tag, key in (("CNN", "cnn"), (r.phase2_name, "final")):
            with open_raster(r.files[key]) as ds:
                m = ds.read(1)
            if m.shape != lab.shape:
                raise DataError(
                    f"{Path(rec.label_path).name} is {lab.shape[1]} x {lab.shape[0]} px but "
                    f"{Path(r.input).name} is {m.shape[1]} x {m.shape[0]}: a label must cover its image"
                )
            rep = metrics.report_from_confusion(metrics.confusion(lab, m, codes), codes, names)
            frames.append(rep.assign(input=Path(r.input).name, map=tag))
            frames.append(
                pd.DataFrame(
                    [
                        {"input": Path(r.input).name, "map": tag, "class": "macro F1", "f1_score": metrics.macro_f1(rep)},
                        {
                            "input": Path(r.input).name,
                            "map": tag,
                            "class": "pixel-weighted F1",
                            "f1_score": metrics.weighted_f1(rep),
                            "support": int(rep.support.sum()),
                        },
                    ]
                )
            )
    if not frames:
        return pd.DataFrame(columns=["input", "map", *metrics.REPORT_COLUMNS])
    df = pd.concat(frames, ignore_index=True)
    return df[["input", "map", *metrics.REPORT_COLUMNS]]


@dataclass(frozen=True)
class _MapTask:
    """One input to map, with everything :func:`map_raster` needs but the model.

    It travels to Dask workers, which load the model once each.
    """

    path: Path
    out_dir: Path
    experiment: str
    params: SSCParams
    vectors: bool
    min_polygon_area: float
    window_mpx: float
    raster: SurveyRaster
    recipe: dict
    labels: Any = None  # the user's labelled pixels of the input (phase2.PixelLabels), or None


def _map_one(task: _MapTask, cnn: LoadedModel, progress: bool) -> MapResult:
    """One input, with GDAL's block cache capped (see :data:`GDAL_CACHE_MB`)."""
    # GDAL_NUM_THREADS: GDAL decodes the blocks of one read on several threads (compressed GeoTIFFs)
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB, GDAL_NUM_THREADS=str(feature_threads())):
        return map_raster(
            task.path,
            cnn,
            task.out_dir,
            task.experiment,
            task.params,
            vectors=task.vectors,
            min_polygon_area=task.min_polygon_area,
            window_mpx=task.window_mpx,
            raster=task.raster,
            recipe=task.recipe,
            progress=progress,
            labels=task.labels,
        )


def _map_task(model_path: str, task: _MapTask) -> MapResult:
    """Return a worker's task: the model is loaded once per worker process."""
    return _map_one(task, worker_model(model_path), False)


def map_inputs(
    inputs: str | Path | list,
    cnn: LoadedModel,
    out_dir: str | Path,
    experiment: str,
    params: SSCParams | None = None,
    *,
    vectors: bool = False,
    min_polygon_area: float = MIN_POLYGON_AREA,
    overwrite: bool = False,
    window_mpx: float = WINDOW_MPX,
    progress: bool = True,
    scheduler: str | None = None,
    workers: int | None = None,
    log: Callable[[str], object] = print,
    labels: str | Path | dict | None = None,
    class_field: str = "class_code",
) -> list[MapResult]:
    """Map every input; all are checked before any is mapped.

    Parameters
    ----------
    inputs : str, Path or list of them
        Files, folders or glob patterns (see :func:`resolve_inputs`).
    cnn : LoadedModel
    out_dir : str or Path
    experiment : str
    params : SSCParams, optional
        Phase-2 settings; the defaults when None.
    vectors : bool
    min_polygon_area : float, m2 (px without a projected CRS)
    overwrite : bool
        Redo inputs whose maps exist.
    window_mpx : float, megapixels
    progress : bool
    scheduler : None or str
        None: in this process; ``"local:N"``: N worker processes on this machine; or the address
        of a Dask scheduler (see :func:`sscnb.batch.parse_scheduler`). One task per input.
    workers : int, optional
        Same as ``"local:N"``.
    log : callable
        Receives one line of text per event (skipped files, each input's size and speed).
    labels : str, Path or dict, optional
        The user's labels of the inputs: a labels CSV, polygons or a folder of ``SCLS_`` rasters
        (:func:`sscnb.labels.pixel_labels`), or ``{input name: PixelLabels}``. On the inputs they
        cover, phase 2 learns from them and they judge it (:func:`sscnb.phase2.choose_phase2`).
    class_field : str
        The class attribute of polygons.

    Returns
    -------
    list of MapResult
        Inputs already mapped with the same model and settings are skipped (status
        ``"skipped (done)"``, their areas read back); other finished maps are never replaced
        unless ``overwrite``.

    Raises
    ------
    sscnb.errors.BatchError
        After every other input is done, when some failed: their names and errors.
    """
    params, out_dir = params or SSCParams(), Path(out_dir)
    paths, skipped = resolve_inputs(inputs)
    for s in skipped:
        log(s)
    by_input = labels_for_images(labels, {p.stem: p for p in paths}, cnn, class_field, log)
    plan = plan_inputs(
        paths,
        cnn,
        out_dir,
        experiment,
        params,
        vectors=vectors,
        min_polygon_area=min_polygon_area,
        overwrite=overwrite,
        labels=by_input,
    )
    prepare_output(out_dir)
    results, todo = {}, {}
    for path, raster, status, recipe in plan:
        if status == "done":
            log(f"{path.name}: already mapped with this model and these settings, skipped")
            results[path.name] = _finished(path, map_files(out_dir, path.stem, experiment, params, vectors), params)
        else:
            log(raster.describe())
            todo[path.name] = _MapTask(
                path, out_dir, experiment, params, vectors, min_polygon_area, window_mpx, raster, recipe, by_input.get(path.stem)
            )

    def finished(name, res):
        mpx = todo[name].raster.pixels / 1e6
        log(
            f"{name}: mapped {mpx:.1f} Mpx in {res.timings['total']:.1f} s "
            f"({mpx / max(res.timings['total'], 1e-9):.2f} Mpx/s) -> {res.files['final'].name}"
        )

    one = len(todo) == 1 and scheduler is None and workers is None  # one input here: its own bars, not the batch's
    done, failures = run_batch(
        {k: (task,) for k, task in todo.items()},
        cnn,
        _map_one,
        _map_task,
        scheduler=scheduler,
        workers=workers,
        desc="map",
        progress=progress and not one,
        on_result=finished,
        log=log,
        local_extra=(progress and one,),
    )
    results.update(done)
    if failures:
        raise BatchError(failures, what="input")
    return [results[p.name] for p, *_ in plan if p.name in results]


def _finished(path: Path, files: dict, params: SSCParams) -> MapResult:
    """Return the result of an input mapped earlier, read back from its files."""
    man = json.loads(files["manifest"].read_text())
    return MapResult(
        path,
        files,
        pd.read_csv(files["areas"]),
        man.get("info", {}),
        man.get("seconds", {}),
        "skipped (done)",
        params.phase2_name,
    )
