"""Where each notebook writes inside a run's ``output_dir``.

One name per folder, used by the notebooks, the package and the tests alike.
"""

from __future__ import annotations

import os
from pathlib import Path

from sscnb.errors import OutputFolderError

__all__ = [
    "DATA_CHECK_DIR",
    "TUNING_DIR",
    "MODEL_DIR",
    "SSC_DIR",
    "REPORT_DIR",
    "MAP_DIR",
    "EXPLORE_DIR",
    "ADAPT_DIR",
    "ASSESS_DIR",
    "OutputFolderError",
    "prepare_output",
    "check_output",
]

DATA_CHECK_DIR = "data_check"  # 00: inventory, pixels and tiles per class, thumbnails
TUNING_DIR = "cnn_tuning"  # 01: training history, recommended epochs
MODEL_DIR = "model"  # 02: the CNN, its class key and model card
SSC_DIR = "ssc"  # 03: per-image scores, figures, timings
REPORT_DIR = "report"  # 04: compiled table and figures
MAP_DIR = "map"  # 05: class maps of surveys
EXPLORE_DIR = "explore"  # 06: figures of the teaching notebook
ADAPT_DIR = "adapt"  # 07: tile labels, the adapted CNN, maps before and after
ASSESS_DIR = "assess"  # 08: the sample of points, areas and accuracy with confidence intervals


def check_output(folder: str | Path, setting: str = "output_dir") -> None:
    """Refuse, without making anything, an output folder that could not be made or written.

    For a command that reads and computes for a while before it writes (``sscnb adapt`` trains first):
    it stops at once, and a refused input leaves no empty folder behind.

    Parameters
    ----------
    folder : str or Path
    setting : str
        The parameter that chose it, named in the message.

    Returns
    -------
    None

    Raises
    ------
    OutputFolderError
        A file in its place (or in a parent's), or a first existing folder above it that cannot be written.
    """
    folder = Path(folder)
    for parent in [folder, *folder.parents]:
        if not parent.exists():
            continue
        if not parent.is_dir():
            raise OutputFolderError(
                f"{parent} is a file, so the output folder {folder} cannot be made there: "
                f"move the file or choose another {setting}"
            )
        if not os.access(parent, os.W_OK | os.X_OK):
            why = "read-only file system" if os.statvfs(parent).f_flag & os.ST_RDONLY else "Permission denied"
            raise OutputFolderError(
                f"cannot write to the output folder {folder} ({parent}: {why}): choose another {setting}, or fix its permissions"
            )
        return


def prepare_output(folder: str | Path, setting: str = "output_dir") -> Path:
    """Make an output folder (and its parents) and check that files can be written in it, before any computation.

    Parameters
    ----------
    folder : str or Path
    setting : str
        The parameter that chose it, named in the message.

    Returns
    -------
    Path

    Raises
    ------
    OutputFolderError
        Naming the folder, the setting and the fix (a file in its place, a read-only disk, no
        permission).
    """
    folder = Path(folder)
    check_output(folder, setting)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write_test_{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OutputFolderError:
        raise
    except OSError as exc:
        raise OutputFolderError(
            f"cannot write to the output folder {folder} ({exc.strerror or exc}): choose "
            f"another {setting}, or fix its permissions"
        ) from None
    return folder
