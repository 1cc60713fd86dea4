"""The papermill runner and notebook 00 on the sample data (artefacts checked, not only exit codes)."""

import argparse
import json
import os
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from conftest import REPO, SAMPLE
from sscnb.batch._runner import RunError, run_suite


def _config(tmp_path, **extra):
    cfg = {
        "experiment": "t",
        "output_root": str(tmp_path / "outputs"),
        "parameters": {"data_dir": str(SAMPLE / "Train"), "tile_size": 50},
        **extra,
    }
    p = tmp_path / "run.yml"
    p.write_text(yaml.safe_dump(cfg))
    return p


@pytest.mark.slow
def test_notebook_00_on_sample_data(tmp_path):
    import papermill as pm

    out = tmp_path / "out"
    pm.execute_notebook(
        str(REPO / "notebooks/00_data_check.ipynb"),
        str(tmp_path / "00.ipynb"),
        parameters={"data_dir": str(SAMPLE / "Train"), "output_dir": str(out), "experiment": "t"},
        kernel_name="python3",
        cwd=str(REPO / "notebooks"),
        progress_bar=False,
    )
    d = out / "data_check"
    inv = pd.read_csv(d / "inventory.csv")
    assert len(inv) == 8
    assert set(inv.river) == {"Clearwater", "Muddyford"}
    tiles = pd.read_csv(d / "tiles_per_class.csv", index_col="river")
    assert list(tiles.index) == ["Clearwater", "Muddyford", "ALL"]
    assert tiles.loc["ALL", "paved road"] == inv["tiles_paved road"].sum() > 0
    assert pd.read_csv(d / "problems.csv").empty
    for png in ("thumbnails.png", "tiles_per_class.png", "pixels_per_class.png", "tile_browser.png"):
        assert (d / png).stat().st_size > 10_000
    # widgets is True by default, but under papermill the tile browser is a static figure, and says so
    executed = nbformat.read(tmp_path / "00.ipynb", as_version=4)
    cell = next(c for c in executed.cells if "explore.show_tool" in c.source)
    assert "a static figure, as this notebook runs under papermill" in "".join(o.get("text", "") for o in cell.outputs)
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell.outputs)


@pytest.mark.slow
def test_runner_end_to_end_and_no_silent_overwrite(tmp_path):
    cfg = _config(tmp_path, notebooks=["00_data_check"])
    out = run_suite(cfg, progress=False, log=lambda *_: None)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished"
    assert run["versions"]["numpy"]
    assert run["notebooks"][0]["parameters"]["data_dir"] == str(SAMPLE / "Train")
    assert run["notebooks"][0]["parameters"]["output_dir"] == str(out)
    executed = nbformat.read(out / "00_data_check.ipynb", as_version=4)
    assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")
    assert (out / "data_check" / "inventory.csv").exists()
    assert yaml.safe_load((out / "run_config.yml").read_text())["experiment"] == "t"
    runlog = (out / "run.log").read_text()
    assert "running 00_data_check.ipynb" in runlog
    assert "done: 1 notebook(s)" in runlog
    with pytest.raises(RunError, match="already holds a finished run.*--overwrite"):
        run_suite(cfg, progress=False, log=lambda *_: None)
    run_suite(cfg, overwrite=True, progress=False, log=lambda *_: None)


@pytest.mark.slow
def test_failing_notebook_names_notebook_and_cell(tmp_path):
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell("data_dir = 'x'\noutput_dir = 'y'\nexperiment = 'z'")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell("1 + 1"), nbformat.v4.new_code_cell("raise ValueError('bad river')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, nbdir / "00_broken.ipynb")
    nbformat.write(nb, nbdir / "01_never.ipynb")
    cfg = _config(tmp_path, parameters={"data_dir": str(SAMPLE / "Train")})  # what these notebooks take
    with pytest.raises(RunError, match=r"00_broken.ipynb failed in cell \[\d\].*ValueError: bad river"):
        run_suite(cfg, notebook_dir=nbdir, progress=False, log=lambda *_: None)
    out = tmp_path / "outputs" / "t"
    assert (out / "00_broken.ipynb").exists()
    assert not (out / "01_never.ipynb").exists()
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "failed"
    assert run["failed"] == "00_broken.ipynb"


def test_cli_reports_failure(tmp_path, capsys):
    from sscnb.__main__ import main

    assert main(["run", "--config", str(tmp_path / "missing.yml")]) == 1
    assert "missing.yml does not exist" in capsys.readouterr().err


def test_the_program_exits_with_mains_status_once_what_is_left_is_frozen(monkeypatch):
    import gc

    import sscnb.cli as cli_module

    calls = []
    monkeypatch.setattr(cli_module, "main", lambda argv=None: calls.append("main") or 3)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    with pytest.raises(SystemExit) as e:
        cli_module.cli()
    assert e.value.code == 3
    assert calls == ["main", "freeze"]  # frozen after the command, never before it


def test_python_dash_m_sscnb_and_the_sscnb_command_run_the_program(tmp_path):
    import subprocess
    import sys

    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"sscnb": "sscnb.__main__:cli"}
    p = subprocess.run(
        [sys.executable, "-m", "sscnb", "run", "--config", str(tmp_path / "missing.yml")], capture_output=True, text=True
    )
    assert p.returncode == 1
    assert "missing.yml does not exist" in p.stderr


