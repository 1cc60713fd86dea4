"""Notebook 03's work on a folder of labelled images.

Classify, score, write the files of the original method, resume exactly (see :func:`evaluate_folder`), in this
process or on Dask.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sscnb import ssc as _ssc
from sscnb.assess import _metrics as metrics
from sscnb.assess._metrics import confusion
from sscnb.batch._tasks import BatchError, run_batch, worker_model
from sscnb.cnn._files import model_recipe
from sscnb.cnn._inputstats import InputShiftWarning
from sscnb.data._classes import ClassScheme
from sscnb.data._geo import georeferencing_of, open_raster
from sscnb.data._pairs import checked_pairs, find_pairs, read_pair
from sscnb.imageresult import ImageResult
from sscnb.labels._sources import labels_for_images
from sscnb.layout import prepare_output
from sscnb.maps import _files as mapfiles
from sscnb.params import PHASE2_CHOICES, SSCParams, phase2_name
from sscnb.phase2 import _features
from sscnb.plots import _figures as plots
from sscnb.plots._pyplot import _plt
from sscnb.provenance import atomic_path, package_versions, remove_temporaries, timestamp, write_json
from sscnb.report import class_scores, overall_f1  # scores over a results folder: report's, named here too
from sscnb.results import item_status, refuse_conflicts, remove_item, result_files
from sscnb.ssc import ClassShrinkWarning

if TYPE_CHECKING:
    from collections.abc import Callable

    from sscnb.cnn._files import LoadedModel
    from sscnb.data._pairs import ImageRecord
    from sscnb.phase2._choose import PixelLabels

__all__ = [
    "evaluate_image",
    "evaluate_folder",
    "overall_f1",
    "class_scores",
    "load_image_results",
]


def _clear_image(files: dict, image_name: str, experiment: str) -> None:
    """Delete every result file of one image and experiment, whichever phase 2 made them, before it is computed again."""
    out_dir = files["manifest"].parent.parent
    remove_item(result_files(out_dir, image_name, experiment, phase2) for phase2 in sorted(PHASE2_CHOICES))


def _image_recipe(cnn: LoadedModel, params: SSCParams) -> dict:
    """Return what decides an image's numbers: the model (file digest and class key) and the settings."""
    return {
        "model": model_recipe(cnn),
        "settings": params.to_dict(),
        **_features.bands_recipe(params.features),
    }


def _wanted(files: dict, has_label: bool, save_figures: bool, save_class_rasters: bool) -> list[str]:
    keys = ["confidence"]
    if has_label:
        keys += ["cnn_csv", "final_csv", "cnn_confusion", "final_confusion"]
    if save_figures:
        keys.append("figure")
    if save_class_rasters:
        keys += ["cnn_raster", "final_raster"]
    return keys


def _write_manifest(path: Path, content: dict) -> None:
    write_json(path, {**content, "versions": package_versions(), "created": timestamp()})


def _append_timing(path: Path, row: dict) -> None:
    """Replace or add one image's row of ``Timings_<experiment>.csv`` (atomically)."""
    new = pd.DataFrame([row])
    if path.exists():
        old = pd.read_csv(path)
        new = pd.concat([old[old.image != row["image"]], new], ignore_index=True)
    with atomic_path(path) as tmp:
        new.to_csv(tmp, index=False)


def _save_confusion(path, y_true, y_pred, scheme):
    codes = list(scheme.labelled_codes)
    cm = confusion(y_true, y_pred, codes)
    names = [scheme.name(c) for c in codes]
    df = pd.DataFrame(cm, index=pd.Index(names, name="true"), columns=names + ["unclassified"])
    with atomic_path(path) as tmp:
        df.to_csv(tmp)


def _score_image(rec, lab, res, files: dict, scheme, row: dict, notes: list) -> None:
    """Score both maps of a labelled image.

    The class reports and confusion matrices written, the summary row filled in (or marked not scored when the
    label has no labelled pixel).
    """
    codes = list(scheme.labelled_codes)
    names = {c: scheme.name(c) for c in scheme.codes}
    rep_cnn = metrics.class_report(lab, res.cnn_map, codes, names)
    rep_fin = metrics.class_report(lab, res.final_map, codes, names)
    _save_confusion(files["cnn_confusion"], lab, res.cnn_map, scheme)
    _save_confusion(files["final_confusion"], lab, res.final_map, scheme)
    metrics.write_report(rep_cnn, files["cnn_csv"])
    metrics.write_report(rep_fin, files["final_csv"])
    row.update(labelled_px=int(rep_fin.support.sum()), **_score_columns(rep_cnn, rep_fin))
    if not rep_fin.support.sum():
        row["status"] = "not scored: no labelled pixel"
        notes.append(
            f"{rec.name}: its label has no labelled pixel (all 0), so it is not scored (F1 left empty): "
            f"label some of it, or move it out of {Path(rec.image_path).parent.name}/"
        )


