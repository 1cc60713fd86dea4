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


# -- the hand-made CNNs of the tests: colour rules in a Keras model (no training), answers known ----


def colour_model(folder, tile=16):
    """Water (1) when blue > green, dry sediment (2) when bright, else green vegetation (3), from the
    mean colour of a tile (global average pooling and one fixed Dense layer), saved and loaded.
    """
    import keras
    import pandas as pd

    from sscnb import classkey, modelfiles
    from sscnb.classes import DEFAULT_CLASSES

    inp = keras.Input((tile, tile, 3))
    x = keras.layers.GlobalAveragePooling2D()(inp)
    out = keras.layers.Dense(3, activation="softmax")(x)
    m = keras.Model(inp, out)
    w = np.array([[0, 1 / 3, -1], [-2, 1 / 3, 2], [2, 1 / 3, -1]], np.float32)
    m.layers[-1].set_weights([0.2 * w, 0.2 * np.array([10, -140, 0], np.float32)])
    key = classkey.ClassKey(
        pd.DataFrame(
            {
                "LocalClass": [0, 1, 2],
                "HierarchClass": [1, 2, 3],
                "River": ["*"] * 3,
                "ClassName": ["water", "dry sediment", "green vegetation"],
            }
        )
    )
    card = {"backbone": "test", "tile_size": tile, "class_scheme": DEFAULT_CLASSES.to_dict()}
    modelfiles.save_model(folder, f"colour{tile}", m, key, card)
    return modelfiles.load_model(Path(folder) / f"colour{tile}.keras")


COLOUR_CNN_TILE = 10


@pytest.fixture(scope="module")
def colour_cnn(tmp_path_factory):
    """A 'CNN' that calls a 10 px tile water (1) when it is bluer than green, else green vegetation
    (3): global average pooling, then a fixed Dense layer (no training).
    """
    import keras
    import pandas as pd

    from sscnb import classkey, modelfiles
    from sscnb.classes import DEFAULT_CLASSES

    t = COLOUR_CNN_TILE
    inp = keras.Input((t, t, 3))
    x = keras.layers.GlobalAveragePooling2D()(inp)
    out = keras.layers.Dense(2, activation="softmax")(x)
    m = keras.Model(inp, out)
    m.layers[-1].set_weights([np.array([[0, 0], [-1, 1], [1, -1]], np.float32), np.zeros(2, np.float32)])
    key = classkey.ClassKey(
        pd.DataFrame(
            {"LocalClass": [0, 1], "HierarchClass": [1, 3], "River": ["*", "*"], "ClassName": ["water", "green vegetation"]}
        )
    )
    folder = tmp_path_factory.mktemp("model")
    card = {"backbone": "test", "tile_size": t, "class_scheme": DEFAULT_CLASSES.to_dict()}
    modelfiles.save_model(folder, "colour", m, key, card)
    return modelfiles.load_model(folder / "colour.keras")


def notebook_noise(folder) -> list:
    """What a student would read as an error in the executed notebooks ``0*.ipynb`` of a run folder:
    a saved figure's path echoed as a cell result (``PosixPath('...')``), or TensorFlow's C++
    start-up lines (absl's notice, ``I0000...``, the failed CUDA probe). One line per finding.
    """
    import nbformat

    found = []
    for nb_path in sorted(Path(folder).glob("0*.ipynb")):
        for cell in nbformat.read(nb_path, as_version=4).cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "execute_result" and "PosixPath(" in out.get("data", {}).get("text/plain", ""):
                    found.append(f"{nb_path.name}: PosixPath result of {cell.source[:80]!r}")
                text = out.get("text", "") if out.get("output_type") == "stream" else ""
                if (
                    "absl::InitializeLog" in text
                    or "cuInit" in text
                    or any(line.startswith("I0000") for line in text.splitlines())
                ):
                    found.append(f"{nb_path.name}: TensorFlow start-up lines: {text[:200]!r}")
    return found
