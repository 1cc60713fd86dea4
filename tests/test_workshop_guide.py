"""The workshop guide (docs/workshop.md) runs as written.

A copy of this checkout stands in for the teacher's fresh clone. The guide's set-up commands are
read from its own text and run there, as a shell would run them: ``make demo`` (which creates
``.venv``), the answers script, and JupyterLab from the repository's root. Then a student's
session, as the guide's "Your own folder" section tells it, is run notebook by notebook: the
demo's folder must come out of it untouched, and the student's files must have the names the guide
gives.
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import notebook_noise

pytestmark = pytest.mark.e2e  # a teacher's fresh clone: its own virtual environment, the whole suite

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "workshop.md"


def guide_text() -> str:
    return GUIDE.read_text()


def setup_commands(text: str) -> list:
    """The commands of the guide's first bash block, without their comments."""
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [re.split(r"\s+#", line)[0].strip() for line in block.splitlines()]
    return [c for c in commands if c and not c.startswith("#")]


def own_folder_section(text: str) -> str:
    start = text.index("## Your own folder")
    return text[start : text.index("\n## ", start + 1)]


def _env() -> dict:
    """Return this process's environment as a teacher's shell has it: no virtual environment active."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    ours = str(REPO / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != ours)
    return env


def _shell(command: str, cwd: Path, timeout: int = 1500) -> str:
    r = subprocess.run(command, shell=True, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"`{command}` failed ({r.returncode}):\n{(r.stdout + r.stderr)[-3000:]}"
    return r.stdout + r.stderr


def _snapshot(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A copy of this checkout's files (tracked, and new ones git does not ignore), after the
    guide's first two commands: ``git clone ... && cd sscnb`` (the copy) and ``make demo``, with the
    guide's answers script started (its command, process and output file).
    """
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.skip("needs git and make")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: no fresh clone to make")
    dest = tmp_path_factory.mktemp("teacher") / "sscnb"
    for name in filter(None, listed.stdout.decode().split("\0")):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    commands = setup_commands(guide_text())
    assert commands[0].startswith("git clone "), commands[0]
    assert commands[0].endswith("&& cd sscnb"), commands[0]
    assert commands[1] == "make demo", commands
    _environment_with_our_packages(dest / ".venv")
    _shell(commands[1], dest)
    # the teacher's answers script (its ten notebook runs) goes on while a student works, as on the
    # day: test_the_guides_other_commands_run_as_written reads what it printed
    answers = next((c for c in commands if "workshop_answers.py" in c), None)
    assert answers, f"the guide's set-up commands no longer run benchmarks/workshop_answers.py: {commands}"
    log = dest.parent / "answers.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen(
            answers, shell=True, cwd=dest, env=_env(), stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    yield dest, commands, (answers, proc, log)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _environment_with_our_packages(venv: Path) -> None:
    """Make the clone's ``.venv`` as the Makefile's first step does (``python3 -m venv .venv``), but
    seeing this environment's packages (TensorFlow, JupyterLab, ...) after its own, with their
    command-line scripts: ``make demo`` then installs the clone's sscnb into it and finds every
    dependency already there, instead of installing TensorFlow again. That make demo creates
    ``.venv`` from nothing on a fresh clone is what CI's own ``make test-all`` does.
    """
    import sys
    import sysconfig

    _shell(f"python3 -m venv {venv}", venv.parent)
    ours = Path(sysconfig.get_paths()["purelib"])
    site = Path(
        _shell(f"{venv}/bin/python -c \"import sysconfig; print(sysconfig.get_paths()['purelib'])\"", venv.parent).strip()
    )
    (site / "sscnb_test_deps.pth").write_text(f"{ours}\n")
    shebang = f"#!{Path(sys.executable).parent / 'python'}"
    for script in Path(sys.executable).parent.iterdir():
        target = venv / "bin" / script.name
        if target.exists() or not script.is_file():
            continue
        try:
            text = script.read_text()
        except UnicodeDecodeError:
            continue
        if text.startswith(shebang + "\n"):
            target.write_text(f"#!{venv / 'bin' / 'python'}" + text[len(shebang) :])
            target.chmod(0o755)


def test_make_demo_as_written_runs_the_suite(clone):
    root, _, _ = clone
    run = json.loads((root / "outputs" / "sample_demo" / "run.json").read_text())
    assert run["status"] == "finished"
    assert len(run["notebooks"]) == 9
    assert (root / ".venv" / ".installed").exists()  # make demo installed the clone into it
    where = _shell(".venv/bin/python -c 'import sscnb; print(sscnb.__file__)'", root)
    assert where.strip().startswith(str(root)), where
    assert notebook_noise(root / "outputs" / "sample_demo") == []  # no PosixPath results, no TensorFlow C++ lines
    assert "already finished in this run folder" in _shell("make demo", root)  # run again: resumes, no error