def _summary_row(rec: ImageRecord, status: str, info: dict) -> dict:
    """Return an image's summary row before scoring: not scored yet, and what made its final map."""
    return {
        "image": rec.name,
        "river": rec.river,
        "labelled_px": 0,
        "f1_cnn": np.nan,
        "f1_final": np.nan,
        "status": status,
        "phase2": info.get("phase2_choice", ""),
    }


def evaluate_image(
    rec: ImageRecord,
    cnn: LoadedModel,
    files: dict,
    wanted: list,
    experiment: str,
    params: SSCParams,
    recipe: dict,
    save_figures: bool,
    dpi: int,
    save_class_rasters: bool,
    labels: PixelLabels | None = None,
) -> tuple[dict, dict, list]:
    """Classify, score and write the files of one image (the task of :func:`evaluate_folder`).

    Parameters
    ----------
    rec : sscnb.data.ImageRecord
    cnn : LoadedModel
    files : dict
        From :func:`sscnb.results.result_files`.
    wanted : list of str
        The keys of ``files`` to make.
    experiment : str
    params : SSCParams
    recipe : dict
        Recorded in the manifest (model digest and settings).
    save_figures : bool
    dpi : int
    save_class_rasters : bool
    labels : sscnb.phase2.PixelLabels, optional
        The user's labelled pixels of the image: phase 2 learns from them and they judge it.

    Returns
    -------
    row : dict
        ``image, river, labelled_px, f1_cnn, f1_final, status, phase2`` (what made the final map:
        the phase-2 classifier and its features, or the CNN tile map; the reason is in the manifest
        and in ``notes``).
    timing : dict
        Seconds per step.
    notes : list of str
        What the user should be told (a one-class tile map, a label without labelled pixels).
    """
    scheme = cnn.scheme
    notes = []
    files["manifest"].unlink(missing_ok=True)  # not done until every file is rewritten
    _clear_image(files, rec.name, experiment)  # nothing of an earlier run (of any settings) stays beside it
    t0 = time.perf_counter()
    img, lab = read_pair(rec, scheme, cnn.tile_size)
    t_read = time.perf_counter() - t0
    with warnings.catch_warnings():  # reported as notes, which reach the console from Dask workers too
        warnings.simplefilter("ignore", InputShiftWarning)
        warnings.simplefilter("ignore", ClassShrinkWarning)
        res = _ssc.classify_image(img, cnn, params, name=rec.name, labels=labels)
    notes.extend(res.info.get("input_check", []) + res.info.get("shrinking", []))
    row = _summary_row(rec, "done", res.info)
    if lab is not None:
        _score_image(rec, lab, res, files, scheme, row, notes)
    if res.info.get("note"):
        notes.append(f"{rec.name}: {res.info['note']}")

    georef = georeferencing_of(rec.image_path)  # the image's header, read once for every raster
    mapfiles.write_tile_confidence(files["confidence"], georef, res.cnn_proba.max(axis=-1), cnn.tile_size)
    if save_class_rasters:
        mapfiles.write_class_map(files["cnn_raster"], res.cnn_map, scheme, georef_from=georef)
        mapfiles.write_class_map(files["final_raster"], res.final_map, scheme, georef_from=georef)
    t_fig = 0.0
    if save_figures:
        t1 = time.perf_counter()
        fig = plots.ssc_figure(
            img,
            lab,
            res.cnn_map,
            res.final_map,
            scheme,
            f1_cnn=row["f1_cnn"],
            f1_final=row["f1_final"],
            phase2_name=res.phase2_name,
            title=f"{rec.name} ({experiment})",
        )
        plots.save_figure(fig, files["figure"], dpi=dpi)
        _plt().close(fig)
        t_fig = time.perf_counter() - t1
    timing = {
        "image": rec.name,
        "read": t_read,
        **res.timings,
        "figure": t_fig,
        "total": t_read + sum(res.timings.values()) + t_fig,
    }
    _write_manifest(
        files["manifest"], {"recipe": recipe, "files": wanted, "timings": timing, "info": res.info}
    )  # last: the image is done
    return row, timing, notes


def _evaluate_task(model_path, rec, *args):
    """Return a worker's task: the model is loaded once per worker process."""
    return evaluate_image(rec, worker_model(model_path), *args)


