"""A results folder: the files a run owns, whether an item is done, and what overwrite removes.

``sscnb evaluate`` (notebook 03) and ``sscnb map`` (notebook 05) write, per item (an image of a
labelled folder, a survey input), a set of files and a manifest. The manifest records the item's
*recipe*: everything that decides its numbers (the model's digest and class key, the settings, the
input, the user's labels). On a re-run each item is

* **done**: its manifest records this recipe and every file asked for exists, so it is skipped;
* **todo**: never finished, or a file asked for now is missing, so it is made (again);
* **other**: finished with another recipe. The run stops before any work with one
  :class:`~sscnb.errors.ResultsConflictError` naming every such item, unless ``overwrite``, which
  first removes every file an earlier run made of that item, whichever phase 2 made them.

This module is the one place that decides that: :func:`result_files` and :func:`map_files` name an
item's files, :func:`item_status` reads its manifest and :func:`recipe_status` compares recipes
(done, todo or other), :func:`remove_item` removes its files with their sidecars, and
:func:`refuse_conflicts` raises the one error. ``sscnb assess`` decides with :func:`recipe_status`
whether its folder's sample (its ``sample.json``) is reused, refused or drawn anew, and removes an
earlier one with :func:`remove_item`; ``sscnb adapt --overwrite`` removes every file of the earlier
model of that name with it (a model is refused, not skipped, when one of its name exists:
:func:`sscnb.cnn.check_new_model`).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

from sscnb.errors import ResultsConflictError
from sscnb.params import DEFAULT_PHASE2, PHASE2_CHOICES, SSCParams, phase2_name
from sscnb.provenance import recipe_differences

__all__ = [
    "recipe_status",
    "result_files",
    "map_files",
    "every_map_file",
    "item_status",
    "remove_item",
    "refuse_conflicts",
]

logger = logging.getLogger(__name__)


def _with_sidecars(path: Path) -> tuple[Path, Path, Path]:
    """Return a file and what GDAL and QGIS write beside it (``.aux.xml`` statistics, ``.qml`` style)."""
    return path, path.with_name(path.name + ".aux.xml"), path.with_suffix(".qml")


def result_files(out_dir: str | Path, image_name: str, experiment: str, phase2: str = DEFAULT_PHASE2) -> dict:
    """Paths of the files written for one image of a labelled folder (names as in the original method).

    Parameters
    ----------
    out_dir : str or Path
    image_name : str
    experiment : str
    phase2 : {"mlp", "rf", "mlp_rf"}

    Returns
    -------
    dict of str to Path
        ``cnn_csv, final_csv, cnn_confusion, final_confusion, figure, confidence (the CNN's
        top-class probability per tile), cnn_raster, final_raster, manifest``.
    """
    out_dir = Path(out_dir)
    name = phase2_name(phase2)
    return {
        "cnn_csv": out_dir / f"CNN_{image_name}_{experiment}.csv",
        "final_csv": out_dir / f"{name}_{image_name}_{experiment}.csv",
        "cnn_confusion": out_dir / f"Confusion_CNN_{image_name}_{experiment}.csv",
        "final_confusion": out_dir / f"Confusion_{name}_{image_name}_{experiment}.csv",
        "figure": out_dir / f"SSC_{experiment}_{image_name}.png",
        "confidence": out_dir / "confidence" / f"{image_name}_{experiment}_CNN_confidence.tif",
        "cnn_raster": out_dir / "rasters" / f"{image_name}_{experiment}_CNN.tif",
        "final_raster": out_dir / "rasters" / f"{image_name}_{experiment}_{name}.tif",
        "manifest": out_dir / "manifests" / f"{image_name}_{experiment}.json",
    }


def map_files(out_dir: str | Path, stem: str, experiment: str, params: SSCParams, vectors: bool = False) -> dict:
    """Paths of everything made for one survey input.

    Parameters
    ----------
    out_dir : str or Path
    stem : str
        The input's file name without its suffix.
    experiment : str
    params : SSCParams
        Its ``phase2`` names the final map (``MLP`` or ``RF``).
    vectors : bool

    Returns
    -------
    dict of str to Path
        ``final, cnn, confidence, areas, manifest`` (and ``vectors``), named ``<stem>_<experiment>_...``.
    """
    out_dir = Path(out_dir)
    base = f"{stem}_{experiment}"
    files = {
        "final": out_dir / f"{base}_{params.phase2_name}.tif",
        "cnn": out_dir / f"{base}_CNN.tif",
        "confidence": out_dir / f"{base}_CNN_confidence.tif",
        "areas": out_dir / f"{base}_{params.phase2_name}_areas.csv",
        "manifest": out_dir / f"{base}_{params.phase2_name}.json",
    }
    if vectors:
        files["vectors"] = out_dir / f"{base}_{params.phase2_name}.gpkg"
    return files


def every_map_file(out_dir: str | Path, stem: str, experiment: str) -> dict:
    """Every file a run of any settings makes for one survey input and experiment.

    Parameters
    ----------
    out_dir : str or Path
    stem : str
    experiment : str

    Returns
    -------
    dict of str to dict
        ``{phase2: map_files}`` (polygons included), each with notebook 05's ``preview`` figure.
    """
    made = {}
    for phase2 in sorted(PHASE2_CHOICES):
        files = map_files(out_dir, stem, experiment, SSCParams(phase2=phase2), vectors=True)
        files["preview"] = files["final"].with_name(files["final"].stem + "_preview.png")
        made[phase2] = files
    return made


def recipe_status(recorded: dict | None, recipe: dict) -> tuple[str, str]:
    """Whether finished results were made with this recipe: the rule every results folder follows.

    Parameters
    ----------
    recorded : dict or None
        The recipe the folder's results record (a manifest's, an assessment's ``sample.json``), or
        None where nothing is finished.
    recipe : dict
        What decides the results in this run.

    Returns
    -------
    status : {"done", "todo", "other"}
        done: made with this recipe (skip, or reuse); todo: nothing finished; other: made with another
        recipe (refused, unless overwrite).
    why : str
        What differs (other), or why it is to do.

    Examples
    --------
    >>> recipe_status(None, {"n": 100})
    ('todo', 'not finished')
    >>> recipe_status({"n": 100, "seed": 0}, {"n": 100, "seed": 0})
    ('done', '')
    >>> recipe_status({"n": 100, "seed": 0}, {"n": 200, "seed": 0})
    ('other', 'n: 100 -> 200')
    """
    if recorded is None:
        return "todo", "not finished"
    if recorded != recipe:
        return "other", "; ".join(recipe_differences(recorded, recipe)) or "another recipe"
    return "done", ""


def item_status(files: dict, recipe: dict, wanted: Iterable[str] | None = None) -> tuple[str, str]:
    """Whether one item of a results folder is done.

    Parameters
    ----------
    files : dict
        Its files, with its ``manifest`` (:func:`result_files`, :func:`map_files`).
    recipe : dict
        What decides its numbers in this run (model, settings, input, labels).
    wanted : iterable of str, optional
        The keys of ``files`` asked for now, each of which must also be listed in the manifest's
        ``files`` (what its run made); default: every file of ``files`` must exist.

    Returns
    -------
    status : {"done", "todo", "other"}
        done: its manifest records this recipe and every file asked for exists; todo: never
        finished, or a file asked for now is missing; other: finished with another recipe.
    why : str
        What differs (other), what is missing (todo), or nothing (done).
    """
    if not files["manifest"].exists():
        return "todo", "not finished"
    man = json.loads(files["manifest"].read_text())
    status, why = recipe_status(SSCParams.recorded(man.get("recipe", {})), recipe)
    if status == "other":
        return status, why
    if wanted is None:
        missing = [k for k, f in files.items() if not f.exists()]
    else:  # the manifest lists the files its run made
        missing = [k for k in wanted if not files[k].exists() or k not in man.get("files", [])]
    if missing:
        return "todo", f"{', '.join(missing)} not made yet"
    return "done", ""


def remove_item(made: Iterable[dict], manifest: Path | None = None, stale: Iterable[Path] = ()) -> list[Path]:
    """Remove every file an earlier run made of one item, before it is made again.

    Parameters
    ----------
    made : iterable of dict
        The item's files under every recipe that names them differently (one dict per phase 2).
    manifest : Path, optional
        Removed first: the item is not done until its manifest is written again.
    stale : iterable of Path
        What an interrupted run left (temporary files or folders).

    Returns
    -------
    list of Path
        What was removed, sidecars (``.aux.xml``, ``.qml``) included.
    """
    removed = []
    if manifest is not None and manifest.exists():
        manifest.unlink()
        removed.append(manifest)
    for files in made:
        for f in files.values():
            for one in _with_sidecars(f):
                if one.exists():
                    one.unlink()
                    removed.append(one)
    for left in stale:
        logger.info("removing %s, left by an interrupted run", left)
        shutil.rmtree(left) if left.is_dir() else left.unlink()
        removed.append(left)
    return removed


def refuse_conflicts(conflicts: list, what: str, out_dir: str | Path, experiment: str) -> None:
    """Stop a run before any work when finished results were made otherwise.

    Parameters
    ----------
    conflicts : list of str
        One line per such item (its name and what differs); nothing happens when empty.
    what : str
        What an item is ("image", "input").
    out_dir : str or Path
    experiment : str

    Returns
    -------
    None

    Raises
    ------
    ResultsConflictError
        Naming every item, and saying what to do (overwrite, another experiment or folder).
    """
    if conflicts:
        raise ResultsConflictError(conflicts, what, out_dir, experiment)
