"""The QGIS plugin's runner of the sscnb command, with plain Python: where the command is, its progress, Cancel, errors.

The plugin (``qgis/sscnb_qgis``) runs sscnb in sscnb's own environment as a child process; this is
the part of it that needs no QGIS. A small Python script stands in for sscnb here, printing what
sscnb prints (tqdm bars between carriage returns, ``warning:`` lines, its one-line error). QGIS
itself runs the algorithms in tests/test_qgis.py.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "qgis"))

from sscnb_qgis import sscnb_command as sc  # noqa: E402 (the plugin is not a package of the environment)


def fake_sscnb(folder: Path, body: str) -> Path:
    """An executable ``sscnb`` that runs ``body`` (Python) with this test's interpreter."""
    path = folder / "sscnb"
    path.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


VERSION = 'if sys.argv[1:] == ["--version"]:\n    print("sscnb 9.9"); sys.exit(0)\n'


def test_the_setting_comes_first_then_the_variable_then_path(tmp_path, monkeypatch):
    """The provider's setting wins, then SSCNB_COMMAND, then sscnb on PATH; each can be a Python or a folder."""
    on_path = tmp_path / "bin"
    on_path.mkdir()
    fake = fake_sscnb(on_path, VERSION)
    env = {"PATH": str(on_path)}
    assert sc.find_command("", env) == [str(fake)]
    assert sc.find_command("", {**env, sc.ENV_VAR: str(fake)}) == [str(fake)]
    assert sc.find_command(sys.executable, {**env, sc.ENV_VAR: str(fake)}) == [sys.executable, "-m", "sscnb"]
    assert sc.find_command(str(tmp_path), env) == [str(fake)]  # an environment's folder: its bin/sscnb


def test_a_setting_that_names_nothing_is_an_error_that_says_how_to_set_it(tmp_path, monkeypatch):
    """A wrong setting is not passed over for another command: the error names it and the setting to change."""
    with pytest.raises(
        sc.SscnbCommandError,
        match=r"the sscnb setting names /nowhere/sscnb, which does not exist.*Processing > Providers > sscnb",
    ):
        sc.find_command("/nowhere/sscnb", {"PATH": ""})
    with pytest.raises(sc.SscnbCommandError, match=f"the environment variable {sc.ENV_VAR} names /nowhere"):
        sc.find_command("", {"PATH": "", sc.ENV_VAR: "/nowhere"})
    with pytest.raises(sc.SscnbCommandError, match=r"folder .* holds no bin/sscnb"):
        sc.find_command(str(tmp_path), {"PATH": ""})


def test_no_command_anywhere_says_how_to_set_one(tmp_path, monkeypatch):
    """With nothing set, nothing on PATH and no .venv beside the plugin: one message that says what to do."""
    monkeypatch.setattr(sc, "_repository_command", lambda: tmp_path / "no.venv" / "bin" / "sscnb")
    monkeypatch.setattr(sc, "DEFAULT_FILE", tmp_path / "none.txt")
    with pytest.raises(sc.SscnbCommandError, match="no sscnb command found.*SSCNB_COMMAND"):
        sc.find_command("", {"PATH": str(tmp_path)})
    (tmp_path / "none.txt").write_text(str(fake_sscnb(tmp_path, VERSION)))  # what make qgis-plugin writes
    assert sc.find_command("", {"PATH": ""}) == [str(tmp_path / "sscnb")]


def test_a_broken_environment_is_named_with_its_own_last_line(tmp_path):
    """A command that starts but is not sscnb (or fails to import) is refused with what it said."""
    assert sc.check_command([str(fake_sscnb(tmp_path, VERSION))]) == "sscnb 9.9"
    broken = fake_sscnb(tmp_path, 'print("ModuleNotFoundError: No module named tensorflow", file=sys.stderr); sys.exit(1)')
    with pytest.raises(sc.SscnbCommandError, match=r"does not run \(ModuleNotFoundError: No module named tensorflow\)"):
        sc.check_command([str(broken)])


def test_qgis_python_settings_do_not_reach_sscnb():
    """QGIS's PYTHONHOME and GDAL paths would start sscnb's Python with QGIS's libraries: they are left out."""
    env = sc.child_environment({"PYTHONHOME": "/qgis", "PYTHONPATH": "/qgis/python", "GDAL_DATA": "/qgis/gdal", "HOME": "/h"})
    assert env == {"HOME": "/h", "PYTHONUNBUFFERED": "1", "SSCNB_CANCEL_BY_SIGINT": "1"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Clearwater_ortho.tif: phase 1:  45%|####5     | 324/720 [00:01<00:01, 300row/s]",
            ("Clearwater_ortho.tif: phase 1", 45),
        ),
        ("training: 100%|##########| 10/10 [00:05<00:00,  2.0epoch/s]", ("training", 100)),
        ("labelled tiles:   0%|          | 0/2 [00:00<?, ?it/s]", ("labelled tiles", 0)),
        ("46 labelled tiles in polys.gpkg (46 of one class; 0 mixed, 0 skipped)", None),
        ("water  130027   24.433    0.033", None),
    ],
)
def test_progress_bars_are_read_as_percentages(text, expected):
    """The bars of tqdm become (description, percent); sscnb's other lines are not bars."""
    assert sc.parse_progress(text) == expected


