"""What made a result: package versions and the time, written beside every output.

A small module at the bottom of the import graph, so that the modules that write results (the
model files, the mapping manifests, the runner's ``run.json``) all use it without importing each
other.
"""
from __future__ import annotations

import datetime as _dt
import platform
from importlib import metadata

__all__ = ["VERSIONED", "package_versions", "timestamp", "json_default"]

VERSIONED = ("sscnb", "numpy", "pandas", "scikit-learn", "scikit-image", "imbalanced-learn",
             "tensorflow", "keras", "jax", "torch", "matplotlib", "seaborn", "papermill",
             "tifffile", "imageio", "tqdm", "rasterio", "fiona")


def package_versions() -> dict:
    """Versions of Python and of the packages that shape results.

    Returns
    -------
    dict of str to str
        Only the packages installed.
    """
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def timestamp() -> str:
    """Local date and time, to the second.

    Returns
    -------
    str
        ISO 8601.
    """
    return _dt.datetime.now().isoformat(timespec="seconds")


def json_default(o):
    """NumPy numbers and arrays as plain JSON: ``json.dumps(..., default=json_default)``.

    Parameters
    ----------
    o : object

    Returns
    -------
    int, float, list or str
    """
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