def _plan_images(
    records,
    out_dir: Path,
    experiment: str,
    p: SSCParams,
    recipe: dict,
    overwrite: bool,
    save_figures: bool,
    save_class_rasters: bool,
    log,
    labels: dict,
) -> list[tuple]:
    """Every image's status first, ``[(record, files, wanted, status, why, recipe)]``.

    An image the user labelled has the labels in its recipe.

    Finished results made otherwise are never mixed with new ones, so any such image stops the batch before it
    starts.
    """
    plan, conflicts = [], []
    for rec in records:
        files = result_files(out_dir, rec.name, experiment, p.phase2)
        if not rec.has_label and not save_class_rasters:
            log(f"{rec.name}: no label, skipped (set save_class_rasters=True to classify it anyway)")
            if overwrite and files["manifest"].exists():  # an earlier run's maps of it would stay beside this run's
                _clear_image(files, rec.name, experiment)
                log(f"{rec.name}: overwrite: its earlier results in this experiment (class rasters, manifest) removed")
            continue
        wanted = _wanted(files, rec.has_label, save_figures, save_class_rasters)
        rec_recipe = recipe | {"labels": labels[rec.name].recipe(p.phase2)} if rec.name in labels else recipe
        status, why = item_status(files, rec_recipe, wanted)
        if status == "other" and not overwrite:
            conflicts.append(f"{rec.name}: {why}")
        plan.append((rec, files, wanted, "todo" if overwrite else status, why, rec_recipe))
    refuse_conflicts(conflicts, "image", out_dir, experiment)
    return plan


def _finished_row(rec, files: dict) -> dict:
    """Return the summary row of an image finished earlier, read back from its files."""
    info = json.loads(files["manifest"].read_text()).get("info", {})
    row = _summary_row(rec, "skipped (done)", info)
    if rec.has_label:
        fin = metrics.read_report(files["final_csv"])
        row.update(labelled_px=int(fin.support.sum()), **_score_columns(metrics.read_report(files["cnn_csv"]), fin))
    return row


def _summary_table(rows: list, scheme):
    """``Summary_<experiment>.csv``'s table: the fixed columns, then the F1 of every class that has one."""
    fixed = ["image", "river", "labelled_px", "f1_cnn", "f1_final", "status", "phase2", "macro_f1_cnn", "macro_f1_final"]
    names = [f"F1 {scheme.name(c)}" for c in scheme.labelled_codes]
    return pd.DataFrame(rows, columns=fixed + [k for k in names if any(k in r for r in rows)])


