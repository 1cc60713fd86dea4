"""Per-image work on a Dask cluster: a LocalCluster of 2 workers, a real `dask scheduler` with 2
`dask worker` processes on 127.0.0.1, and a worker that dies in the middle of an image.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE
from sscnb import evaluation, ssc
from sscnb.batch import _tasks as batch
from sscnb.cnn import _files as modelfiles

pytestmark = pytest.mark.slow  # starts worker processes, each importing TensorFlow

# phase 2 always used, and trained on every tile: a tile whose confidence sits at train_confidence could
# fall either side of it with another number of TensorFlow threads
P = dict(median_radius=3, mlp_epochs=3, min_sample=3000, n_trees=20, min_agreement=0.0, train_confidence=0.0)


@pytest.fixture
def model_path(colour_cnns):
    """The colour-rule CNN of test_mapping (no training), saved where the workers can load it."""
    return colour_cnns(50).path


def _results(out):
    """Every file's content, but figures and manifests (dates) and timings (seconds)."""
    return {
        str(f.relative_to(out)): f.read_bytes()
        for f in sorted(out.rglob("*"))
        if f.is_file() and f.suffix not in (".png", ".json") and not f.name.startswith("Timings_")
    }


def test_parse_scheduler():
    assert batch.parse_scheduler(None) == ("none", None)
    assert batch.parse_scheduler("local:3") == ("local", 3)
    assert batch.parse_scheduler(None, workers=2) == ("local", 2)
    assert batch.parse_scheduler("tcp://127.0.0.1:8786") == ("address", "tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="not both"):
        batch.parse_scheduler("tcp://x:1", workers=2)
    with pytest.raises(ValueError, match="local:N"):
        batch.parse_scheduler("local:zero")


# the MLP on a LocalCluster made by sscnb (--workers 2), the forest on the module's `dask scheduler`
# and its two workers: both kinds of cluster, each started once for the module
@pytest.mark.parametrize("phase2", ["rf", "mlp"])
def test_a_cluster_equals_the_serial_run(model_path, tmp_path, phase2, request):
    scheduler = request.getfixturevalue("external_cluster") if phase2 == "rf" else "local:2"
    cnn = modelfiles.load_model(model_path)
    p = ssc.SSCParams(phase2=phase2, **P)
    serial, _ = evaluation.evaluate_folder(
        SAMPLE / "Validate",
        cnn,
        tmp_path / "serial",
        "b",
        p,
        dpi=40,
        save_class_rasters=True,
        progress=False,
        log=lambda *_: None,
    )
    msgs = []
    dist, timings = evaluation.evaluate_folder(
        SAMPLE / "Validate",
        cnn,
        tmp_path / "dask",
        "b",
        p,
        dpi=40,
        save_class_rasters=True,
        progress=False,
        scheduler=scheduler,
        log=msgs.append,
    )
    assert any("dashboard" in m for m in msgs)
    assert list(dist.image) == list(serial.image)
    assert len(timings) == 4
    if phase2 == "rf":  # a seeded random forest: the very same bytes
        assert _results(tmp_path / "dask") == _results(tmp_path / "serial")
    else:
        # the seeded MLP in another process: equal here; with another number of TensorFlow threads
        # float sums are reduced in another order (measured on stmarg/Validate: overall F1 0.97212
        # vs 0.97220), hence the tolerance
        np.testing.assert_allclose(dist.f1_final, serial.f1_final, atol=2e-3)
    np.testing.assert_allclose(dist.f1_cnn, serial.f1_cnn, atol=0)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def external_cluster(tmp_path_factory):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1, ended by their process ids;
    one for the module (the test that kills a worker comes last: its nanny starts a fresh one).
    """
    tmp_path = tmp_path_factory.mktemp("dask")
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    tests = os.path.dirname(os.path.abspath(__file__))  # so that workers can import this test's task
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")])),
    }
    procs = [
        subprocess.Popen(
            dask + ["--host", "127.0.0.1", "--port", str(port), "--dashboard-address", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    ]
    for _ in range(2):
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_worker",
                    address,
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--local-directory",
                    str(tmp_path / "dask-work"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        )
    from distributed import Client

    t0 = time.time()
    while True:
        try:
            with Client(address, timeout="2s") as c:
                if len(c.scheduler_info()["workers"]) == 2:
                    break
        except OSError:
            pass
        if time.time() - t0 > 60:
            raise RuntimeError("the Dask scheduler and workers did not start within 60 s")
        time.sleep(0.5)
    yield address
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def test_map_on_a_cluster_equals_the_serial_map(model_path, tmp_path, external_cluster):
    """Sscnb map on a cluster: each input travels to a worker as one task (its model loaded there
    once) and makes the same maps, confidence and areas as in this process.
    """
    import rasterio

    from sscnb.maps import _batch as mapping

    cnn = modelfiles.load_model(model_path)
    p = ssc.SSCParams(phase2="rf", **P)
    ortho = SAMPLE / "Survey" / "Clearwater_ortho.tif"
    quiet = dict(progress=False, log=lambda *_: None)
    serial = mapping.map_inputs([ortho], cnn, tmp_path / "serial", "d", p, **quiet)[0]
    dist = mapping.map_inputs([ortho], cnn, tmp_path / "dask", "d", p, scheduler=external_cluster, **quiet)[0]
    assert (dist.status, dist.phase2_name, serial.phase2_name) == ("done", "RF", "RF")
    for kind in ("final", "cnn", "confidence"):
        with rasterio.open(dist.files[kind]) as a, rasterio.open(serial.files[kind]) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1), err_msg=kind)
    pd.testing.assert_frame_equal(dist.areas, serial.areas)
    again = mapping.map_inputs([ortho], cnn, tmp_path / "dask", "d", p, scheduler=external_cluster, **quiet)[0]
    assert (again.status, again.phase2_name) == ("skipped (done)", "RF")  # resumed: read back, same label


def test_command_line_on_an_existing_scheduler(model_path, tmp_path, external_cluster):
    from sscnb.__main__ import main

    out = tmp_path / "cli"
    rc = main(
        [
            "-q",
            "evaluate",
            "--model",
            str(model_path),
            "--out",
            str(out),
            "--experiment",
            "ext",
            "--phase2",
            "rf",
            "--median_radius",
            "3",
            "--n_trees",
            "20",
            "--min_sample",
            "3000",
            "--min_agreement",
            "0",
            "--train_confidence",
            "0",
            "--no-figures",
            "--scheduler",
            external_cluster,
            str(SAMPLE / "Validate"),
        ]
    )
    assert rc == 0
    summary = pd.read_csv(out / "Summary_ext.csv")
    serial, _ = evaluation.evaluate_folder(
        SAMPLE / "Validate",
        modelfiles.load_model(model_path),
        tmp_path / "serial",
        "ext",
        ssc.SSCParams(phase2="rf", **P),
        save_figures=False,
        progress=False,
        log=lambda *_: None,
    )
    np.testing.assert_allclose(summary.f1_final, serial.f1_final, atol=0)
    assert _results(out) == _results(tmp_path / "serial") | {"Summary_ext.csv": (out / "Summary_ext.csv").read_bytes()}


def _die_once_in_the_middle(marker, model_path, rec, *args):
    """A task that kills its own worker process half-way through the first image it is given
    (after the tile map CSV is written, before the image is done), once.
    """
    from sscnb.assess import _metrics as metrics

    if not os.path.exists(marker):
        orig = metrics.write_report

        def write_then_die(report, path):
            orig(report, path)
            open(marker, "w").close()
            os._exit(1)  # the worker process dies: no exception, no clean-up

        metrics.write_report = write_then_die
    return evaluation._evaluate_task(model_path, rec, *args)


def test_a_worker_killed_in_the_middle_of_an_image(model_path, tmp_path, external_cluster):
    """Dask runs the dead worker's image again on another worker; nothing partial remains and the
    results equal the serial run.
    """
    from functools import partial

    marker = str(tmp_path / "died")
    cnn = modelfiles.load_model(model_path)
    p = ssc.SSCParams(phase2="rf", **P)
    orig = evaluation._evaluate_task
    ssc_task = partial(_die_once_in_the_middle, marker)
    try:
        evaluation._evaluate_task = ssc_task
        dist, _ = evaluation.evaluate_folder(
            SAMPLE / "Validate",
            cnn,
            tmp_path / "killed",
            "k",
            p,
            save_figures=False,
            progress=False,
            scheduler=external_cluster,
            log=lambda *_: None,
        )
    finally:
        evaluation._evaluate_task = orig
    assert os.path.exists(marker), "a worker died"
    serial, _ = evaluation.evaluate_folder(
        SAMPLE / "Validate", cnn, tmp_path / "serial", "k", p, save_figures=False, progress=False, log=lambda *_: None
    )
    assert list(dist.status) == ["done"] * 4
    assert _results(tmp_path / "killed") == _results(tmp_path / "serial")
    assert not list((tmp_path / "killed").rglob(".tmp_*"))


def test_a_corrupt_image_on_workers_says_one_clear_line(model_path, tmp_path, capfd, caplog):
    """On a local cluster, an image that cannot be decoded: the console gets the clear line naming
    it, not Dask's "Compute Failed" traceback nor the workers' TensorFlow start-up lines; the traceback
    goes to the log (run.log) at INFO.
    """
    import logging
    import shutil

    d = tmp_path / "data"
    d.mkdir()
    for f in ("Clearwater_0005.jpg", "SCLS_Clearwater_0005.tif", "SCLS_Clearwater_0006.tif"):
        shutil.copy(SAMPLE / "Validate" / f, d / f)
    (d / "Clearwater_0006.jpg").write_bytes((SAMPLE / "Validate" / "Clearwater_0006.jpg").read_bytes()[:5000])
    cnn = modelfiles.load_model(model_path)
    with (
        caplog.at_level(logging.INFO, logger="sscnb"),
        pytest.raises(
            batch.BatchError,
            match=r"1 image\(s\) failed.*\n  - Clearwater_0006: DataError: "
            r"Clearwater_0006\.jpg cannot be decoded",
        ),
    ):
        evaluation.evaluate_folder(
            d,
            cnn,
            tmp_path / "out",
            "c",
            ssc.SSCParams(**P),
            save_figures=False,
            progress=False,
            scheduler="local:2",
            log=lambda *_: None,
        )
    err = capfd.readouterr().err
    assert "Compute Failed" not in err
    assert "Traceback" not in err
    # nor the workers' TensorFlow start-up lines (absl's, written before its logging starts)
    assert "absl::InitializeLog" not in err
    assert not re.search(r"^[IW]\d{4} ", err, re.M), err
    assert any("Clearwater_0006: traceback" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records)


def test_threads_option_caps_this_process(monkeypatch, tmp_path, capsys):
    """--threads N: the median filter and the random forest get N threads (SSCNB_THREADS), and the
    backend's own threads are set before the first model; 0 is refused in one line.
    """
    from sscnb.__main__ import main
    from sscnb.phase2 import _features as features

    for k in ("SSCNB_THREADS", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        monkeypatch.delenv(k, raising=False)
    assert (
        main(["map", "--model", str(tmp_path / "none.keras"), "--out", str(tmp_path), "--threads", "0", str(SAMPLE / "Survey")])
        == 1
    )
    assert "--threads must be at least 1" in capsys.readouterr().err
    main(
        ["map", "--model", str(tmp_path / "none.keras"), "--out", str(tmp_path), "--threads", "1", str(SAMPLE / "Survey")]
    )  # fails on the missing model, after the threads are set
    assert os.environ["SSCNB_THREADS"] == "1"
    assert features.feature_threads() == 1
    assert os.environ["OMP_NUM_THREADS"] == "1"


def test_map_limits_malloc_arenas_unless_the_user_set_them(monkeypatch, tmp_path):
    """The map command limits glibc's malloc arenas (sscnb.maps) before it maps; a user's MALLOC_ARENA_MAX stands."""
    import platform

    from sscnb.__main__ import main
    from sscnb.maps import _malloc as _malloc

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert _malloc.limit_malloc_arenas() is None  # glibc read the user's when the process started
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert _malloc.limit_malloc_arenas(16) == 16  # glibc's mallopt took it
    calls = []
    monkeypatch.setattr(_malloc, "limit_malloc_arenas", lambda: calls.append("limited"))
    args = ["map", "--model", str(tmp_path / "none.keras"), "--out", str(tmp_path / "o"), str(SAMPLE / "Survey")]
    assert main(args) == 1  # the missing model, after the limit
    assert calls == ["limited"]
    assert not (tmp_path / "o").exists()
