"""Compiling per-image results (notebook 03's CSV files) into one tidy table, with summaries.

The compiled table has one row per image x class x type with columns ``F1`` (0-1, as everywhere in sscnb),
``Support`` (labelled pixels), ``RiverName``, ``Image``, ``Type`` (CNN / MLP / RF / MLPRF), ``Sample``
(``InSample`` when the image's river is one the CNN was trained on, from the model card or class
key; ``OutOfSample`` otherwise; ``Unknown`` when no model is given), ``Class``, ``Experiment``,
``Model``; plus, per image and type, a row with ``Class = "ALL"`` holding the support-weighted
F1 over its classes. Summaries weight by support (pixels), never average over images.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sscnb.assess import _metrics as metrics
from sscnb.assess._metrics import read_report, weighted_f1
from sscnb.data._pairs import parse_image_name
from sscnb.errors import ReportError
from sscnb.layout import MODEL_DIR
from sscnb.params import DEFAULT_PHASE2, PHASE2_CHOICES, phase2_name
from sscnb.provenance import atomic_path

if TYPE_CHECKING:
    from sscnb.data._classes import ClassScheme

__all__ = [
    "COMPILED_COLUMNS",
    "ReportError",
    "find_result_files",
    "known_experiments",
    "split_image_experiment",
    "training_rivers",
    "compile_results",
    "save_compiled",
    "weighted_summary",
    "macro_summary",
    "aggregated_confusion",
    "narrative",
    "overall_f1",
    "class_scores",
]

COMPILED_COLUMNS = ["F1", "Support", "RiverName", "Image", "Type", "Sample", "Class", "Experiment", "Model"]
#: the maps a results folder holds: the CNN's tile map and each phase 2's final map (sscnb.params.PHASE2_CHOICES)
TYPES = ("CNN", *PHASE2_CHOICES.values())


def _is_image_name(name: str) -> bool:
    return parse_image_name(name + ".jpg") is not None


def known_experiments(results_dir: str | Path) -> set[str]:
    """Experiments whose run-level files are in a results folder.

    Notebook 03 writes ``Summary_<exp>.csv`` and ``Timings_<exp>.csv``, so they name the
    experiments without guessing.

    Parameters
    ----------
    results_dir : str or Path

    Returns
    -------
    set of str
    """
    found = set()
    for p in Path(results_dir).glob("*.csv"):
        for prefix in ("Summary_", "Timings_"):
            if p.name.startswith(prefix):
                found.add(p.stem[len(prefix) :])
    return found


def split_image_experiment(
    rest: str, experiment: str | None = None, experiments: tuple | list | set = ()
) -> tuple[str, str] | None:
    """Split ``<image>_<experiment>`` (a result file name without its type prefix and suffix).

    The image part must be an image name (``River_NNNN``), which makes the split unambiguous when
    the experiment is known: experiment ``demo`` does not claim ``Lake_0001_x_demo`` (image
    ``Lake_0001_x`` is no image name) and ``run`` does not claim ``Clearwater_0005_test_run``.

    Parameters
    ----------
    rest : str
        E.g. ``"Lake_0001_x_demo"``.
    experiment : str, optional
        Only this experiment.
    experiments : iterable of str
        Experiments known to be in the folder (:func:`known_experiments`), tried longest first
        when ``experiment`` is None; otherwise the shortest image name that fits is taken.

    Returns
    -------
    (image, experiment) or None

    Examples
    --------
    >>> split_image_experiment("Lake_0001_x_demo", "demo") is None
    True
    >>> split_image_experiment("Lake_0001_x_demo", experiments={"demo", "x_demo"})
    ('Lake_0001', 'x_demo')
    """
    for e in [experiment] if experiment else sorted(experiments, key=len, reverse=True):
        if rest.endswith("_" + e) and _is_image_name(rest[: -len(e) - 1]):
            return rest[: -len(e) - 1], e
    if experiment is None:
        m = re.match(r"^(?P<image>.+?_\d{4,})_(?P<experiment>.+)$", rest)
        if m:
            return m["image"], m["experiment"]
    return None


def find_result_files(results_dir: str | Path, experiment: str | None = None) -> list[tuple[Path, str, str, str]]:
    """Return the per-image result CSVs of notebook 03 in a folder.

    Parameters
    ----------
    results_dir : str or Path
    experiment : str, optional
        Only the files of this experiment (never those of an experiment whose name ends with it).

    Returns
    -------
    list of (Path, str, str, str)
        ``(path, type, image, experiment)``; type is one of :data:`TYPES` (CNN, MLP, RF, MLPRF).
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ReportError(f"results folder {results_dir} does not exist: run notebook 03 first or check results_dir")
    experiments = known_experiments(results_dir)
    out = []
    for p in sorted(results_dir.glob("*.csv")):
        m = re.match(rf"^(?P<type>{'|'.join(TYPES)})_(?P<rest>.+)\.csv$", p.name)
        if not m:
            continue
        split = split_image_experiment(m["rest"], experiment, experiments)
        if split:
            out.append((p, m["type"], split[0], split[1]))
    return out