@pytest.mark.slow
def test_command_line_version_and_quiet(tmp_path, capsys, made_sample_data):
    import sscnb
    from sscnb.__main__ import main

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"sscnb {sscnb.__version__}"
    made, rc, printed = made_sample_data  # sscnb -q make-sample-data, run once for the session
    assert rc == 0
    assert (made / "Train").is_dir()
    assert printed.splitlines() == [f"wrote {printed.split()[1]} files to {made}"], printed  # -q: the result, no progress
    with pytest.raises(SystemExit):
        main(["map", "--model", "m.keras", "--out", str(tmp_path), "--median_raduis", "3", "x.tif"])
    assert "unrecognized arguments: --median_raduis" in capsys.readouterr().err


BAD_CONFIGS = [
    ({"paramters": {"data_dir": "x"}}, r"unknown key 'paramters' in run\.yml \(did you mean parameters"),
    (
        {"parameters": {"tile_szie": 100}},
        r"parameters\.tile_szie in run\.yml is not a parameter of any notebook "
        r"\(did you mean tile_size\?\)",
    ),
    (
        {"notebook_parameters": {"03_ssc_evalution": {"phase2": "rf"}}},
        r"notebook '03_ssc_evalution' under 'notebook_parameters' in run\.yml does not exist \(did you mean "
        r"03_ssc_evaluation\?\)",
    ),
    (
        {"notebook_parameters": {"03_ssc_evaluation": {"mlp_epoch": 3}}},
        r"notebook_parameters\.03_ssc_evaluation\.mlp_epoch in run\.yml is not a parameter of 03_ssc_evaluation "
        r"\(did you mean mlp_epochs",
    ),
    (
        {"notebook_parameters": {"02_cnn_training": {"epochs": "ten"}}},
        r"epochs must be an integer or 'auto', got 'ten' \(run\.yml, notebook 02_cnn_training\.ipynb\)",
    ),
    (
        {"parameters": {"mlp_depth": "deeep"}},
        r"mlp_depth must be one of \['deep', 'very_deep', 'compact'\], got 'deeep' \(run\.yml",
    ),
    ({"parameters": {"tile_size": "50"}}, r"tile_size must be an integer, got '50' \(run\.yml"),
    (
        {"notebook_parameters": {"05_map_survey": {"features": "texture"}}},
        r"features must be one of \['median_rgb', 'multiscale', 'multiscale_cnn'\], got 'texture' "
        r"\(run\.yml, notebook 05_map_survey",
    ),
    ({"parameters": {"vectors": "yes"}}, r"vectors must be true or false, got 'yes' \(run\.yml, notebook 05_map_survey"),
    ({"parameters": {"output_dir": "/tmp/x"}}, r"parameters\.output_dir in run\.yml is set by the runner"),
    ({"parameters": ["data_dir", "x"]}, r"'parameters' in run\.yml must be a mapping of names to values .*got list"),
    ({"parameters": "seed=1"}, r"'parameters' in run\.yml must be a mapping .*got str 'seed=1'"),
    (
        {"notebook_parameters": {"03_ssc_evaluation": ["phase2", "rf"]}},
        r"notebook_parameters\.03_ssc_evaluation in run\.yml must be a mapping of names to values, got list",
    ),
    (
        {"notebooks": ["00_data_chek"]},
        r"notebook '00_data_chek' named under 'notebooks' in run\.yml does not exist "
        r"\(did you mean 00_data_check\?\)",
    ),
]


