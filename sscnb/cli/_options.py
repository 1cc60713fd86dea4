"""What several commands share: the phase-2 options, the Dask options, labels, the model, and option names in errors."""

from __future__ import annotations

import argparse
import re
from dataclasses import MISSING, fields
from typing import Any


def add_phase2_options(parser):
    """Add one option per phase-2 setting, named as in SSCParams.

    ``--median_radius`` or ``--median-radius``, each defaulting to SSCParams's own default.
    """
    from sscnb.params import FEATURE_SETS, LABEL_CNN_SHARE, MLP_DEPTHS, PHASE2_CHOICES, RF_SAMPLE, SSCParams

    g = parser.add_argument_group("phase-2 settings (as notebooks 03 and 05 name them)")
    meaning = SSCParams.descriptions()
    for f in fields(SSCParams):
        flags = [f"--{f.name}"] + ([f"--{f.name.replace('_', '-')}"] if "_" in f.name else [])
        default = f.default if f.default is not MISSING else None
        said = {True: "yes", False: "no"}.get(default, default) if isinstance(default, bool) else default
        by_set = {"label_cnn_share": LABEL_CNN_SHARE, "rf_sample": RF_SAMPLE}.get(f.name)
        if by_set:  # by the feature set
            said = ", ".join(f"{v} with {k}" for k, v in by_set.items())
        ftype = str(f.type).removesuffix(" | None")
        first = re.sub(r":\w+:`~?([^`]+)`", r"\1", meaning.get(f.name, "").split(". ")[0].rstrip("."))
        first = first.replace("``", "").replace("%", "%%")  # in words, as argparse formats help
        kw: dict[str, Any] = {"dest": f"p2_{f.name}", "default": None, "help": f"{first} (default: {said})"}
        kw["metavar"] = {"bool": "yes|no", "int": "N", "float": "X"}.get(ftype, "NAME")
        if ftype == "bool":
            kw["type"] = boolean
        elif ftype in ("int", "float"):
            kw["type"] = int if ftype == "int" else float
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


def add_cluster_options(parser):
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


def boolean(text: str) -> bool:
    t = text.strip().lower()
    if t in ("yes", "true", "1", "on"):
        return True
    if t in ("no", "false", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")


def replay(text: str):
    v = float(text)
    if v < 0 or (v > 1 and v != int(v)):
        raise argparse.ArgumentTypeError(f"replay must be a fraction 0-1 or a whole count, not {text}")
    return v if v <= 1 else int(v)


def add_label_options(parser) -> None:
    parser.add_argument(
        "--labels",
        default=None,
        metavar="L",
        help="your labels of some of the images (labels CSV of the labeller, polygon file .gpkg/.shp, or "
        "folder of SCLS_ rasters): phase 2 learns from them, and they judge it against the tile map",
    )
    parser.add_argument("--class-field", default="class_code", help="class attribute of polygons (default: %(default)s)")


def add_model_option(parser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="the CNN (.keras file or its folder) saved by notebook 02, or rivers / rivers_compact (shipped with sscnb)",
    )


def phase2_settings(a):
    """Return the phase-2 settings (SSCParams) of the options given; those not given keep their defaults."""
    from sscnb.params import SSCParams

    chosen = {k[3:]: v for k, v in vars(a).items() if k.startswith("p2_") and v is not None}
    return SSCParams.from_dict(chosen, source="the command line")


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
    for name, flag in FLAGS.items():
        message = re.sub(rf"(?<![\w/.-]){re.escape(name)}(?![\w/.])", flag, message)
    return message
