"""Run the ``sscnb`` command of its own Python environment from QGIS: find it, stream it, cancel it.

sscnb stays in its own environment (TensorFlow does not belong in QGIS's Python): the Processing
algorithms (``algorithms.py``) run its command line as a child process. This module holds what
does not need QGIS, so that plain ``pytest`` tests it: where the command is, a clean environment
for it, its progress bars read as percentages, Cancel as Ctrl-C, and its one-line errors.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "ENV_VAR",
    "SETTING",
    "SscnbCommandError",
    "SscnbCancelled",
    "find_command",
    "check_command",
    "child_environment",
    "parse_progress",
    "run_sscnb",
]

#: the environment variable that names the sscnb command (after the provider's setting)
ENV_VAR = "SSCNB_COMMAND"
#: the provider's setting (Settings > Options > Processing > Providers > sscnb) of the same
SETTING = "SSCNB_COMMAND"
#: written by ``make qgis-plugin`` into the zip: this repository's ``.venv`` command
DEFAULT_FILE = Path(__file__).with_name("default_command.txt")
HOW_TO_SET = (
    "set it in QGIS under Settings > Options > Processing > Providers > sscnb "
    f"(or in the environment variable {ENV_VAR}): the path of the sscnb command of the environment "
    "where sscnb is installed, e.g. /path/to/sscnb/.venv/bin/sscnb"
)
#: the choices sscnb offers, as the dialogs list them (sscnb is not importable in QGIS's Python: a test
#: checks these against sscnb.cnn.BUNDLED_MODELS, sscnb.params.PHASE2_CHOICES and sscnb.phase2.FEATURE_SETS)
SHIPPED = ["rivers", "rivers_compact"]
PHASE2 = ["mlp", "rf", "mlp_rf"]
FEATURES = ["median_rgb", "multiscale", "multiscale_cnn"]
#: QGIS's own settings for its Python and GDAL: passed on, they would make another Python start
#: with QGIS's library path, or another GDAL read QGIS's data files
QGIS_ONLY = ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "GDAL_DATA", "GDAL_DRIVER_PATH", "PROJ_LIB", "PROJ_DATA")
#: a tqdm bar as sscnb prints it: ``Clearwater_ortho.tif: phase 1:  45%|####      | 324/720 [...]``
_BAR = re.compile(r"^(?P<desc>.*?):?\s*(?P<pct>\d{1,3})%\|")


class SscnbCommandError(Exception):
    """The sscnb command is missing, does not run, or stopped with an error (its own one line)."""


class SscnbCancelled(SscnbCommandError):
    """The run was cancelled; what sscnb finished is kept, and running it again resumes."""


def _repository_command() -> Path:
    """Return the ``sscnb`` of the ``.venv`` of the repository this plugin folder sits in (``qgis/sscnb_qgis/`` of a clone)."""
    venv = Path(__file__).resolve().parents[2] / ".venv"
    return venv / ("Scripts/sscnb.exe" if os.name == "nt" else "bin/sscnb")


def _as_command(value: str, where: str) -> list[str]:
    """Return the argv prefix that runs sscnb, from a path: the command itself, a Python, or an environment folder."""
    path = Path(value).expanduser()
    if path.is_dir():  # an environment's folder
        for sub in ("bin/sscnb", "Scripts/sscnb.exe"):
            if (path / sub).is_file():
                return [str(path / sub)]
        raise SscnbCommandError(f"{where} names the folder {path}, which holds no bin/sscnb: {HOW_TO_SET}")
    if not path.is_file():
        found = shutil.which(value)
        if found is None:
            raise SscnbCommandError(f"{where} names {value}, which does not exist: {HOW_TO_SET}")
        path = Path(found)
    if path.name.startswith("python"):
        return [str(path), "-m", "sscnb"]
    return [str(path)]


def find_command(setting: str = "", environ: dict[str, str] | None = None) -> list[str]:
    """Return the argv prefix that runs sscnb.

    In this order: the provider's setting, the environment variable ``SSCNB_COMMAND``, ``sscnb``
    on PATH, the environment that ``make qgis-plugin`` wrote into the zip, this repository's
    ``.venv`` (a plugin run from a clone). A setting or variable that names nothing is an error,
    not passed over.

    Parameters
    ----------
    setting : str
        The provider's setting (a path to ``sscnb``, to a Python with sscnb, or to an environment).
    environ : dict, optional
        The environment to read ``SSCNB_COMMAND`` from (default: this process's).

    Returns
    -------
    list of str
        e.g. ``["/home/me/sscnb/.venv/bin/sscnb"]`` or ``["/usr/bin/python3", "-m", "sscnb"]``.
    """
    env: dict[str, str] = dict(os.environ if environ is None else environ)
    if setting.strip():
        return _as_command(setting.strip(), "the sscnb setting")
    if env.get(ENV_VAR, "").strip():
        return _as_command(env[ENV_VAR].strip(), f"the environment variable {ENV_VAR}")
    found = shutil.which("sscnb", path=env.get("PATH"))
    if found:
        return [found]
    if DEFAULT_FILE.is_file() and Path(DEFAULT_FILE.read_text().strip()).is_file():
        return [DEFAULT_FILE.read_text().strip()]
    if _repository_command().is_file():
        return [str(_repository_command())]
    raise SscnbCommandError(f"no sscnb command found (not on PATH, no .venv beside this plugin): {HOW_TO_SET}")


def child_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Return the environment for sscnb: this one without QGIS's Python and GDAL settings, output unbuffered, Cancel honoured.

    Parameters
    ----------
    environ : dict, optional
        Default: this process's environment.

    Returns
    -------
    dict
        A copy, changed.
    """
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if k not in QGIS_ONLY}
    env["PYTHONUNBUFFERED"] = "1"
    env["SSCNB_CANCEL_BY_SIGINT"] = "1"  # Cancel is SIGINT: sscnb honours it even if QGIS was started with it ignored
    return env


