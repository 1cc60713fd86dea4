"""Run the numbered notebooks in order with papermill.

A run is described by a YAML file (see ``configs/sample_data.yml``)::

    experiment: sample_demo            # name of the run: outputs/<experiment>/
    output_root: outputs               # relative paths are relative to the YAML file's folder
    notebooks: [00_data_check]         # optional; default: every NN_*.ipynb in notebooks/
    parameters:                        # given to every notebook that declares them
      data_dir: sample_data/Train
    notebook_parameters:               # per-notebook overrides
      03_ssc_evaluation: {data_dir: sample_data/Validate}

Each run gets ``outputs/<experiment>/`` with the executed notebooks, what they wrote, and
``run.json`` (parameters, package versions, status and timings). A failing notebook stops the run
with :class:`RunError` naming the notebook and the cell; its executed copy is kept. A notebook
with a ``widgets`` parameter gets ``widgets: false`` unless the config sets it: a batch run has
nobody to move a slider, so it shows (and saves) static figures instead.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import re
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sscnb.batch._config import (  # the run YAML: loaded and checked there; its names are the runner's too
    NOTEBOOK_DIR,
    RunError,
    check_config,
    list_notebooks,
    load_config,
    select_notebooks,
)
from sscnb.layout import OutputFolderError, prepare_output
from sscnb.provenance import package_versions, write_json

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "RunError",
    "list_notebooks",
    "load_config",
    "run_suite",
    "copy_notebooks",
    "NOTEBOOK_DIR",
    "select_notebooks",
    "check_config",
    "notebook_warnings",
    "inline_figures",
]


def copy_notebooks(dest: str | Path, overwrite: bool = False) -> list[Path]:
    """Copy the numbered notebooks to a folder (e.g. to open them in JupyterLab after a plain ``pip install``).

    Parameters
    ----------
    dest : str or Path
    overwrite : bool
        Replace notebooks already there (otherwise that is an error).

    Returns
    -------
    list of Path
    """
    dest = Path(dest)
    nbs = list_notebooks(NOTEBOOK_DIR)
    clash = [dest / p.name for p in nbs if (dest / p.name).exists()]
    if clash and not overwrite:
        raise RunError(
            f"{len(clash)} notebook(s) already in {dest} (e.g. {clash[0].name}): pass --overwrite "
            "to replace them, or choose another folder"
        )
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for p in nbs:
        shutil.copyfile(p, dest / p.name)
        out.append(dest / p.name)
    return out


# parameters whose notebook default is a string but that also take a number


#: the backend a Jupyter kernel draws with by default: figures are kept in the executed notebook
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


@contextlib.contextmanager
def inline_figures() -> Iterator[None]:
    """Run the block with ``MPLBACKEND`` set so that the kernels it starts draw their figures inline.

    A headless server often exports ``MPLBACKEND=Agg``; a kernel started from there inherits it, its
    ``plt.show()`` draws nothing, and the executed notebook has no figures. Restored afterwards.

    Returns
    -------
    contextlib.AbstractContextManager
        Sets :data:`INLINE_BACKEND` for the block.
    """
    before = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = before


def run_suite(
    config: str | Path | dict,
    *,
    experiment: str | None = None,
    only: list[str] | None = None,
    overwrite: bool = False,
    extend: bool = False,
    notebook_dir: str | Path = NOTEBOOK_DIR,
    kernel_name: str = "python3",
    progress: bool = True,
    log: Callable[[str], object] = print,
) -> Path:
    """Execute the notebooks of a run configuration.

    A folder holding a finished run is not replaced unless ``overwrite=True`` (which deletes it
    first) or ``extend=True`` (which runs more notebooks in it: e.g. add notebook 05 to a run of
    00-04). A folder of an unfinished (interrupted or failed) run is resumed: the same command
    starts at the first notebook that did not finish. A notebook that finished in the folder is
    never run again (its files are kept); asked to with other parameters, the run is refused.

    Parameters
    ----------
    config : str, Path or dict
        A YAML path or a dict as from :func:`load_config`, checked whole before anything runs
        (:func:`check_config`).
    experiment : str, optional
        Overrides the configuration's.
    only : list of str, optional
        Notebook name prefixes to run (e.g. ``["00", "01"]``).
    overwrite, extend : bool
    notebook_dir : str or Path
    kernel_name : str
    progress : bool
    log : callable
        Receives the runner's messages (also written to ``run.log``).

    Returns
    -------
    Path
        ``<output_root>/<experiment>/``.

    Raises
    ------
    RunError
        Naming the notebook and the cell that failed, or what is wrong with the configuration.
    """
    cfg = load_config(config) if not isinstance(config, dict) else config
    experiment = experiment or cfg["experiment"]
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", str(experiment)):
        raise RunError(f"experiment name {experiment!r} must be letters, digits, '_', '-' or '.'")
    notebooks = select_notebooks(cfg, notebook_dir, only)
    check_config(cfg, notebooks)  # every key and value, before any folder is made
    out = Path(cfg["output_root"]) / experiment
    run_file = out / "run.json"
    prev = None
    if run_file.exists():
        prev = json.loads(run_file.read_text())
        finished_before = prev.get("status") == "finished" or prev.get("was_finished")
        if finished_before and not overwrite and not extend:
            raise RunError(
                f"{out} already holds a finished run ({prev.get('finished')}): pass --overwrite to "
                f"replace it, --extend to run more notebooks in it, or --experiment NAME to keep it "
                f"and start another"
            )
        if overwrite:
            log(f"replacing the earlier run in {out} (overwrite requested)")
            shutil.rmtree(out)

    try:
        prepare_output(out, "output_root")
    except OutputFolderError as exc:
        raise RunError(str(exc)) from None
    handler = _RunLog(out / "run.log")
    try:
        record = RunRecord.start(run_file, experiment, cfg.get("_config_path"), None if overwrite else prev)
        return _run(cfg, record, notebooks, kernel_name, progress, handler.wrap(log))
    finally:
        handler.close()


class _RunLog:
    """``run.log`` in the run folder.

    The runner's messages, and every warning and log record of sscnb (and Python's warnings) while the run
    lasts, with the time.
    """

    def __init__(self, path: Path):
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
        self.handler.setLevel(logging.INFO)
        self.loggers = [logging.getLogger("sscnb"), logging.getLogger("py.warnings")]
        self.levels = [lg.level for lg in self.loggers]
        for lg in self.loggers:
            lg.addHandler(self.handler)
            if lg.level == logging.NOTSET or lg.level > logging.INFO:
                lg.setLevel(logging.INFO)  # the console's handler still shows only what its level lets through
        logging.captureWarnings(True)
        self.runner = logging.getLogger("sscnb.batch")

    def wrap(self, log):
        def both(msg):
            self.runner.info(msg)
            log(msg)

        return both

    def close(self):
        logging.captureWarnings(False)
        for lg, level in zip(self.loggers, self.levels, strict=True):
            lg.removeHandler(self.handler)
            lg.setLevel(level)
        self.handler.close()


def _moved(before: dict, out: Path) -> dict:
    """Return a finished notebook's recorded parameters as they read from the run folder's place now.

    A folder copied or moved elsewhere keeps its results, so its own path (and paths inside it) are not other
    parameters.
    """
    old = before.get("output_dir")
    if not old or old == str(out):
        return before
    moved = {}
    for k, v in before.items():
        if isinstance(v, str) and (v == old or v.startswith(old.rstrip("/") + "/")):
            v = str(out) + v[len(old.rstrip("/")) :]
        moved[k] = v
    return moved


def notebook_warnings(path: str | Path) -> list[str]:
    """Return the warnings an executed notebook showed (Python warnings, in its cells' stderr), each once.

    Parameters
    ----------
    path : str or Path
        An executed notebook.

    Returns
    -------
    list of str
        ``"CategoryWarning: message"``, in the order they first appear.
    """
    import nbformat
    from nbformat.warnings import MissingIDFieldWarning

    try:
        with warnings.catch_warnings():  # nbformat's own note on the file's format is not the notebook's
            warnings.filterwarnings("ignore", category=MissingIDFieldWarning)
            nb = nbformat.read(str(path), as_version=4)
    except Exception:  # noqa: BLE001  (a notebook that could not be written: nothing to read)
        return []
    found = []
    pattern = re.compile(r"(?:^|: )([A-Z]\w*Warning): (.+)$")
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") != "stream" or out.get("name") != "stderr":
                continue
            for line in out.get("text", "").splitlines():
                m = pattern.search(line)
                if m:
                    msg = f"{m.group(1)}: {m.group(2).strip()}"
                    if msg not in found:
                        found.append(msg)
    return found


@dataclass
class RunRecord:
    """``run.json``: what a run did, saved after every notebook.

    Its presence with ``status: finished`` protects a finished run from being replaced by accident.

    Attributes
    ----------
    path : Path
        The ``run.json`` file.
    experiment, config, started : str
    versions : dict
        Package versions.
    notebooks : list of dict
        One entry per notebook run (``notebook, parameters, status, seconds``; a failure adds
        ``error`` and ``cell``).
    status : {"running", "failed", "finished"}
    was_finished : bool
        The folder held a finished run before this one extended it (a failed ``--extend`` keeps the
        finished run's protection).
    failed, finished : str, optional
        The notebook that failed; when the run finished.
    """

    path: Path
    experiment: str
    config: str | None
    started: str
    versions: dict
    notebooks: list = field(default_factory=list)
    status: str = "running"
    was_finished: bool = False
    failed: str | None = None
    finished: str | None = None

    @classmethod
    def start(cls, path, experiment: str, config, prev: dict | None) -> RunRecord:
        """Start a new record; with ``prev`` (the folder's earlier ``run.json``) the run resumes.

        The notebooks that finished in it are kept, never run again.
        """
        rec = cls(Path(path), experiment, config, _dt.datetime.now().isoformat(timespec="seconds"), package_versions())
        if prev:
            rec.notebooks = [n for n in prev.get("notebooks", []) if n.get("status") == "finished"]
            rec.started = prev.get("started", rec.started)
            rec.was_finished = bool(prev.get("status") == "finished" or prev.get("was_finished"))
        rec.save()
        return rec

    def finished_notebooks(self) -> dict:
        """``{notebook file name: its entry}`` of the notebooks that finished."""
        return {n["notebook"]: n for n in self.notebooks if n.get("status") == "finished"}

    def to_dict(self) -> dict:
        d: dict[str, Any] = {
            "experiment": self.experiment,
            "status": self.status,
            "config": self.config,
            "started": self.started,
            "versions": self.versions,
            "notebooks": self.notebooks,
        }
        if self.was_finished:
            d["was_finished"] = True
        for k in ("failed", "finished"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return d

    def save(self) -> Path:
        """Write ``run.json`` atomically."""
        return write_json(self.path, self.to_dict(), indent=2)


def _run(cfg, record: RunRecord, notebooks, kernel_name, progress, log) -> Path:
    import papermill as pm
    from nbformat.warnings import MissingIDFieldWarning
    from papermill.exceptions import PapermillExecutionError

    experiment, out = record.experiment, record.path.parent
    done = record.finished_notebooks()
    for nb in notebooks:
        declared = pm.inspect_notebook(str(nb))
        params = {**cfg["parameters"], **cfg["notebook_parameters"].get(nb.stem, {})}
        params.update(output_dir=str(out), experiment=experiment)
        params = {k: v for k, v in params.items() if k in declared}
        if "widgets" in declared:  # nobody is there to move a slider: static figures, unless the config says
            params.setdefault("widgets", False)
        if nb.name in done:
            before = _moved(done[nb.name].get("parameters", {}), out)
            if json.loads(json.dumps(params, default=str)) != before:
                diff = [
                    f"{k}: {before.get(k)!r} -> {params.get(k)!r}"
                    for k in sorted(set(before) | set(params))
                    if before.get(k) != json.loads(json.dumps(params.get(k), default=str))
                ]
                raise RunError(
                    f"{nb.name} already finished in {out} with other parameters ({'; '.join(diff)}): "
                    "pass --overwrite to start the run again, or --experiment NAME for a new run"
                )
            log(f"[{experiment}] {nb.name} already finished in this run folder: kept, not run again")
            continue
        dest = out / nb.name
        log(f"[{experiment}] running {nb.name} ...")
        t0 = time.perf_counter()
        entry = {"notebook": nb.name, "parameters": params}
        try:
            try:
                with warnings.catch_warnings(), inline_figures():  # papermill's cell without id: nbformat's note
                    warnings.filterwarnings("ignore", category=MissingIDFieldWarning)
                    pm.execute_notebook(
                        str(nb),
                        str(dest),
                        parameters=params,
                        kernel_name=kernel_name,
                        cwd=str(nb.parent),
                        progress_bar=progress,
                        log_output=False,
                    )
            finally:  # what the notebook warned about reaches the console and run.log, not only the notebook
                for w in notebook_warnings(dest):
                    log(f"[{experiment}] {nb.name}: {w}")
        except PapermillExecutionError as exc:
            entry.update(
                status="failed",
                seconds=round(time.perf_counter() - t0, 1),
                error=f"{exc.ename}: {exc.evalue}",
                cell=exc.exec_count,
            )
            record.notebooks.append(entry)
            record.status, record.failed = "failed", nb.name
            record.save()
            raise RunError(
                f"{nb.name} failed in cell [{exc.exec_count}] (cell index {exc.cell_index}): "
                f"{exc.ename}: {exc.evalue}\nThe executed notebook with the error is kept at {dest}"
            ) from None
        entry.update(status="finished", seconds=round(time.perf_counter() - t0, 1))
        record.notebooks.append(entry)
        record.save()
        log(f"[{experiment}] {nb.name} finished in {entry['seconds']:.0f} s")
    record.status, record.finished = "finished", _dt.datetime.now().isoformat(timespec="seconds")
    record.was_finished = False
    order = {n: i for i, n in enumerate(p.name for p in list_notebooks(notebooks[0].parent))}
    record.notebooks.sort(key=lambda n: order.get(n["notebook"], len(order)))
    record.save()
    with open(out / "run_config.yml", "w") as fh:
        yaml.safe_dump({k: v for k, v in cfg.items() if not k.startswith("_")} | {"experiment": experiment}, fh, sort_keys=False)
    log(f"[{experiment}] done: {len(notebooks)} notebook(s), outputs in {out}")
    return out
