"""Shared fixtures. Real data (../shared/data/stmarg) is used when present and skipped otherwise."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
STMARG = Path(os.environ.get("SSCNB_STMARG", REPO.parent / "shared" / "data" / "stmarg"))


@pytest.fixture
def stmarg():
    if not (STMARG / "Train").is_dir():
        pytest.skip(f"real data not found at {STMARG} (it is only on CI and developer machines)")
    return STMARG


def write_jpg(path, arr, quality=95):
    import imageio.v3 as iio

    iio.imwrite(path, arr, quality=quality)
    return path


def write_tif(path, arr):
    import tifffile

    tifffile.imwrite(path, arr)
    return path


@pytest.fixture
def make_pair(tmp_path):
    """make_pair(name, image, label, label_name=None) writes a JPEG/PNG/TIFF image and a TIFF label."""

    def _make(name="River_0001.png", image=None, label=None, label_name=None, folder=None):
        folder = Path(folder or tmp_path)
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        if image is None:
            image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
        ip = folder / name
        if ip.suffix.lower() in (".tif", ".tiff"):
            write_tif(ip, image)
        else:
            import imageio.v3 as iio

            iio.imwrite(ip, image)
        lp = None
        if label is not None:
            stem = Path(name).stem
            lp = folder / (label_name or f"SCLS_{stem}.tif")
            write_tif(lp, label)
        return ip, lp

    return _make
