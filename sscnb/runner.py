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
with :class:`RunError` naming the notebook and the cell; its executed copy is kept.
"""
from __future__ import annotations

import datetime as _dt
import json
import re
import shutil
import time
from pathlib import Path

import yaml

from .provenance import package_versions

__all__ = ["RunError", "list_notebooks", "load_config", "run_suite", "copy_notebooks", "NOTEBOOK_DIR"]

def _notebook_dir() -> Path:
    """The numbered notebooks: ``notebooks/`` of the repository (a source checkout or an editable
    install) or, after ``pip install .``, the copy inside the package (``sscnb/notebooks``)."""
    from importlib.util import find_spec

    repo = Path(__file__).resolve().parent.parent / "notebooks"
    if repo.is_dir() and any(repo.glob("[0-9][0-9]_*.ipynb")):
        return repo
    spec = find_spec("sscnb.notebooks")  # package data: a folder of notebooks, no Python in it
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return repo


NOTEBOOK_DIR = _notebook_dir()
_NB_RE = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")
PATH_PARAMETERS = ("data_dir", "output_dir", "model_path", "class_csv", "results_dir", "inputs")


class RunError(RuntimeError):
    """A notebook of the suite failed, or the run cannot start."""


def copy_notebooks(dest, overwrite: bool = False) -> list[Path]:
    """Copy the numbered notebooks to ``dest`` (e.g. to open them in JupyterLab after a plain
    ``pip install``). Existing notebooks are not replaced unless ``overwrite``."""
    dest = Path(dest)
    nbs = list_notebooks(NOTEBOOK_DIR)
    clash = [dest / p.name for p in nbs if (dest / p.name).exists()]
    if clash and not overwrite:
        raise RunError(f"{len(clash)} notebook(s) already in {dest} (e.g. {clash[0].name}): pass --overwrite "
                       "to replace them, or choose another folder")
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for p in nbs:
        shutil.copyfile(p, dest / p.name)
        out.append(dest / p.name)
    return out


def list_notebooks(folder=NOTEBOOK_DIR) -> list[Path]:
    """The numbered notebooks ``NN_name.ipynb`` in ``folder``, in order."""
    return sorted(p for p in Path(folder).glob("*.ipynb") if _NB_RE.match(p.name))


def load_config(path) -> dict:
    """Read a run YAML; relative paths become absolute (relative to the YAML's folder)."""
    path = Path(path)
    try:
        cfg = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise RunError(f"run configuration {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise RunError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(cfg, dict) or "experiment" not in cfg:
        raise RunError(f"{path} must be a YAML mapping with at least 'experiment: NAME'")
    base = path.resolve().parent

    def absolutise(params):
        params = dict(params or {})
        for k, v in params.items():
            if k in PATH_PARAMETERS and isinstance(v, str):
                params[k] = str((base / v).resolve())
            elif k in PATH_PARAMETERS and isinstance(v, list):
                params[k] = [str((base / x).resolve()) for x in v]
        return params

    cfg["parameters"] = absolutise(cfg.get("parameters"))
    cfg["notebook_parameters"] = {k: absolutise(v) for k, v in (cfg.get("notebook_parameters") or {}).items()}
    cfg["output_root"] = str((base / cfg.get("output_root", "outputs")).resolve())
    cfg["_config_path"] = str(path.resolve())
    return cfg


def _write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    tmp.replace(path)


def run_suite(config, *, experiment: str | None = None, only=None, overwrite: bool = False,
              extend: bool = False, notebook_dir=NOTEBOOK_DIR, kernel_name: str = "python3", progress: bool = True,
              log=print) -> Path:
    """Execute the notebooks of a run configuration; returns ``outputs/<experiment>/``.

    ``config``: a YAML path or a dict as from :func:`load_config`. ``only``: notebook name
    prefixes to run (e.g. ``["00", "01"]``). A folder holding a finished run is not replaced
    unless ``overwrite=True`` (which deletes it first) or ``extend=True`` (which runs the chosen
    notebooks in it, keeping its files: e.g. add notebook 03 to a run of 00-02). A folder of an
    unfinished (failed) run is resumed in place.
    """

    cfg = load_config(config) if not isinstance(config, dict) else config
    experiment = experiment or cfg["experiment"]
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", str(experiment)):
        raise RunError(f"experiment name {experiment!r} must be letters, digits, '_', '-' or '.'")
    out = Path(cfg["output_root"]) / experiment
    run_file = out / "run.json"
    prev = None
    if run_file.exists():
        prev = json.loads(run_file.read_text())
        if prev.get("status") == "finished" and not overwrite and not extend:
            raise RunError(
                f"{out} already holds a finished run ({prev.get('finished')}): pass --overwrite to "
                f"replace it, --extend to run more notebooks in it, or --experiment NAME to keep it "
                f"and start another"
            )
        if overwrite:
            log(f"replacing the earlier run in {out} (overwrite requested)")
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    handler = _RunLog(out / "run.log")
    try:
        return _run(cfg, experiment, out, run_file, prev, only, overwrite, extend, notebook_dir, kernel_name,
                    progress, handler.wrap(log))
    finally:
        handler.close()


class _RunLog:
    """``run.log`` in the run folder: the runner's messages, and every warning and log record of
    sscnb (and Python's warnings) while the run lasts, with the time."""

    def __init__(self, path: Path):
        import logging

        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                                    "%Y-%m-%d %H:%M:%S"))
        self.handler.setLevel(logging.INFO)
        self.loggers = [logging.getLogger("sscnb"), logging.getLogger("py.warnings")]
        self.levels = [lg.level for lg in self.loggers]
        for lg in self.loggers:
            lg.addHandler(self.handler)
            if lg.level == logging.NOTSET or lg.level > logging.INFO:
                lg.setLevel(logging.INFO)  # the console's handler still shows only what its level lets through
        logging.captureWarnings(True)
        self.runner = logging.getLogger("sscnb.runner")

    def wrap(self, log):
        def both(msg):
            self.runner.info(msg)
            log(msg)
        return both

    def close(self):
        import logging

        logging.captureWarnings(False)
        for lg, level in zip(self.loggers, self.levels):
            lg.removeHandler(self.handler)
            lg.setLevel(level)
        self.handler.close()