def training_rivers(model_path: str | Path | None = None, results_dir: str | Path | None = None) -> tuple[set | None, str]:
    """Return the rivers a CNN was trained on, from its model card (``*_card.json``) or class key (``*_classkey.csv``).

    Parameters
    ----------
    model_path : str or Path, optional
        The model file or its folder.
    results_dir : str or Path, optional
        Otherwise ``<results_dir>/../model`` is looked in.

    Returns
    -------
    rivers : set of str, or None
        None when no model is found.
    model : str
        The model's name ("" when none).
    """
    cands = []
    if model_path is not None:
        mp = Path(model_path)
        folder = mp if mp.is_dir() else mp.parent
        stem = None if mp.is_dir() else mp.stem
        cands.append((folder, stem))
    elif results_dir is not None:
        cands.append((Path(results_dir).parent / MODEL_DIR, None))
    for folder, stem in cands:
        cards = sorted(folder.glob(f"{stem or '*'}_card.json")) if folder.is_dir() else []
        if len(cards) == 1:
            card = json.loads(cards[0].read_text())
            rivers = set(card.get("tiles_per_class", {}).keys()) or set(card.get("rivers", []))
            if rivers:
                return rivers, card.get("model_name", cards[0].stem[:-5])
        keys = sorted(folder.glob(f"{stem or '*'}_classkey.csv")) if folder.is_dir() else []
        if len(keys) == 1:
            rivers = set(pd.read_csv(keys[0]).River.astype(str)) - {"*"}
            if rivers:
                return rivers, keys[0].stem[: -len("_classkey")]
    return None, ""


def compile_results(
    results_dirs: str | Path | list, experiment: str | None = None, model_path: str | Path | None = None
) -> pd.DataFrame:
    """Compile notebook 03's per-image CSVs into one tidy table (see the module docstring).

    Parameters
    ----------
    results_dirs : str, Path or list of them
    experiment : str, optional
        Only this experiment's files (never those of an experiment whose name ends with it).
    model_path : str or Path, optional
        For the in/out-of-sample split.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COMPILED_COLUMNS`.

    Raises
    ------
    ReportError
        Naming the folder when there is nothing to compile, the file when a CSV is malformed.
    """
    if isinstance(results_dirs, (str, Path)):
        results_dirs = [results_dirs]
    frames = []
    for rd in results_dirs:
        files = find_result_files(rd, experiment)
        if not files:
            raise ReportError(
                f"no {', '.join(t + '_*' for t in TYPES[:-1])} or {TYPES[-1]}_* result CSV files in {rd}"
                + (f" for experiment {experiment!r}" if experiment else "")
                + ": run notebook 03 first"
            )
        rivers, model = training_rivers(model_path, rd)
        if rivers is None:
            warnings.warn(f"no model card or class key found for {rd}: Sample is 'Unknown' (pass model_path)", stacklevel=2)
        for path, typ, image, exp in files:
            try:
                rep = read_report(path)
            except ValueError as exc:
                raise ReportError(str(exc) if path.name in str(exc) else f"{path.name}: {exc}") from exc
            parsed = parse_image_name(image + ".jpg")
            river = parsed[0] if parsed else image.rsplit("_", 1)[0]
            sample = "Unknown" if rivers is None else ("InSample" if river in rivers else "OutOfSample")
            support = rep.support.to_numpy(float)
            f1 = rep.f1_score.to_numpy(float)
            base = {"RiverName": river, "Image": image, "Type": typ, "Sample": sample, "Experiment": exp, "Model": model}
            rows = [
                {**base, "F1": f, "Support": int(s), "Class": str(c)} for c, f, s in zip(rep["class"], f1, support, strict=True)
            ]
            all_f1 = weighted_f1(rep)
            rows.append({**base, "F1": all_f1, "Support": int(support.sum()), "Class": "ALL"})
            frames.append(pd.DataFrame(rows))
    df = pd.concat(frames, ignore_index=True)[COMPILED_COLUMNS]
    return df.sort_values(["Experiment", "RiverName", "Image", "Type"], kind="stable").reset_index(drop=True)