def check_command(command: Sequence[str]) -> str:
    """Run ``sscnb --version`` and return what it prints; a command that does not run is one clear error.

    Parameters
    ----------
    command : sequence of str
        From :func:`find_command`.

    Returns
    -------
    str
        e.g. ``"sscnb 0.3.0"``.
    """
    try:
        done = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=300, env=child_environment())
    except OSError as exc:
        raise SscnbCommandError(f"the sscnb command {' '.join(command)} does not start ({exc}): {HOW_TO_SET}") from None
    if done.returncode != 0 or not done.stdout.startswith("sscnb"):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SscnbCommandError(f"the sscnb command {' '.join(command)} does not run ({last}): {HOW_TO_SET}")
    return done.stdout.strip()


def parse_progress(text: str) -> tuple[str, int] | None:
    """Read one of sscnb's progress bars: its description and percentage, or None for other text.

    Parameters
    ----------
    text : str
        One piece of sscnb's error stream, between carriage returns or newlines.

    Returns
    -------
    tuple of (str, int) or None
        e.g. ``("Clearwater_ortho.tif: phase 1", 45)``.
    """
    m = _BAR.match(text.strip())
    if m is None:
        return None
    return m.group("desc").strip(), min(100, int(m.group("pct")))


def _reader(stream, name: str, out: queue.Queue) -> None:
    """Put each line (or bar update, split at carriage returns) of ``stream`` on ``out``; None at its end."""
    pending = ""
    while True:
        try:
            chunk = stream.read1(4096) if hasattr(stream, "read1") else stream.read(4096)
        except (OSError, ValueError):  # closed under it: the run was cancelled
            break
        if not chunk:
            break
        pending += chunk.decode("utf-8", errors="replace")
        *pieces, pending = re.split(r"[\r\n]", pending)
        for piece in pieces:
            if piece.strip():
                out.put((name, piece))
    if pending.strip():
        out.put((name, pending))
    out.put((name, None))


def _interrupt(proc: subprocess.Popen, grace: float) -> None:
    """Stop sscnb as Ctrl-C does (it writes nothing half-done), killing it after ``grace`` seconds."""
    try:
        if os.name == "nt":
            proc.terminate()
        else:
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=grace)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        proc.kill()
        proc.wait()


def run_sscnb(
    command: Sequence[str],
    args: Sequence[str],
    *,
    on_progress: Callable[[str, int], None] = lambda desc, pct: None,
    on_text: Callable[[str], None] = print,
    on_warning: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    is_cancelled: Callable[[], bool] = lambda: False,
    poll: float = 0.2,
    grace: float = 20.0,
) -> list[str]:
    """Run ``sscnb ARGS``, passing its progress, text and warnings on as they come; return what it printed.

    Parameters
    ----------
    command : sequence of str
        From :func:`find_command`.
    args : sequence of str
        e.g. ``["map", "--model", "rivers", "--out", "maps", "survey.tif"]``.
    on_progress : callable(desc, percent)
        Each update of a progress bar.
    on_text : callable(line)
        Each other line (what sscnb prints on its standard output, and its information).
    on_warning : callable(line)
        Each ``warning:`` line.
    is_cancelled : callable() -> bool
        Asked every ``poll`` seconds; True stops sscnb as Ctrl-C does.
    poll : float
        Seconds between the questions.
    grace : float
        Seconds sscnb has to stop after a cancel before it is killed.

    Returns
    -------
    list of str
        The lines of its standard output (the last of ``sscnb adapt``'s is the model's path).
    """
    try:
        proc = subprocess.Popen(
            [*command, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=child_environment(),
            start_new_session=os.name != "nt",  # its own process group: Cancel reaches its children too
        )
    except OSError as exc:
        raise SscnbCommandError(f"the sscnb command {' '.join(command)} does not start ({exc}): {HOW_TO_SET}") from None
    with proc:  # its pipes closed, and it waited for, however this ends
        lines: queue.Queue = queue.Queue()
        readers = [
            threading.Thread(target=_reader, args=(proc.stdout, "out", lines), daemon=True),
            threading.Thread(target=_reader, args=(proc.stderr, "err", lines), daemon=True),
        ]
        for t in readers:
            t.start()
        stdout: list[str] = []
        errors: list[str] = []
        open_streams = 2
        while open_streams:
            if is_cancelled():
                _interrupt(proc, grace)
                raise SscnbCancelled("cancelled: what sscnb finished is kept; run it again to resume")
            try:
                name, text = lines.get(timeout=poll)
            except queue.Empty:
                continue
            if text is None:
                open_streams -= 1
                continue
            bar = parse_progress(text)
            if bar is not None:
                on_progress(*bar)
            elif text.startswith("warning:"):
                on_warning(text)
            elif name == "out":
                stdout.append(text)
                on_text(text)
            else:
                errors.append(text)
                if not text.startswith("sscnb "):  # its one-line error: raised below, not said twice
                    on_text(text)
    said = [e for e in errors if e.startswith("sscnb ")]
    if proc.returncode != 0:
        raise SscnbCommandError((said or errors or [f"exit status {proc.returncode}"])[-1].strip())
    for line in said:
        on_text(line)
    return stdout
