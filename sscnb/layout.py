"""Where each notebook writes inside a run's ``output_dir``.

One name per folder, used by the notebooks, the package and the tests alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import SscnbError

if TYPE_CHECKING:
    from pathlib import Path

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


class OutputFolderError(SscnbError, OSError):
    """An output folder cannot be made or written; the message names it and the fix."""


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
    import os
    from pathlib import Path

    folder = Path(folder)
    try:
        for parent in [folder, *folder.parents]:
            if parent.exists() and not parent.is_dir():
                raise OutputFolderError(
                    f"{parent} is a file, so the output folder {folder} cannot be made "
                    f"there: move the file or choose another {setting}"
                )
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