@pytest.mark.parametrize(("extra", "message"), BAD_CONFIGS, ids=[m[:30] for _, m in BAD_CONFIGS])
def test_bad_configuration_is_refused_before_anything_runs(tmp_path, extra, message):
    cfg = {"experiment": "t", "output_root": str(tmp_path / "outputs"), **extra}
    p = tmp_path / "run.yml"
    p.write_text(yaml.safe_dump(cfg))
    with pytest.raises(RunError, match=message):
        run_suite(p, progress=False, log=lambda *_: None)
    assert not (tmp_path / "outputs").exists(), "no run folder for a configuration that cannot run"


def test_shipped_configurations_are_valid():
    from sscnb.batch._runner import check_config, load_config, select_notebooks

    for name in ("sample_data.yml", "stmarg.yml", "wildcat.yml"):
        cfg = load_config(REPO / "configs" / name)
        check_config(cfg, select_notebooks(cfg))


def _two_notebooks(nbdir, fail_second: bool):
    """00 writes a file; 01 fails (or not) and writes another."""
    nbdir.mkdir(exist_ok=True)
    first = "import pathlib, time\npathlib.Path(output_dir, 'first.txt').write_text(str(time.time_ns()) + ' ' + str(seed))"
    second = (
        "raise ValueError('interrupted')"
        if fail_second
        else "import pathlib\npathlib.Path(output_dir, 'second.txt').write_text('ok')"
    )
    for name, body in (("00_first", first), ("01_second", second)):
        nb = nbformat.v4.new_notebook()
        p = nbformat.v4.new_code_cell("data_dir = 'x'\noutput_dir = 'y'\nexperiment = 'z'\nseed = 0")
        p.metadata["tags"] = ["parameters"]
        nb.cells = [p, nbformat.v4.new_code_cell(body)]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, nbdir / f"{name}.ipynb")


@pytest.mark.slow
def test_interrupted_run_resumes_at_the_first_unfinished_notebook(tmp_path):
    nbdir = tmp_path / "nbs"
    _two_notebooks(nbdir, fail_second=True)
    cfg = _config(tmp_path, parameters={"data_dir": "x", "seed": 1})
    with pytest.raises(RunError, match="01_second.ipynb failed"):
        run_suite(cfg, notebook_dir=nbdir, progress=False, log=lambda *_: None)
    out = tmp_path / "outputs" / "t"
    first = (out / "first.txt").read_text()
    _two_notebooks(nbdir, fail_second=False)  # the cause is fixed
    msgs = []
    run_suite(cfg, notebook_dir=nbdir, progress=False, log=msgs.append)  # the same command again
    assert (out / "first.txt").read_text() == first  # 00 was not run again
    assert any("00_first.ipynb already finished" in m for m in msgs)
    assert (out / "second.txt").read_text() == "ok"
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished"
    assert [n["notebook"] for n in run["notebooks"]] == ["00_first.ipynb", "01_second.ipynb"]
    # a finished run is protected; a failed --extend keeps that protection
    with pytest.raises(RunError, match="already holds a finished run"):
        run_suite(cfg, notebook_dir=nbdir, progress=False, log=lambda *_: None)
    import shutil

    shutil.copyfile(nbdir / "01_second.ipynb", nbdir / "02_third.ipynb")
    nb = nbformat.read(nbdir / "02_third.ipynb", as_version=4)
    nb.cells[1].source = "raise ValueError('extension fails')"
    nbformat.write(nb, nbdir / "02_third.ipynb")
    with pytest.raises(RunError, match="02_third.ipynb failed"):
        run_suite(cfg, notebook_dir=nbdir, only=["02"], extend=True, progress=False, log=lambda *_: None)
    with pytest.raises(RunError, match="already holds a finished run"):
        run_suite(cfg, notebook_dir=nbdir, progress=False, log=lambda *_: None)
    # resuming with other parameters for a finished notebook is refused
    cfg2 = _config(tmp_path, parameters={"data_dir": "x", "seed": 2})
    with pytest.raises(RunError, match=r"00_first.ipynb already finished .* other parameters \(seed: 1 -> 2\)"):
        run_suite(cfg2, notebook_dir=nbdir, extend=True, progress=False, log=lambda *_: None)