def evaluate_folder(
    data_dir: str | Path,
    cnn: LoadedModel,
    out_dir: str | Path,
    experiment: str,
    params: SSCParams | None = None,
    *,
    overwrite: bool = False,
    save_figures: bool = True,
    dpi: int = 150,
    save_class_rasters: bool = False,
    progress: bool = True,
    scheduler: str | None = None,
    workers: int | None = None,
    log: Callable[[str], object] = print,
    labels: str | Path | dict | None = None,
    class_field: str = "class_code",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Classify and evaluate every image of a folder.

    Per labelled image writes ``CNN_<image>_<experiment>.csv`` and ``MLP_...`` / ``RF_...``
    (class, precision, recall, f1_score, support), their confusion matrices, the 4-part figure
    ``SSC_<experiment>_<image>.png`` and, with ``save_class_rasters``, the class maps as COGs;
    every file atomically, and last ``manifests/<image>_<experiment>.json`` recording the model
    and settings. Resumable and exact: an image is skipped (its numbers read back) only when its
    manifest records this model and these settings and every file asked for now exists; an image
    finished with another model or other settings is an error unless ``overwrite=True`` (checked
    for all images before any is computed). Unlabelled images follow the same rule. Each image's
    timings go to ``Timings_<experiment>.csv`` as soon as it is done.

    Parameters
    ----------
    data_dir : str or Path
        Images and labels (naming problems are shown; errors stop before computing).
    cnn : LoadedModel
    out_dir : str or Path
    experiment : str
    params : SSCParams, optional
    overwrite, save_figures, save_class_rasters : bool
    dpi : int
    progress : bool
    log : callable
        Receives one line per event (skipped images, notes such as a one-class tile map).
    labels : str, Path or dict, optional
        The user's labels of some images (a labels CSV, polygons, a folder of ``SCLS_`` rasters, or
        ``{image: PixelLabels}``): on those images phase 2 learns from them and they judge it. The
        image is still scored on all its labelled pixels, the user's included: give labels of other
        pixels than the validation labels' to score the rest honestly.
    class_field : str
        The class attribute of polygons.

    Returns
    -------
    summary : pandas.DataFrame
        ``image, river, labelled_px, f1_cnn, f1_final, status, phase2, macro_f1_cnn,
        macro_f1_final`` and ``F1 <class>`` (of the final map, per class with labelled pixels)
        per image.
    timings : pandas.DataFrame
        Seconds per step of the images computed now.

    Raises
    ------
    ResultsConflictError
        Images finished with another model or other settings (unless ``overwrite``), before any is
        computed: two settings' results never mix in one folder.
    BatchError
        Some images failed; the others are done.
    """
    p = params or SSCParams()
    out_dir = Path(out_dir)
    recipe = _image_recipe(cnn, p)
    records = checked_pairs(data_dir, log=log)
    by_image = labels_for_images(labels, {r.name: r.image_path for r in records}, cnn, class_field, log)
    plan = _plan_images(records, out_dir, experiment, p, recipe, overwrite, save_figures, save_class_rasters, log, by_image)
    prepare_output(out_dir)
    remove_temporaries([p for _, files, *_ in plan for p in files.values()], log)  # what a killed run left
    rows = {rec.name: _finished_row(rec, files) for rec, files, _, status, _, _ in plan if status == "done"}
    todo = {
        rec.name: (rec, files, wanted, experiment, p, rec_recipe, save_figures, dpi, save_class_rasters, by_image.get(rec.name))
        for rec, files, wanted, status, _, rec_recipe in plan
        if status != "done"
    }
    trows = []

    def finished(name, result):
        row, timing, notes = result
        for n in notes:
            log(n)
        trows.append(timing)
        _append_timing(out_dir / f"Timings_{experiment}.csv", timing)  # kept even if a later image fails

    results, failures = run_batch(
        todo,
        cnn,
        evaluate_image,
        _evaluate_task,
        scheduler=scheduler,
        workers=workers,
        desc="SSC",
        progress=progress,
        on_result=finished,
        log=log,
    )
    for name, (row, _, _) in results.items():
        rows[name] = row
    order = [rec.name for rec, *_ in plan]
    summary = _summary_table([rows[n] for n in order if n in rows], cnn.scheme)
    timings = pd.DataFrame(sorted(trows, key=lambda t: order.index(t["image"])))
    if failures:
        raise BatchError(failures)
    with atomic_path(out_dir / f"Summary_{experiment}.csv") as tmp:  # here, so notebook 03 and the CLI need not
        summary.to_csv(tmp, index=False)
    return summary, timings


def _score_columns(rep_cnn, rep_fin) -> dict:
    """Return a summary row's scores: pixel-weighted and macro F1 of both maps, and each class's F1 in the final map."""
    out = {
        "f1_cnn": metrics.weighted_f1(rep_cnn),
        "f1_final": metrics.weighted_f1(rep_fin),
        "macro_f1_cnn": metrics.macro_f1(rep_cnn),
        "macro_f1_final": metrics.macro_f1(rep_fin),
    }
    for _, r in rep_fin.iterrows():
        if r["support"] > 0:
            out[f"F1 {r['class']}"] = float(r["f1_score"])
    return out


def load_image_results(
    out_dir: str | Path, data_dir: str | Path, image: str, experiment: str, phase2: str, scheme: ClassScheme, tile: int
) -> ImageResult:
    """Read back what :func:`evaluate_folder` made for one image, to look at it.

    Parameters
    ----------
    out_dir : str or Path
        The results folder.
    data_dir : str or Path
        The images and labels it evaluated.
    image : str
        The image's name (``River_NNNN``).
    experiment : str
    phase2 : {"mlp", "rf", "mlp_rf"}
    scheme : ClassScheme
        The CNN's (``cnn.scheme``).
    tile : int, px
        The CNN's tile size (``cnn.tile_size``): the confidence raster has one pixel per tile.

    Returns
    -------
    ImageResult
        ``image``, ``label`` (or None), ``confidence_tiles`` (the CNN's top-class probability per tile),
        ``cnn_map`` and ``final_map`` (None when the class rasters were not saved), and the F1 tables
        when there are labels and maps.
    """
    files = result_files(out_dir, image, experiment, phase2)
    rec = next((r for r in find_pairs(data_dir) if r.name == image), None)
    if rec is None:
        raise ValueError(f"no image {image!r} in {data_dir}")
    if not files["confidence"].exists():
        raise FileNotFoundError(f"{files['confidence']} does not exist: evaluate {image} first (notebook 03)")
    img, lab = read_pair(rec, scheme)
    with open_raster(files["confidence"]) as ds:  # rasters of plain images are in pixel coordinates
        confidence = ds.read(1)
    maps: dict[str, np.ndarray | None] = {}
    for key, f in (("final_map", files["final_raster"]), ("cnn_map", files["cnn_raster"])):
        maps[key] = None
        if f.exists():
            with open_raster(f) as ds:
                maps[key] = ds.read(1)
    return ImageResult(
        image,
        img,
        lab,
        maps["cnn_map"],
        maps["final_map"],
        confidence,
        scheme,
        tile,
        phase2_name(phase2),
        note=f"read from {Path(out_dir)}",
    )
