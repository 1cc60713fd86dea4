"""Shared fixtures. Real data (../shared/data/stmarg) is used when present and skipped otherwise."""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # on pytest-xdist's workers, each backend gets its share of the cores, as each Dask worker does
    # (sscnb.batch): two workers each spinning two threads on two cores wait on each other
    _share = str(max(1, (os.cpu_count() or 2) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", _share)
    os.environ.setdefault("OMP_NUM_THREADS", _share)

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
STMARG = Path(os.environ.get("SSCNB_STMARG", REPO.parent / "shared" / "data" / "stmarg"))


# -- the fast loop stays fast: a test not marked slow, browser or e2e must finish within a bound ------

SLOW_MARKERS = ("slow", "browser", "e2e")


def pytest_addoption(parser):
    parser.addoption(
        "--max-test-seconds",
        type=float,
        default=None,
        help="fail the run when a test not marked slow, browser or e2e took longer than this, setup, call and "
        "teardown together (make test sets 10)",
    )
    parser.addoption(
        "--cpu-profile",
        default=None,
        metavar="DIR",
        help="write each test's wall seconds and CPU seconds, its own and its child processes' (notebook kernels, "
        "servers, workers, fresh environments), to DIR/cpu_by_test.csv and print the 15 that cost most",
    )


# seconds each long file took on its xdist worker in a fresh clone's make test-all (2 cores, three workers,
# 7 December 2026, tests/conftest.py's own ordering): the order below gives the longest files out first
LONG_FILES = {
    "test_workshop_guide.py": 570,
    "test_batch.py": 240,
    "test_backends.py": 210,
    "test_suite_notebooks.py": 155,
    "test_qgis.py": 145,
    "test_runner.py": 80,
    "test_browser.py": 75,
    "test_ssc.py": 70,
    "test_mapping.py": 65,
    "test_cnn.py": 45,
    "test_adapt.py": 40,
    "test_install.py": 38,
}


def pytest_collection_modifyitems(config, items):
    """Order the tests for the xdist workers (make test-all: whole files, in this order): the long
    files first, longest first (``LONG_FILES``), so that one worker takes the workshop guide's clone
    at once and the others the next longest; then the other files, quick tests before marked ones.
    Each worker takes a file when it has two tests or fewer left to run, so the files that come
    last, short ones, fill the gaps and no worker waits long for the others at the end. Within a
    file, the collection's own order.
    """

    def rank(item):
        seconds = LONG_FILES.get(item.path.name)
        if seconds is not None:
            return (0, -seconds)
        return (1, 1 if any(item.get_closest_marker(m) for m in SLOW_MARKERS) else 0)

    items[:] = sorted(items, key=rank)  # sorted is stable


def pytest_sessionstart(session):
    """Under a time limit, start the Keras backend before the first test, fit a tiny pixel MLP and compute the
    features of a tiny image: their start-up (about 6 s for TensorFlow on 2 cores, 1.5-3 s for a process's
    first fit, beyond what any later fit costs, and 3-4 s to compile the median and multiscale filters in a
    fresh clone) is paid once per process, not by whichever test needs them first.
    ``SSCNB_TEST_WARMUP=0`` leaves it out (tests/test_fast_loop.py's own small runs).
    """
    config = session.config
    if config.getoption("--cpu-profile") and not hasattr(config, "workerinput"):  # an earlier run's workers' rows go
        for old in Path(config.getoption("--cpu-profile")).glob("tests_*.json"):
            old.unlink()
    if config.getoption("--max-test-seconds") is None or os.environ.get("SSCNB_TEST_WARMUP") == "0":
        return
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):  # where the tests run
        from sscnb.cnn._keras import _keras
        from sscnb.phase2._features import pixel_features
        from sscnb.phase2._pixel import fit_pixel_classifier

        _keras()
        pixel_features(np.zeros((8, 8, 3), np.uint8), 2, False, None, "multiscale")
        x, y = np.linspace(0, 1, 192, dtype=np.float32).reshape(64, 3), np.arange(64) % 2 + 1
        kw = dict(
            depth="compact", epochs=1, learning_rate=1e-3, batch_size=32, use_smote=False, n_trees=1, min_leaf=1, rf_sample=1.0
        )
        fit_pixel_classifier(x, y, "mlp", seed=0, **kw)


_seconds: dict = {}
_unmarked: set = set()


def pytest_runtest_logreport(report):
    _seconds[report.nodeid] = _seconds.get(report.nodeid, 0.0) + report.duration
    if report.when == "call" and not any(m in report.keywords for m in SLOW_MARKERS):
        _unmarked.add(report.nodeid)


def too_slow(seconds: dict, unmarked: set, limit: float) -> list:
    """The tests in ``unmarked`` that took longer than ``limit`` seconds, slowest first, as
    ``(seconds, nodeid)``.
    """
    return sorted(((t, n) for n, t in seconds.items() if n in unmarked and t > limit), reverse=True)


def _over_the_limit(config) -> list:
    limit = config.getoption("--max-test-seconds")
    if limit is None or hasattr(config, "workerinput"):  # xdist's workers report to the controller
        return []
    return too_slow(_seconds, _unmarked, limit)


def pytest_sessionfinish(session, exitstatus):
    if session.config.getoption("--cpu-profile"):
        _write_cpu_profile(session.config)
    if _over_the_limit(session.config) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    _report_cpu_profile(terminalreporter, config)
    found = _over_the_limit(config)
    if not found:
        return
    tr = terminalreporter
    limit = config.getoption("--max-test-seconds")
    tr.write_sep("=", f"{len(found)} test(s) of the fast set took over {limit:g} s", red=True)
    for t, nodeid in found:
        tr.write_line(f"{t:6.1f} s  {nodeid}")
    tr.write_line(
        "A test that trains a CNN, runs a notebook, starts a server or a process importing the backend belongs in "
        "make test-all: mark it @pytest.mark.slow (browser: @pytest.mark.browser; a fresh environment: "
        "@pytest.mark.e2e), or take what it builds from a shared fixture (conftest.py)."
    )


# -- where the CPU goes: --cpu-profile DIR -----------------------------------------------------------------

_cpu_rows: list = []


def _cpu_now() -> tuple:
    own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return time.perf_counter(), own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Under ``--cpu-profile``, measure each test, setup and teardown included. A child process's CPU
    counts when it is waited for: a server a module fixture started counts in the test it ends after.
    """
    if not item.config.getoption("--cpu-profile"):
        yield
        return
    before = _cpu_now()
    yield
    after = _cpu_now()
    wall, own, children = (a - b for a, b in zip(after, before, strict=True))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    _cpu_rows.append({"test": item.nodeid, "worker": worker, "wall_s": wall, "cpu_s": own, "children_cpu_s": children})


def cpu_table(rows: list):
    """Return the rows of ``--cpu-profile`` as a table, the costliest test (its CPU and its children's) first."""
    import pandas as pd

    t = pd.DataFrame(rows, columns=["test", "worker", "wall_s", "cpu_s", "children_cpu_s"])
    t["total_cpu_s"] = t.cpu_s + t.children_cpu_s
    return t.sort_values("total_cpu_s", ascending=False, kind="stable").reset_index(drop=True)


def _write_cpu_profile(config) -> None:
    folder = Path(config.getoption("--cpu-profile"))
    folder.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    (folder / f"tests_{worker}.json").write_text(json.dumps(_cpu_rows))


def _report_cpu_profile(tr, config) -> None:
    if not config.getoption("--cpu-profile") or hasattr(config, "workerinput"):
        return
    folder = Path(config.getoption("--cpu-profile"))
    rows = [r for f in sorted(folder.glob("tests_*.json")) for r in json.loads(f.read_text())]
    t = cpu_table(rows)
    t.round(2).to_csv(folder / "cpu_by_test.csv", index=False)
    tr.write_sep("=", f"CPU seconds of {len(t)} tests on {os.cpu_count()} cores: {t.cpu_s.sum():.0f} in the test "
                 f"processes, {t.children_cpu_s.sum():.0f} in their children ({folder / 'cpu_by_test.csv'})")  # fmt: skip
    for r in t.head(15).itertuples():
        tr.write_line(f"{r.total_cpu_s:7.1f} s CPU ({r.children_cpu_s:6.1f} in children) {r.wall_s:7.1f} s wall  {r.test}")


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

    from sscnb.cnn import _classkey as classkey
    from sscnb.cnn import _files as modelfiles
    from sscnb.data._classes import DEFAULT_CLASSES

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


@pytest.fixture(scope="session")
def colour_cnns(tmp_path_factory):
    """``colour_cnns(tile=16)``: the colour-rule CNN of :func:`colour_model` for that tile size, built
    and saved once per session. Each call returns its own ``LoadedModel`` (the Keras model and class
    key shared, the card a deep copy), so a test may change the card without touching the others.
    """
    import copy
    import dataclasses

    made: dict = {}

    def get(tile=16):
        if tile not in made:
            made[tile] = colour_model(tmp_path_factory.mktemp(f"colour{tile}"), tile)
        return dataclasses.replace(made[tile], card=copy.deepcopy(made[tile].card))

    return get


COLOUR_CNN_TILE = 10


@pytest.fixture(scope="session")
def colour_cnn(tmp_path_factory):
    """A 'CNN' that calls a 10 px tile water (1) when it is bluer than green, else green vegetation
    (3): global average pooling, then a fixed Dense layer (no training).
    """
    import keras
    import pandas as pd

    from sscnb.cnn import _classkey as classkey
    from sscnb.cnn import _files as modelfiles
    from sscnb.data._classes import DEFAULT_CLASSES

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


# -- Chromium, for the browser tests (JupyterLab's widgets, the documentation site) --------------------------

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """The Chromium binary of the browser tests; skipped without one, failed where CI requires it."""
    path = os.environ.get("SSCNB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    msg = (
        "Chromium not found: install it (Debian/Ubuntu: `sudo apt-get install chromium`) or set SSCNB_CHROMIUM "
        "to a Chromium or Chrome binary; .ci/run installs it"
    )
    if os.environ.get("SSCNB_REQUIRE_BROWSER"):
        pytest.fail(msg + " (SSCNB_REQUIRE_BROWSER is set, so the browser test must run)")
    pytest.skip(msg)


# -- the sample suite, run once per session ---------------------------------------------------------


@pytest.fixture(scope="session")
def suite_run(tmp_path_factory):
    """The nine notebooks run once by the runner on the sample data with a tiny budget (a 2-epoch
    CNN, 3-epoch pixel MLPs), every tool asked for: the run folder, for every test that needs
    executed notebooks or their outputs. Tests read it; none may write into it.
    """
    import yaml

    from sscnb.batch._runner import run_suite

    tmp = tmp_path_factory.mktemp("suite")
    cfg = {
        "experiment": "tiny",
        "output_root": str(tmp / "outputs"),
        "parameters": {"data_dir": str(SAMPLE / "Train"), "backbone": "compact", "seed": 1},
        "notebook_parameters": {
            "00_data_check": {"validate_dir": str(SAMPLE / "Validate")},
            "01_cnn_tuning": {"epochs": 2, "batch_size": 32},
            "02_cnn_training": {"epochs": "auto", "batch_size": 32, "holdout_fraction": 0.2, "model_name": "tiny_cnn"},
            "03_ssc_evaluation": {"data_dir": str(SAMPLE / "Validate"), "mlp_epochs": 3, "dpi": 50, "save_class_rasters": True},
            "05_map_survey": {"inputs": str(SAMPLE / "Survey"), "mlp_epochs": 3, "dpi": 50, "vectors": True},
            "06_explore": {"data_dir": str(SAMPLE / "Validate"), "train_dir": str(SAMPLE / "Train"), "widgets": True},
            "07_adapt_to_river": {
                "data_dir": str(SAMPLE / "NewRiver"),
                "epochs": 2,
                "widgets": True,
                "start_labels": str(SAMPLE / "NewRiver" / "tile_labels.csv"),
            },
            "08_accuracy_and_areas": {
                "image_path": str(SAMPLE / "Survey" / "Clearwater_ortho.tif"),
                "reference": str(SAMPLE / "Reference" / "Clearwater_ortho_labels.tif"),
                "n_points": 200,
                "min_per_class": 30,
                "widgets": True,
            },
        },
        "notebooks": [
            "00_data_check",
            "01_cnn_tuning",
            "02_cnn_training",
            "03_ssc_evaluation",
            "04_report",
            "05_map_survey",
            "06_explore",
            "07_adapt_to_river",
            "08_accuracy_and_areas",
        ],
    }
    p = tmp / "run.yml"
    p.write_text(yaml.safe_dump(cfg))
    return run_suite(p, progress=False, log=lambda *_: None)


@pytest.fixture(scope="session")
def made_sample_data(tmp_path_factory):
    """``sscnb -q make-sample-data --out DIR`` run once (the command's defaults, as ``make
    sample-data`` runs it): ``(DIR, exit status, what it printed)``.
    """
    import contextlib
    import io

    from sscnb.__main__ import main

    out = tmp_path_factory.mktemp("made") / "sd"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        rc = main(["-q", "make-sample-data", "--out", str(out)])
    return out, rc, printed.getvalue()


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