def test_an_unwritable_output_folder_is_refused_for_an_unprivileged_user(tmp_path):
    """Root ignores permissions, so the check runs as user nobody (setpriv) on a folder it may
    not write to.
    """
    import os
    import shutil
    import subprocess
    import sys

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run a check as an unprivileged user")
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c"]
    if subprocess.run(as_nobody + ["import sscnb"], capture_output=True).returncode:
        pytest.skip("user nobody cannot read this checkout (it is in a private folder)")
    import tempfile

    locked = Path(tempfile.mkdtemp(prefix="sscnb_locked_"))  # made by root
    try:
        locked.chmod(0o755)  # nobody may enter it, not write in it
        code = (
            "from sscnb.layout import OutputFolderError, prepare_output\n"
            f"try:\n    prepare_output({str(locked / 'out')!r})\n"
            "except OutputFolderError as exc:\n    print(exc)\n"
        )
        out = subprocess.run(as_nobody + [code], capture_output=True, text=True)
        assert "cannot write to the output folder" in out.stdout, out.stderr
        assert "Permission denied" in out.stdout, out.stderr
        assert not (locked / "out").exists()
    finally:
        shutil.rmtree(locked)


@pytest.mark.slow
def test_warnings_inside_a_notebook_reach_the_console_and_run_log(tmp_path):
    """A file skipped for its name warns inside notebook 00; the runner repeats it on the console
    and in run.log.
    """
    import shutil

    data = tmp_path / "data"
    shutil.copytree(SAMPLE / "Train", data)
    shutil.copy(data / "Clearwater_0001.jpg", data / "holiday photo.jpg")
    cfg = {
        "experiment": "w",
        "output_root": str(tmp_path / "outputs"),
        "notebooks": ["00_data_check"],
        "parameters": {"data_dir": str(data), "tile_size": 50},
    }
    p = tmp_path / "run.yml"
    p.write_text(yaml.safe_dump(cfg))
    said = []
    out = run_suite(p, progress=False, log=said.append)
    want = "[w] 00_data_check.ipynb: DataWarning: warning: holiday photo.jpg does not follow the naming convention"
    assert any(m.startswith(want) for m in said), said
    assert want in (out / "run.log").read_text()


def test_notebook_warnings_reads_each_warning_once(tmp_path):
    from sscnb.batch._runner import notebook_warnings

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    text = (
        "/a/b.py:3: DataWarning: x.jpg is skipped\n  warnings.warn(p.message)\n"
        "/a/c.py:9: InputShiftWarning: StMarg_1: much brighter than anything the CNN was trained on\n"
    )
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=text),
        nbformat.v4.new_output("stream", name="stderr", text=text),
        nbformat.v4.new_output("stream", name="stdout", text="UserWarning: printed, not warned\n"),
    ]
    nb.cells = [cell]
    nbformat.write(nb, tmp_path / "n.ipynb")
    assert notebook_warnings(tmp_path / "n.ipynb") == [
        "DataWarning: x.jpg is skipped",
        "InputShiftWarning: StMarg_1: much brighter than anything the CNN was trained on",
    ]
    assert notebook_warnings(tmp_path / "missing.ipynb") == []


@pytest.mark.slow
def test_a_moved_run_folder_can_be_extended(tmp_path):
    """A run folder moved elsewhere (and its output_root with it) resumes: its own path is not
    another parameter; other parameters still are.
    """
    import shutil

    nbdir = tmp_path / "nbs"
    _two_notebooks(nbdir, fail_second=True)
    cfg = _config(tmp_path, parameters={"data_dir": "x", "seed": 1})
    with pytest.raises(RunError, match="01_second.ipynb failed"):
        run_suite(cfg, notebook_dir=nbdir, progress=False, log=lambda *_: None)
    shutil.move(tmp_path / "outputs", tmp_path / "elsewhere")
    _two_notebooks(nbdir, fail_second=False)
    moved = tmp_path / "moved.yml"
    moved.write_text(
        yaml.safe_dump(
            {"experiment": "t", "output_root": str(tmp_path / "elsewhere"), "parameters": {"data_dir": "x", "seed": 1}}
        )
    )
    msgs = []
    run_suite(moved, notebook_dir=nbdir, progress=False, log=msgs.append)
    assert any("00_first.ipynb already finished" in m for m in msgs)
    assert (tmp_path / "elsewhere" / "t" / "second.txt").read_text() == "ok"