def test_a_student_works_in_their_own_folder_as_the_guide_says(clone, tmp_path):
    root, _, _ = clone
    section = own_folder_section(guide_text())
    # the guide's own words: which notebooks get which setting, and the file the student then has
    bullet = next(line for line in section.split("\n- ") if "set one parameter" in line)
    with_model = re.findall(r"`(\d\d_\w+)`", bullet)
    assert with_model == ["03_ssc_evaluation", "05_map_survey", "06_explore", "07_adapt_to_river"], bullet
    setting = {}
    exec(re.search(r"```python\n(.*?)```", section, re.S).group(1).strip(), {}, setting)  # noqa: S102
    assert setting == {"model_path": "../outputs/sample_demo/model"}
    demo = root / "outputs" / "sample_demo"
    before = _snapshot(demo)
    python = root / ".venv" / "bin" / "python"

    def run(notebook, parameters):
        out = tmp_path / f"{notebook}.ipynb"
        return subprocess.run(
            [
                str(python),
                "-m",
                "papermill",
                f"notebooks/{notebook}.ipynb",
                str(out),
                "--cwd",
                "notebooks",
                "-y",
                yaml.safe_dump(parameters),
                "--no-progress-bar",
            ],
            cwd=root,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=900,
        )

    # the agenda's order; 01 and 02 with their defaults (the student's own CNN). experiment is passed
    # at its default value so that papermill always injects its parameters cell: with none, the
    # notebooks cannot tell a batch run and draw live widgets, which can stall papermill (nbclient#312)
    for nb in [
        "00_data_check",
        "01_cnn_tuning",
        "02_cnn_training",
        "03_ssc_evaluation",
        "06_explore",
        "05_map_survey",
        "04_report",
        "07_adapt_to_river",
    ]:
        r = run(nb, {"experiment": "manual", **(setting if nb in with_model else {})})
        assert r.returncode == 0, f"{nb}:\n{(r.stdout + r.stderr)[-3000:]}"
    # the mistake the guide warns about: notebook 02 pointed at the demo's folder refuses before training
    t0 = time.perf_counter()
    r = run("02_cnn_training", {"output_dir": "../outputs/sample_demo"})
    assert r.returncode != 0
    assert "exists: choose another model_name or output_dir" in r.stdout + r.stderr
    assert time.perf_counter() - t0 < 60
    assert _snapshot(demo) == before, "the student's session wrote into the demo's folder"
    mine = root / "outputs" / "manual"
    assert (mine / "model" / "cnn.keras").exists()  # the student's own CNN
    exercise6 = re.search(r"`(outputs/manual/map/[^`]+\.tif)`", section).group(1)
    assert exercise6 == "outputs/manual/map/Clearwater_ortho_manual_MLPRF.tif"
    assert (root / exercise6).exists(), sorted(p.name for p in (mine / "map").iterdir())
    assert any(p.name.endswith("_manual.csv") for p in (mine / "ssc").iterdir())
    assert not any("sample_demo" in p.name for p in mine.rglob("*"))


def test_the_guides_other_commands_run_as_written(clone, tmp_path):
    root, commands, (answers, proc, log) = clone
    lab = next(c for c in commands if "jupyter lab" in c)
    assert set(commands[2:]) == {answers, lab}, f"a command the test does not run: {commands}"
    code = proc.wait(timeout=1500)
    printed = log.read_text()
    assert code == 0, f"`{answers}` failed ({code}):\n{printed[-3000:]}"
    assert "Exercise 3: Muddyford_0005: MLP vs RF" in printed, printed[-2000:]
    assert (root / "outputs" / "workshop_check" / "muddy_rf" / "06_explore.ipynb").exists()
    # JupyterLab, started from the repository's root as written: notebooks/ and outputs/ both browsable
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    # as written, plus what a test needs: no browser, a free port on 127.0.0.1, a token, its own
    # runtime folder (not the home's), and --allow-root where CI runs as root
    extra = f" --no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token}"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        extra += " --allow-root"
    (tmp_path / "runtime").mkdir()
    env = {**_env(), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    log = tmp_path / "jupyterlab.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen(
            lab + extra, shell=True, cwd=root, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        names, deadline = None, time.time() + 120
        while names is None and time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/?token={token}", timeout=5) as r:
                    names = {c["name"] for c in json.load(r)["content"]}
            except OSError:
                assert proc.poll() is None, log.read_text()[-2000:]
                time.sleep(1)
        assert names is not None, "JupyterLab did not answer within 120 s"
        assert {"notebooks", "outputs"} <= names, names
        url = f"http://127.0.0.1:{port}/api/contents/outputs/sample_demo?token={token}"
        with urllib.request.urlopen(url, timeout=10) as r:
            assert "03_ssc_evaluation.ipynb" in {c["name"] for c in json.load(r)["content"]}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