def save_compiled(df: pd.DataFrame, output_dir: str | Path, experiment: str) -> Path:
    """Write ``Compiled_<experiment>.csv``, atomically.

    Parameters
    ----------
    df : pandas.DataFrame
    output_dir : str or Path
    experiment : str

    Returns
    -------
    Path
    """
    p = Path(output_dir) / f"Compiled_{experiment}.csv"
    with atomic_path(p) as tmp:
        df.to_csv(tmp, index=False)
    return p


def weighted_summary(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Pixel-weighted F1 over the class rows (not ALL), grouped.

    Parameters
    ----------
    df : pandas.DataFrame
        The compiled table.
    by : list of str
        Columns to group by; ``[]`` for one overall figure.

    Returns
    -------
    pandas.DataFrame
        ``F1`` (0-1), ``Support`` (labelled pixels) and ``Images`` per group.
    """
    d = df[df.Class != "ALL"].copy()
    d["_w"] = d.F1 * d.Support
    if not by:
        d["_all"] = "ALL"
        by = ["_all"]
    g = d.groupby(list(by), sort=True)
    out = pd.DataFrame({"F1": g["_w"].sum() / g["Support"].sum(), "Support": g["Support"].sum(), "Images": g["Image"].nunique()})
    return out.reset_index().drop(columns=["_all"], errors="ignore")


def macro_summary(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Return the macro F1: the mean of the classes' pixel-weighted F1.

    :func:`weighted_summary` per class, so that every class counts the same and a rare one is not averaged
    away.

    Parameters
    ----------
    df : pandas.DataFrame
        The compiled table.
    by : list of str
        Columns to group by; ``[]`` for one overall figure.

    Returns
    -------
    pandas.DataFrame
        ``Macro_F1`` (0-1) and ``Classes`` (with labelled pixels) per group.
    """
    per_class = weighted_summary(df, list(by) + ["Class"])
    per_class = per_class[per_class.Support > 0]
    if not by:
        return pd.DataFrame({"Macro_F1": [per_class.F1.mean()], "Classes": [len(per_class)]})
    g = per_class.groupby(list(by), sort=True)
    return pd.DataFrame({"Macro_F1": g["F1"].mean(), "Classes": g["Class"].nunique()}).reset_index()


def aggregated_confusion(results_dirs: str | Path | list, experiment: str | None = None) -> dict:
    """Confusion matrices summed over the images of results folders.

    Parameters
    ----------
    results_dirs : str, Path or list of them
    experiment : str, optional

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{type: matrix}`` (rows true, columns predicted, pixel counts), from the
        ``Confusion_<TYPE>_<image>_<exp>.csv`` files.
    """
    if isinstance(results_dirs, (str, Path)):
        results_dirs = [results_dirs]
    out: dict = {}
    for rd in results_dirs:
        experiments = known_experiments(rd)
        for typ in TYPES:
            for p in sorted(Path(rd).glob(f"Confusion_{typ}_*.csv")):
                if not split_image_experiment(p.stem[len(f"Confusion_{typ}_") :], experiment, experiments):
                    continue
                try:
                    cm = pd.read_csv(p, index_col=0)
                except Exception as exc:  # noqa: BLE001
                    raise ReportError(f"{p.name} cannot be read ({exc})") from exc
                out[typ] = cm if typ not in out else out[typ].add(cm, fill_value=0)
    return {k: v.astype(np.int64) for k, v in out.items()}


def narrative(df: pd.DataFrame) -> str:
    """Return a few sentences of Markdown from the numbers.

    Parameters
    ----------
    df : pandas.DataFrame
        The compiled table.

    Returns
    -------
    str
        Overall F1 per type, the CNN -> final map gain, best and worst class of the final map, per
        sample group.
    """
    lines = []
    final_types = [t for t in TYPES[1:] if (df.Type == t).any()]
    for sample, d in df.groupby("Sample"):
        o = weighted_summary(d, ["Type"]).set_index("Type")
        n_img = d.Image.nunique()
        parts = [
            f"**{sample}** ({n_img} image{'s' if n_img != 1 else ''}, "
            f"{int(d[(d.Class != 'ALL') & (d.Type == d.Type.iloc[0])].Support.sum()):,} labelled pixels):"
        ]
        m = macro_summary(d, ["Type"]).set_index("Type")
        if "CNN" in o.index:
            parts.append(
                f"the CNN tile map scores a pixel-weighted F1 of {o.loc['CNN', 'F1']:.3f} "
                f"(macro F1 {m.loc['CNN', 'Macro_F1']:.3f})"
            )
        for t in final_types:
            if t in o.index:
                gain = o.loc[t, "F1"] - o.loc["CNN", "F1"] if "CNN" in o.index else np.nan
                parts.append(
                    f"the final {t} map {o.loc[t, 'F1']:.3f}"
                    + (f" ({gain:+.3f} over the CNN)" if np.isfinite(gain) else "")
                    + f", macro F1 {m.loc[t, 'Macro_F1']:.3f}"
                )
                c = weighted_summary(d[d.Type == t], ["Class"]).sort_values("F1")
                if len(c) > 1:
                    parts.append(
                        f"best class {c.Class.iloc[-1]} ({c.F1.iloc[-1]:.3f}), worst "
                        f"{c.Class.iloc[0]} ({c.F1.iloc[0]:.3f}, {int(c.Support.iloc[0]):,} px)"
                    )
        lines.append(parts[0] + " " + "; ".join(parts[1:]) + ".")
    return "\n\n".join(lines)


def overall_f1(out_dir: str | Path, experiment: str, phase2: str = DEFAULT_PHASE2, images: set | list | None = None) -> dict:
    """Pixel-weighted F1 over all images of a results folder.

    Parameters
    ----------
    out_dir : str or Path
    experiment : str
    phase2 : {"mlp", "rf", "mlp_rf"}
    images : set of str, optional
        Only these images.

    Returns
    -------
    dict
        ``{"CNN": f1, "MLP", "RF" or "MLPRF": f1}``: the F1 of every (image, class) weighted by its labelled
        pixels, not an average over images.
    """
    name = phase2_name(phase2)
    reports: dict[str, list] = {"CNN": [], name: []}
    for path, kind, image, _ in find_result_files(out_dir, experiment):
        if kind in reports and (images is None or image in images):
            reports[kind].append(metrics.read_report(path))
    return {k: metrics.weighted_f1(v) for k, v in reports.items()}


def class_scores(
    out_dir: str | Path,
    experiment: str,
    phase2: str = DEFAULT_PHASE2,
    images: set | list | None = None,
    scheme: ClassScheme | None = None,
) -> pd.DataFrame:
    """Return every class's precision, recall and F1 over all images of a results folder.

    Pooled from the saved confusion matrices (every labelled pixel counts once), for the CNN tile map and the
    final map, with the macro F1 (every class counts the same) and the pixel-weighted F1.

    Parameters
    ----------
    out_dir : str or Path
    experiment : str
    phase2 : {"mlp", "rf", "mlp_rf"}
    images : iterable of str, optional
        Only these images (default: every image with both confusion matrices).
    scheme : ClassScheme, optional
        For the class order (default: the order of the matrices).

    Returns
    -------
    pandas.DataFrame
        One row per class and map (``map`` CNN or MLP/RF): ``map, class, precision, recall,
        f1_score, support``, then per map a row ``class = "macro F1"`` and one ``"pixel-weighted
        F1"`` (in ``f1_score``). Empty when there is no confusion matrix.
    """
    out_dir = Path(out_dir)
    name = phase2_name(phase2)
    rows = []
    for tag in ("CNN", name):
        total, names = None, []
        for path in sorted(out_dir.glob(f"Confusion_{tag}_*_{experiment}.csv")):
            image = path.name[len(f"Confusion_{tag}_") : -len(f"_{experiment}.csv")]
            if images is not None and image not in set(images):
                continue
            df = pd.read_csv(path, index_col=0)
            if total is None:
                total, names = df.copy(), list(df.index)
            else:
                total = total.add(df, fill_value=0)
        if total is None:
            continue
        if scheme is not None:
            order = [scheme.name(c) for c in scheme.labelled_codes if scheme.name(c) in total.index]
            total = total.loc[order, order + [c for c in total.columns if c not in order]]
            names = order
        cm = total.to_numpy(np.int64)
        rep = metrics.report_from_confusion(cm, list(range(len(names))), dict(enumerate(names)))
        rep.insert(0, "map", tag)
        rows.append(rep)
        rows.append(
            pd.DataFrame(
                [
                    {"map": tag, "class": "macro F1", "f1_score": metrics.macro_f1(rep)},
                    {
                        "map": tag,
                        "class": "pixel-weighted F1",
                        "f1_score": metrics.weighted_f1(rep),
                        "support": int(rep.support.sum()),
                    },
                ]
            )
        )
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["map", *metrics.REPORT_COLUMNS])