def test_sscnb_alone_lists_the_commands_one_a_line(capsys):
    from sscnb.__main__ import main

    assert main([]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("usage: sscnb COMMAND")
    listed = {line.split()[0]: line for line in out if line.startswith("  ")}
    assert set(listed) == {"run", "check", "map", "evaluate", "adapt", "assess", "notebooks", "make-sample-data"}
    assert all(len(line.split()) > 2 for line in listed.values())  # each says what it does
    assert "95% confidence intervals" in listed["assess"]


def test_every_option_says_what_it_means_in_words():
    """No P2_RECOG_THRESH metavars, no module paths or %% for defaults: a meaning and a default per option."""
    from sscnb.cli import build_parser
    from sscnb.maps import _raster as mapraster
    from sscnb.ssc import SSCParams

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, cmd in sub.choices.items():
        text = cmd.format_help()
        for bad in ("P2_", "None ->", "sscnb.maps.", "%%", ":func:", "``"):
            assert bad not in text, f"sscnb {name} --help shows {bad!r}"
        for action in cmd._actions:
            if action.option_strings and action.dest != "help":
                assert not (action.help or "default").startswith("default"), f"sscnb {name} {action.option_strings[0]}"
    mp = sub.choices["map"].format_help().replace("\n", " ")
    mp = " ".join(mp.split())
    assert f"polygons are made (default: {mapraster.MIN_POLYGON_AREA:g})" in mp
    assert f"not results (default: {mapraster.WINDOW_MPX:g})" in mp
    assert "--recog_thresh X, --recog-thresh X a tile whose top class probability is below it becomes unclassified" in mp
    assert f"(default: {SSCParams().recog_thresh})" in mp
    assert "--phase2 mlp|mlp_rf|rf the pixel classifier" in mp


def test_ctrl_c_stops_a_batch_with_one_line_and_status_130(monkeypatch, capsys):
    from sscnb import cli as cli_main
    from sscnb.batch import _tasks as batch

    def slow(x):
        if x == 3:
            raise KeyboardInterrupt  # the user presses Ctrl-C during the third image
        return x

    with pytest.raises(batch.Interrupted) as e:
        batch.run_tasks(None, slow, {f"img{i}": (i,) for i in range(1, 6)}, desc="t", progress=False)
    assert (e.value.finished, e.value.todo) == (2, 5)

    def handler(a):
        raise e.value

    monkeypatch.setitem(cli_main.HANDLERS, "check", handler)
    assert cli_main.main(["check", "somewhere"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "sscnb check: interrupted: 2 of the 5 images left to do finished (kept, each with its manifest); "
        "run the same command again to resume"
    ]


def test_command_line_warnings_are_one_line_in_sscnbs_words():
    """Not Python's 'WARNING py.warnings: /path/x.py:453: DataWarning:' with a source line, and not twice."""
    import io
    import logging
    import warnings

    from sscnb.cli import configure_logging
    from sscnb.data._pairs import DataWarning

    shown_before = warnings.showwarning
    configure_logging(0)
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_sscnb", False))
    stream = io.StringIO()
    old, handler.stream = handler.stream, stream  # (not setStream: it flushes the old one, which pytest may have closed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            for _ in range(2):
                warnings.warn("StMarg_31162: its label holds 2 classes not in the scheme", DataWarning, stacklevel=1)
            logging.getLogger("sscnb.data").warning("StMarg_31162: its label holds 2 classes not in the scheme")
            warnings.warn("something of another library", UserWarning, stacklevel=1)
            logging.getLogger("sscnb.maps").error("Clearwater_ortho: the map could not be written")
    finally:
        handler.stream = old
        warnings.showwarning = shown_before
    assert stream.getvalue().splitlines() == [
        "warning: StMarg_31162: its label holds 2 classes not in the scheme",
        "warning: UserWarning: something of another library",
        "error: Clearwater_ortho: the map could not be written",
    ]


def test_an_address_where_something_else_answers_is_not_taken_for_a_dask_scheduler():
    """A web server on the scheduler's port: Dask read its reply as a message size and asked for 3 EiB."""
    import socket
    import threading

    from sscnb.batch._tasks import dask_client

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]

    def answer():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed by the test
                return
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    try:
        with (
            pytest.raises(ValueError, match=rf"what answers at tcp://127.0.0.1:{port} is not a Dask scheduler"),
            dask_client(f"tcp://127.0.0.1:{port}", None, log=lambda *_: None),
        ):
            pass
    finally:
        server.close()


def test_kernels_draw_inline_even_where_the_server_says_agg(monkeypatch):
    """A headless server's MPLBACKEND=Agg would leave the executed notebooks without figures: the runner's kernels
    get the inline backend, and the setting is restored after.
    """
    from sscnb.batch._runner import INLINE_BACKEND, inline_figures

    monkeypatch.setenv("MPLBACKEND", "Agg")
    with inline_figures():
        assert os.environ["MPLBACKEND"] == INLINE_BACKEND
    assert os.environ["MPLBACKEND"] == "Agg"
    monkeypatch.delenv("MPLBACKEND")
    with inline_figures():
        assert os.environ["MPLBACKEND"] == INLINE_BACKEND
    assert "MPLBACKEND" not in os.environ
