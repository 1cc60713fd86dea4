"""What made a result: package versions and the time, written beside every output.

A small module at the bottom of the import graph, so that the modules that write results (the
model files, the mapping manifests, the runner's ``run.json``) all use it without importing each
other.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import re
from contextlib import contextmanager, suppress
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

__all__ = [
    "VERSIONED",
    "package_versions",
    "timestamp",
    "json_default",
    "tmp_name",
    "remove_temporaries",
    "atomic_path",
    "write_text",
    "write_json",
    "file_sha256",
    "recipe_differences",
]

VERSIONED = (
    "sscnb",
    "numpy",
    "pandas",
    "scikit-learn",
    "scikit-image",
    "imbalanced-learn",
    "tensorflow",
    "keras",
    "jax",
    "torch",
    "matplotlib",
    "seaborn",
    "papermill",
    "tifffile",
    "imageio",
    "tqdm",
    "rasterio",
    "fiona",
)


def package_versions() -> dict:
    """Versions of Python and of the packages that shape results.

    Returns
    -------
    dict of str to str
        Only the packages installed.
    """
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in VERSIONED:
        with suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def timestamp() -> str:
    """Local date and time, to the second.

    Returns
    -------
    str
        ISO 8601.
    """
    return _dt.datetime.now().isoformat(timespec="seconds")


def json_default(o: object) -> object:
    """NumPy numbers and arrays as plain JSON: ``json.dumps(..., default=json_default)``.

    Parameters
    ----------
    o : object

    Returns
    -------
    int, float, list or str
    """
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def tmp_name(path: str | Path) -> Path:
    """Return the temporary name a file is written under before it is renamed.

    Parameters
    ----------
    path : str or Path
        The final name.

    Returns
    -------
    Path
        ``.tmp_<pid>_<name>`` in the same folder (same file system, so the rename is atomic).
    """
    path = Path(path)
    return path.with_name(f".tmp_{os.getpid()}_{path.name}")


def remove_temporaries(paths: Iterable[str | Path], log: Callable[[str], object] | None = None) -> int:
    """Delete the temporary files a killed save left of these files (``.tmp_<pid>_<name>``, :func:`tmp_name`).

    A command calls it before it writes ``paths`` again, so a run after an interrupted one leaves
    nothing half-written behind.

    Parameters
    ----------
    paths : iterable of str or Path
        The final names.
    log : callable, optional
        Told how many were removed, if any.

    Returns
    -------
    int
        Files removed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / ".tmp_4242_cnn.keras").write_text("cut short"), (d / ".tmp_4242_other.csv").write_text("")
    >>> remove_temporaries([d / "cnn.keras"]), sorted(p.name for p in d.iterdir())
    (1, ['.tmp_4242_other.csv'])
    """
    wanted: dict = {}
    for p in paths:
        wanted.setdefault(Path(p).parent, set()).add(Path(p).name)
    removed = 0
    for folder, names in wanted.items():
        if not folder.is_dir():
            continue
        for f in folder.glob(".tmp_*"):
            m = re.match(r"\.tmp_(?:\d+_)?(.+)$", f.name)
            if m and m.group(1) in names and f.is_file():
                f.unlink()
                removed += 1
    if removed and log is not None:
        log(f"removed {removed} temporary file(s) left by an interrupted run")
    return removed


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Write a file the one way sscnb writes files.

    Under a temporary name beside it, renamed when the block ends without error, removed when it fails.
    Nothing half-written ever has the final name, and an interrupted run's leftovers are recognisable
    (``.tmp_<pid>_<name>``).

    Parameters
    ----------
    path : str or Path
        The final name; its folder is made if needed.

    Yields
    ------
    Path
        The temporary name to write to (same folder, same suffix).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text(), [p.name for p in target.parent.iterdir()]
    ('done', ['a.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str, sync: bool = False) -> Path:
    """Write a text file atomically (temporary name, then rename).

    Parameters
    ----------
    path : str or Path
    text : str
    sync : bool
        Flush it to the disk before the rename (a file written at every click must survive a crash).

    Returns
    -------
    Path
    """
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        f.write(text)
        if sync:
            f.flush()
            os.fsync(f.fileno())
    return path


def write_json(path: str | Path, obj: object, indent: int = 1) -> Path:
    """Write JSON atomically (temporary name, then rename), NumPy values included.

    Parameters
    ----------
    path : str or Path
    obj : object
    indent : int

    Returns
    -------
    Path
    """
    return write_text(path, json.dumps(obj, indent=indent, default=json_default) + "\n")


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (e.g. the model a result was made with).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    str
        Hex digest.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def recipe_differences(old: dict, new: dict, prefix: str = "") -> list:
    """Return what differs between two recipes (nested dicts of what made a result).

    Parameters
    ----------
    old, new : dict
    prefix : str

    Returns
    -------
    list of str
        ``"settings.median_radius: 5 -> 3"``, one per differing leaf.

    Examples
    --------
    >>> recipe_differences({"settings": {"a": 1, "b": 2}}, {"settings": {"a": 1, "b": 3}})
    ['settings.b: 2 -> 3']
    """
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += recipe_differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out