def _run(cfg, experiment, out, run_file, prev, only, overwrite, extend, notebook_dir, kernel_name, progress,
         log) -> Path:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    available = list_notebooks(notebook_dir)
    wanted = cfg.get("notebooks")
    if wanted:
        by_stem = {p.stem: p for p in available}
        missing = [w for w in wanted if w not in by_stem]
        if missing:
            raise RunError(f"notebooks {missing} named in the configuration are not in {notebook_dir}")
        notebooks = [by_stem[w] for w in wanted]
    else:
        notebooks = available
    if only:
        notebooks = [p for p in notebooks if any(p.name.startswith(str(o)) for o in only)]
    if not notebooks:
        raise RunError(f"no notebooks to run in {notebook_dir}")

    record = {
        "experiment": experiment, "status": "running", "config": cfg.get("_config_path"),
        "started": _dt.datetime.now().isoformat(timespec="seconds"),
        "versions": package_versions(), "notebooks": [],
    }
    if extend and prev and not overwrite:
        record["notebooks"] = [n for n in prev.get("notebooks", [])
                               if n.get("notebook") not in {p.name for p in notebooks}]
        record["started"] = prev.get("started", record["started"])
    _write_json(run_file, record)
    for nb in notebooks:
        declared = pm.inspect_notebook(str(nb))
        params = {**cfg["parameters"], **cfg["notebook_parameters"].get(nb.stem, {})}
        params.update(output_dir=str(out), experiment=experiment)
        params = {k: v for k, v in params.items() if k in declared}
        dest = out / nb.name
        log(f"[{experiment}] running {nb.name} ...")
        t0 = time.perf_counter()
        entry = {"notebook": nb.name, "parameters": params}
        try:
            pm.execute_notebook(str(nb), str(dest), parameters=params, kernel_name=kernel_name,
                                cwd=str(nb.parent), progress_bar=progress, log_output=False)
        except PapermillExecutionError as exc:
            entry.update(status="failed", seconds=round(time.perf_counter() - t0, 1),
                         error=f"{exc.ename}: {exc.evalue}", cell=exc.exec_count)
            record["notebooks"].append(entry)
            record.update(status="failed", failed=nb.name)
            _write_json(run_file, record)
            raise RunError(
                f"{nb.name} failed in cell [{exc.exec_count}] (cell index {exc.cell_index}): "
                f"{exc.ename}: {exc.evalue}\nThe executed notebook with the error is kept at {dest}"
            ) from None
        entry.update(status="finished", seconds=round(time.perf_counter() - t0, 1))
        record["notebooks"].append(entry)
        _write_json(run_file, record)
        log(f"[{experiment}] {nb.name} finished in {entry['seconds']:.0f} s")
    record.update(status="finished", finished=_dt.datetime.now().isoformat(timespec="seconds"))
    _write_json(run_file, record)
    with open(out / "run_config.yml", "w") as fh:
        yaml.safe_dump({k: v for k, v in cfg.items() if not k.startswith("_")} | {"experiment": experiment},
                       fh, sort_keys=False)
    log(f"[{experiment}] done: {len(notebooks)} notebook(s), outputs in {out}")
    return out