def test_a_run_streams_bars_warnings_and_lines(tmp_path):
    """Bars between carriage returns, warnings and printed lines each reach their callback; stdout is returned."""
    fake = fake_sscnb(
        tmp_path,
        "print('reading survey.tif')\n"
        "for i in (0, 50, 100):\n"
        "    sys.stderr.write(f'\\rsurvey.tif: phase 1: {i:3d}%|#   | {i}/100 [00:00<00:00]'); sys.stderr.flush()\n"
        "sys.stderr.write('\\n')\n"
        "print('warning: survey.tif: darker than the training images', file=sys.stderr)\n"
        "print('/out/cnn_adapted.keras')\n",
    )
    bars, text, warnings = [], [], []
    out = sc.run_sscnb(
        [str(fake)], ["map"], on_progress=lambda d, p: bars.append((d, p)), on_text=text.append, on_warning=warnings.append
    )
    assert bars == [("survey.tif: phase 1", 0), ("survey.tif: phase 1", 50), ("survey.tif: phase 1", 100)]
    assert warnings == ["warning: survey.tif: darker than the training images"]
    assert out == ["reading survey.tif", "/out/cnn_adapted.keras"] == text


def test_a_failed_run_raises_sscnbs_one_line_once(tmp_path):
    """The one-line error of sscnb becomes the exception, and is not also passed on as text (said once in the log)."""
    fake = fake_sscnb(
        tmp_path, "print('working', file=sys.stderr)\nprint('sscnb map: survey.tif does not exist', file=sys.stderr)\nsys.exit(1)"
    )
    text = []
    with pytest.raises(sc.SscnbCommandError) as err:
        sc.run_sscnb([str(fake)], ["map"], on_text=text.append)
    assert str(err.value) == "sscnb map: survey.tif does not exist"
    assert text == ["working"]


@pytest.mark.skipif(os.name == "nt", reason="Ctrl-C as SIGINT to the process group")
@pytest.mark.parametrize("started", ["plainly", "with SIGINT ignored"])
def test_cancel_stops_sscnb_as_ctrl_c_does(tmp_path, started):
    """Cancel sends Ctrl-C (sscnb then writes nothing half-done) and raises; the process is gone. Also where
    QGIS itself was started with SIGINT ignored (in the background by a shell without job control), which
    its children inherit: the stand-in starts as sscnb's command does (sscnb.cli.honour_cancel).
    """
    import signal

    flag = tmp_path / "interrupted"
    fake = fake_sscnb(
        tmp_path,
        "import os\nfrom sscnb.cli import honour_cancel\nhonour_cancel()\n"
        f"try:\n    print(os.getpid(), flush=True)\n    time.sleep(60)\n"
        f"except KeyboardInterrupt:\n    open({str(flag)!r}, 'w').close(); sys.exit(130)",
    )
    pids: list[str] = []
    before = signal.signal(signal.SIGINT, signal.SIG_IGN if started != "plainly" else signal.getsignal(signal.SIGINT))
    try:
        start = time.monotonic()
        with pytest.raises(sc.SscnbCancelled, match="run it again to resume"):
            sc.run_sscnb([str(fake)], ["map"], on_text=pids.append, is_cancelled=lambda: bool(pids), poll=0.05)
    finally:
        signal.signal(signal.SIGINT, before)
    assert time.monotonic() - start < 10
    assert flag.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(int(pids[0]), 0)


def test_sscnb_takes_sigint_as_ctrl_c_only_when_its_caller_asks(monkeypatch):
    """An ignored SIGINT stays ignored (the shell's choice for a background job) unless the caller set the
    variable the plugin sets (the same name on both sides: the plugin cannot import sscnb).
    """
    import signal

    from sscnb.cli import CANCEL_BY_SIGINT, honour_cancel

    assert CANCEL_BY_SIGINT in sc.child_environment({})
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        monkeypatch.delenv(CANCEL_BY_SIGINT, raising=False)
        assert not honour_cancel()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        monkeypatch.setenv(CANCEL_BY_SIGINT, "1")
        assert honour_cancel()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert not honour_cancel()  # not ignored: left as it is
    finally:
        signal.signal(signal.SIGINT, before)


def test_make_qgis_plugin_builds_the_zip_qgis_installs(tmp_path):
    """The zip holds sscnb_qgis/ (metadata at sscnb's version, no caches) and the command it runs by default."""
    import zipfile

    import build_plugin

    import sscnb

    command = fake_sscnb(tmp_path, VERSION)
    zip_path = build_plugin.build(tmp_path / "out" / "sscnb_qgis.zip", str(command))
    with zipfile.ZipFile(zip_path) as z:
        names = set(z.namelist())
        assert {"sscnb_qgis/__init__.py", "sscnb_qgis/metadata.txt", "sscnb_qgis/algorithms.py"} <= names
        assert not [n for n in names if "__pycache__" in n or not n.startswith("sscnb_qgis/")]
        assert z.read("sscnb_qgis/default_command.txt").decode().strip() == str(command)
        assert f"version={sscnb.__version__}\n" in z.read("sscnb_qgis/metadata.txt").decode()
    assert not list((tmp_path / "out").glob("*.part"))
    assert build_plugin.main(["--out", str(tmp_path / "x.zip"), "--command", str(tmp_path / "none")]) == 1
    assert not (tmp_path / "x.zip").exists()


def test_the_plugins_choices_are_sscnbs():
    """The dialogs list the shipped models, phase-2 classifiers and feature sets that sscnb itself offers."""
    from sscnb.cnn._bundled import BUNDLED_MODELS
    from sscnb.params import PHASE2_CHOICES
    from sscnb.phase2._features import FEATURE_SETS

    assert list(BUNDLED_MODELS) == sc.SHIPPED
    assert sorted(sc.PHASE2) == sorted(PHASE2_CHOICES)
    assert list(FEATURE_SETS) == sc.FEATURES
