"""The command line's parser: one sub-command per job, its options and their help in words.

:func:`build_parser` is what ``sscnb`` (:mod:`sscnb.__main__`) parses with; the phase-2 options take their
names, defaults and meanings from :class:`sscnb.params.SSCParams` (its docstring, :meth:`sscnb.settings.Settings.descriptions`).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

__all__ = ["build_parser", "command_list", "in_flags", "FLAGS"]


def _add_phase2_options(parser):
    """Add one option per phase-2 setting, named as in SSCParams.

    ``--median_radius`` or ``--median-radius``, each defaulting to SSCParams's own default.
    """
    from dataclasses import MISSING, fields

    from .features import FEATURE_SETS
    from .params import MLP_DEPTHS, PHASE2_CHOICES, SSCParams

    g = parser.add_argument_group("phase-2 settings (as notebooks 03 and 05 name them)")
    meaning = SSCParams.descriptions()
    for f in fields(SSCParams):
        flags = [f"--{f.name}"] + ([f"--{f.name.replace('_', '-')}"] if "_" in f.name else [])
        default = f.default if f.default is not MISSING else None
        said = {True: "yes", False: "no"}.get(default, default) if isinstance(default, bool) else default
        first = re.sub(r":\w+:`~?([^`]+)`", r"\1", meaning.get(f.name, "").split(". ")[0].rstrip("."))
        first = first.replace("``", "").replace("%", "%%")  # in words, as argparse formats help
        kw: dict[str, Any] = {"dest": f"p2_{f.name}", "default": None, "help": f"{first} (default: {said})"}
        kw["metavar"] = {"bool": "yes|no", "int": "N", "float": "X"}.get(str(f.type), "NAME")
        if f.type == "bool":
            kw["type"] = _boolean
        elif f.type in ("int", "float"):
            kw["type"] = int if f.type == "int" else float
        choices = {
            "phase2": sorted(PHASE2_CHOICES),
            "mlp_depth": list(MLP_DEPTHS),
            "features": list(FEATURE_SETS),
            "phase2_sampling": ["area", "balanced"],
        }
        if f.name in choices:
            kw["choices"] = choices[f.name]
            kw["metavar"] = "|".join(choices[f.name])
        g.add_argument(*flags, **kw)


def _add_cluster_options(parser):
    g = parser.add_argument_group("where the images are processed (default: in this process)")
    x = g.add_mutually_exclusive_group()
    x.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="a Dask cluster of N worker processes on this machine (their threads share the cores)",
    )
    x.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="the address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (dask-jobqueue, HPC)",
    )
    x.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="in this process, at most N threads for the median filter, the random forest and the "
        "CNN's backend (default: every core)",
    )


def _boolean(text: str) -> bool:
    t = text.strip().lower()
    if t in ("yes", "true", "1", "on"):
        return True
    if t in ("no", "false", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")


def _replay(text: str):
    v = float(text)
    if v < 0 or (v > 1 and v != int(v)):
        raise argparse.ArgumentTypeError(f"replay must be a fraction 0-1 or a whole count, not {text}")
    return v if v <= 1 else int(v)


def _parser_run(sub) -> None:
    r = sub.add_parser("run", help="run the numbered notebooks with papermill")
    r.add_argument("--config", default="configs/sample_data.yml", help="run YAML (default: %(default)s)")
    r.add_argument("--experiment", help="override the experiment name (outputs/<experiment>/)")
    r.add_argument("--only", nargs="+", metavar="NN", help="run only notebooks whose names start so, e.g. 00 01")
    r.add_argument("--overwrite", action="store_true", help="replace a finished run of the same experiment")
    r.add_argument("--extend", action="store_true", help="run (more) notebooks in an existing run folder, keeping its files")


def _parser_check(sub) -> None:
    c = sub.add_parser("check", help="check a data folder (what notebook 00 does, as text)")
    c.add_argument("data_dir")
    c.add_argument("--tile-size", type=int, default=50, metavar="PX", help="side of a CNN tile in px (default: %(default)s)")
    c.add_argument(
        "--purity",
        type=float,
        default=0.9,
        metavar="X",
        help="share of a tile that must be one class to train on it (default: %(default)s)",
    )
    c.add_argument("--class-csv", default=None, help="CSV of class codes, names and colours (default: the five classes)")


def _add_label_options(parser) -> None:
    parser.add_argument(
        "--labels",
        default=None,
        metavar="L",
        help="your labels of some of the images (labels CSV of the labeller, polygon file .gpkg/.shp, or "
        "folder of SCLS_ rasters): phase 2 learns from them, and they judge it against the tile map",
    )
    parser.add_argument("--class-field", default="class_code", help="class attribute of polygons (default: %(default)s)")


def _add_model_option(parser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="the CNN (.keras file or its folder) saved by notebook 02, or rivers / rivers_compact (shipped with sscnb)",
    )


def _parser_map(sub) -> None:
    m = sub.add_parser(
        "map",
        help="map images or orthomosaics to GIS-ready class maps (what notebook 05 does)",
        description="Classify every input (an image, an orthomosaic, a folder or a glob) with a "
        "CNN from notebook 02 and a phase-2 pixel classifier trained on that input, "
        "and write Cloud-Optimized GeoTIFF class maps, areas per class and, with "
        "--vectors, polygons.",
    )
    m.add_argument("inputs", nargs="+", metavar="INPUT", help="image, orthomosaic, folder or glob pattern")
    _add_model_option(m)
    m.add_argument("--out", required=True, help="output folder")
    m.add_argument("--experiment", default="map", help="name in every output file (default: %(default)s)")
    m.add_argument("--vectors", action="store_true", help="also write polygons per class to a GeoPackage")
    m.add_argument(
        "--min-polygon-area",
        type=float,
        default=None,
        metavar="AREA",
        help="patches smaller than this (m2; px without a projected CRS) are merged before polygons are made (default: 1)",
    )
    m.add_argument(
        "--window-mpx",
        type=float,
        default=None,
        metavar="MPX",
        help="megapixels read at a time: sets peak memory (about 0.1 GB per Mpx), not results (default: 8)",
    )
    m.add_argument("--overwrite", action="store_true", help="redo inputs whose maps exist")
    _add_label_options(m)
    _add_cluster_options(m)
    _add_phase2_options(m)


def _parser_evaluate(sub) -> None:
    e = sub.add_parser(
        "evaluate",
        help="classify and score a folder of labelled images (what notebook 03 does)",
        description="Phase 1 and phase 2 on every image of DATA_DIR, scored against its labels: "
        "the same files as notebook 03 (per-image CSVs, confusion matrices, "
        "figures, Summary_<experiment>.csv, Timings_<experiment>.csv).",
    )
    e.add_argument("data_dir", metavar="DATA_DIR", help="images RiverName_NNNN.jpg with labels SCLS_*.tif")
    _add_model_option(e)
    e.add_argument("--out", required=True, help="output folder (notebook 03 writes to output_dir/ssc)")
    e.add_argument("--experiment", default="evaluate", help="name in every output file (default: %(default)s)")
    e.add_argument("--overwrite", action="store_true", help="redo finished images")
    e.add_argument("--no-figures", dest="save_figures", action="store_false", help="do not draw the 4-part figures")
    e.add_argument("--dpi", type=int, default=150, help="resolution of the figures (default: %(default)s)")
    e.add_argument("--class-rasters", action="store_true", help="also write the CNN and final maps as COGs")
    _add_label_options(e)
    _add_cluster_options(e)
    _add_phase2_options(e)


def _parser_adapt(sub) -> None:
    from .adapt import DEFAULT_EPOCHS, DEFAULT_REPLAY

    d = sub.add_parser(
        "adapt",
        help="fine-tune a model on labelled tiles of a new river (what notebook 07 does)",
        description="Fine-tune a CNN on a new river's labels (a labels CSV from the tile labeller, "
        "polygons drawn in QGIS, or a folder of SCLS_ rasters) with a sample of the "
        "parent's training tiles replayed, and save the adapted model (.keras, class "
        "key, card with its lineage) under OUT. The last line printed is its path.",
    )
    d.add_argument("images", nargs="+", metavar="IMAGES", help="the new river's images, or folders of them")
    d.add_argument(
        "--model",
        default="rivers",
        help="the parent CNN (.keras file or its folder; default: rivers, the model shipped with sscnb)",
    )
    d.add_argument("--labels", required=True, help="labels CSV, polygon file (.gpkg, .shp) or folder of SCLS_ rasters")
    d.add_argument("--out", required=True, help="folder for the adapted model")
    d.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, metavar="N", help="passes over the tiles (default: %(default)s)")
    d.add_argument(
        "--replay",
        type=_replay,
        default=DEFAULT_REPLAY,
        help="parent tiles replayed: a fraction 0-1 or a count (default: %(default)s)",
    )
    d.add_argument("--replay-dir", default=None, help="the parent's training folder (default: from its card)")
    d.add_argument("--name", default="cnn_adapted", help="file name of the adapted model (default: %(default)s)")
    d.add_argument("--class-field", default="class_code", help="class attribute of polygons (default: %(default)s)")
    d.add_argument("--seed", type=int, default=42, metavar="N", help="random seed of the fine-tuning (default: %(default)s)")
    d.add_argument("--overwrite", action="store_true", help="replace an adapted model of that name")


def _parser_assess(sub) -> None:
    from .assess import DEFAULT_MIN_PER_CLASS

    e = sub.add_parser(
        "assess",
        help="class areas and accuracy with 95%% confidence intervals from a sample of points (what notebook 08 does)",
        description="Draw a stratified random sample of points from a final map (Olofsson et al. "
        "2014: a minimum per class, the rest by area), take their reference classes "
        "from a label raster (--reference) or from points labelled in QGIS or notebook "
        "08 (--points), and estimate each class's area and the map's accuracies with "
        "95% confidence intervals. Writes points.csv (+ points.gpkg), estimates.csv and "
        "error_matrix.csv under OUT. Without a reference it draws the sample and stops: "
        "label the points, then run again with --points.",
    )
    e.add_argument("--map", required=True, dest="map_path", help="the final map (a class GeoTIFF)")
    e.add_argument("--out", required=True, help="folder for the sample and the estimates")
    e.add_argument("--n", type=int, default=None, help="points to draw (an existing sample in OUT is reused)")
    x = e.add_mutually_exclusive_group()
    x.add_argument("--reference", default=None, help="a label raster on the map's grid (0 = unlabelled)")
    x.add_argument("--points", default=None, help="labelled points: a GeoPackage, shapefile or CSV, in any CRS")
    e.add_argument(
        "--class-field", default="reference_class", help="the reference class field of --points (default: %(default)s)"
    )
    e.add_argument("--points-crs", default=None, help="the CRS of a CSV's x, y (default: the map's)")
    e.add_argument(
        "--min-per-class",
        type=int,
        default=DEFAULT_MIN_PER_CLASS,
        metavar="N",
        help="points in each map class at least, the rest by area (default: %(default)s)",
    )
    e.add_argument("--seed", type=int, default=0, metavar="N", help="random seed of the sample (default: %(default)s)")
    e.add_argument("--class-csv", default=None, help="CSV of class codes, names and colours (default classes)")
    e.add_argument("--overwrite", action="store_true", help="draw a new sample over one drawn with other settings")


def _parser_notebooks(sub) -> None:
    n = sub.add_parser("notebooks", help="copy the numbered notebooks to a folder, to open them in JupyterLab")
    n.add_argument("--out", default="sscnb_notebooks", help="destination folder (default: %(default)s)")
    n.add_argument("--overwrite", action="store_true", help="replace notebooks already there")


def _parser_make_sample_data(sub) -> None:
    s = sub.add_parser("make-sample-data", help="regenerate the synthetic sample data")
    s.add_argument("--out", default="sample_data", help="folder to write (default: %(default)s)")
    s.add_argument("--seed", type=int, default=2026, metavar="N", help="random seed of the scenes (default: %(default)s)")
    s.add_argument("--force", action="store_true", help="replace existing files")


def build_parser() -> argparse.ArgumentParser:
    """Return the command line: one sub-command per job, each built by its own ``_parser_<command>``.

    Returns
    -------
    argparse.ArgumentParser
    """
    from . import __version__

    ap = argparse.ArgumentParser(prog="sscnb", description="CNN-supervised classification of river imagery")
    ap.add_argument("--version", action="version", version=f"sscnb {__version__}")
    ap.add_argument(
        "-v", "--verbose", dest="verbosity", action="store_const", const=1, default=0, help="also show informational messages"
    )
    ap.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1, help="only errors; no progress bars")
    sub = ap.add_subparsers(dest="cmd", metavar="COMMAND")
    for build in (
        _parser_run,
        _parser_check,
        _parser_map,
        _parser_evaluate,
        _parser_adapt,
        _parser_assess,
        _parser_notebooks,
        _parser_make_sample_data,
    ):
        build(sub)
    return ap


def command_list(parser: argparse.ArgumentParser) -> str:
    """Return the commands of the command line, one a line with what it does, and how to learn more.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        From :func:`build_parser`.

    Returns
    -------
    str
    """
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    width = max(len(c.dest) for c in sub._choices_actions)
    lines = [f"  {c.dest:<{width}}  {(c.help or '').replace('%%', '%')}" for c in sub._choices_actions]
    return "usage: sscnb COMMAND ... (sscnb COMMAND --help: its options)\n\ncommands:\n" + "\n".join(lines)


#: a setting's name in the Python API and the notebooks, and the option that sets it on the command line
FLAGS = {
    "overwrite=True": "--overwrite",
    "class_field": "--class-field",
    "replay_dir": "--replay-dir",
    "replay=0": "--replay 0",
    "min_per_class": "--min-per-class",
    "model_path": "--model",
    "output_dir": "--out",
    "out_dir": "--out",
    "model_name": "--name",
}


def in_flags(message: str) -> str:
    """Return an error message with the settings it names as the command line's options.

    The messages come from functions that notebooks call too, where a setting is a parameter; on the
    command line the user typed an option, so the fix names the option.

    Parameters
    ----------
    message : str

    Returns
    -------
    str

    Examples
    --------
    >>> in_flags("give the field that holds the class codes (class_field), or set overwrite=True")
    'give the field that holds the class codes (--class-field), or set --overwrite'
    >>> in_flags("/data/output_dir/a.tif exists")  # a path is left as it is
    '/data/output_dir/a.tif exists'
    """
    import re

    for name, flag in FLAGS.items():
        message = re.sub(rf"(?<![\w/.-]){re.escape(name)}(?![\w/.])", flag, message)
    return message
