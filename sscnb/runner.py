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

import datetime as _dt
import json
import re
import shutil
import time
from pathlib import Path

import yaml

from .cnn import CNNParams
from .errors import SscnbError
from .layout import OutputFolderError, prepare_output
from .provenance import package_versions, write_json
from .ssc import SSCParams

__all__ = ["RunError", "list_notebooks", "load_config", "run_suite", "copy_notebooks", "NOTEBOOK_DIR",
           "select_notebooks", "check_config", "notebook_warnings"]

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
PATH_PARAMETERS = ("data_dir", "validate_dir", "output_dir", "model_path", "class_csv", "results_dir", "inputs")


class RunError(SscnbError, RuntimeError):
    """A notebook of the suite failed, or the run cannot start."""


def copy_notebooks(dest, overwrite: bool = False) -> list[Path]:
    """Copy the numbered notebooks to a folder (e.g. to open them in JupyterLab after a plain
    ``pip install``).

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
        raise RunError(f"{len(clash)} notebook(s) already in {dest} (e.g. {clash[0].name}): pass --overwrite "
                       "to replace them, or choose another folder")
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for p in nbs:
        shutil.copyfile(p, dest / p.name)
        out.append(dest / p.name)
    return out


def list_notebooks(folder=NOTEBOOK_DIR) -> list[Path]:
    """The numbered notebooks ``NN_name.ipynb`` of a folder, in order.

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    list of Path
    """
    return sorted(p for p in Path(folder).glob("*.ipynb") if _NB_RE.match(p.name))


def load_config(path) -> dict:
    """Read a run YAML.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        Relative paths made absolute (relative to the YAML's folder); ``_config_path`` added.

    Raises
    ------
    RunError
        A missing file, invalid YAML, or no ``experiment``.
    """
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


TOP_LEVEL_KEYS = ("experiment", "output_root", "notebooks", "parameters", "notebook_parameters")
RUNNER_PARAMETERS = ("output_dir", "experiment")  # set by the runner for every notebook
# parameters whose notebook default is a string but that also take a number
NUMBER_OR_WORD = {"epochs": "auto", "trainable_layers": "all"}


def _source(cfg) -> str:
    return Path(cfg["_config_path"]).name if cfg.get("_config_path") else "the run configuration"


def _closest(name, names) -> str:
    import difflib

    close = difflib.get_close_matches(str(name), list(names), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def select_notebooks(cfg: dict, notebook_dir=NOTEBOOK_DIR, only=None) -> list[Path]:
    """The notebooks a run executes, in order.

    Parameters
    ----------
    cfg : dict
        From :func:`load_config`; its ``notebooks:`` (default: all).
    notebook_dir : str or Path
    only : list of str, optional
        Notebook name prefixes.

    Returns
    -------
    list of Path

    Raises
    ------
    RunError
        An unknown notebook name (with the closest ones), or nothing to run.
    """
    available = list_notebooks(notebook_dir)
    wanted = cfg.get("notebooks")
    by_stem = {p.stem: p for p in available}
    if wanted:
        missing = [w for w in wanted if w not in by_stem]
        if missing:
            raise RunError("; ".join(f"notebook {w!r} named under 'notebooks' in {_source(cfg)} does not exist"
                                     f"{_closest(w, by_stem)}" for w in missing)
                           + f". The notebooks are: {', '.join(by_stem)}")
        notebooks = [by_stem[w] for w in wanted]
    else:
        notebooks = available
    if only:
        notebooks = [p for p in notebooks if any(p.name.startswith(str(o)) for o in only)]
    if not notebooks:
        raise RunError(f"no notebooks to run in {notebook_dir}" + (f" for --only {' '.join(only)}" if only else ""))
    return notebooks


def _check_type(name, value, default_src: str, source: str, notebook: str):
    """A value against the type of the notebook's default (its parameters cell)."""
    import ast

    try:
        default = ast.literal_eval(default_src)
    except (ValueError, SyntaxError):
        return  # a default that is an expression: nothing to compare with
    if default is None or value is None:
        return
    ok = True
    if isinstance(default, bool):
        ok, want = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, want = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(default, str) and name in NUMBER_OR_WORD:
        word = NUMBER_OR_WORD[name]
        ok = value == word or (isinstance(value, int) and not isinstance(value, bool))
        want = f"an integer or {word!r}"
    elif isinstance(default, str):
        ok, want = isinstance(value, (str, list)) if name == "inputs" else isinstance(value, str), "a string"
    elif isinstance(default, (list, tuple)):
        ok, want = isinstance(value, (list, tuple)), "a list"
    if not ok:
        raise RunError(f"{name} must be {want}, got {value!r} ({source}, notebook {notebook})")


def check_config(cfg: dict, notebooks) -> None:
    """Refuse a configuration that cannot run as meant, before anything runs.

    A key no notebook takes, a misspelt section or notebook name, or a value of the wrong type
    (against the notebooks' parameters cells and the settings classes); each message names the key,
    the configuration file and the closest valid names.

    Parameters
    ----------
    cfg : dict
    notebooks : list of Path
        The notebooks this run executes.

    Returns
    -------
    None

    Raises
    ------
    RunError
    """
    import papermill as pm

    source = _source(cfg)
    unknown = [k for k in cfg if k not in TOP_LEVEL_KEYS and not str(k).startswith("_")]
    if unknown:
        raise RunError("; ".join(f"unknown key {k!r} in {source}{_closest(k, TOP_LEVEL_KEYS)}" for k in unknown)
                       + f". A run configuration has: {', '.join(TOP_LEVEL_KEYS)}")
    for section in ("parameters", "notebook_parameters"):
        if not isinstance(cfg.get(section) or {}, dict):
            raise RunError(f"'{section}' in {source} must be a mapping of names to values")
    all_nbs = {p.stem: p for p in list_notebooks(Path(notebooks[0]).parent)} if notebooks else {}
    declared = {nb.stem: pm.inspect_notebook(str(nb)) for nb in all_nbs.values()}
    for nb_name, params in (cfg.get("notebook_parameters") or {}).items():
        if nb_name not in declared:
            raise RunError(f"notebook {nb_name!r} under 'notebook_parameters' in {source} does not exist"
                           f"{_closest(nb_name, declared)}. The notebooks are: {', '.join(declared)}")
        if not isinstance(params, dict):
            raise RunError(f"notebook_parameters.{nb_name} in {source} must be a mapping of names to values")
        for k in params:
            if k not in declared[nb_name] or k in RUNNER_PARAMETERS:
                why = "is set by the runner" if k in RUNNER_PARAMETERS else f"is not a parameter of {nb_name}"
                raise RunError(f"notebook_parameters.{nb_name}.{k} in {source} {why}"
                               f"{_closest(k, declared[nb_name])}")
    any_nb = set().union(*[set(d) for d in declared.values()]) if declared else set()
    for k in (cfg.get("parameters") or {}):
        if k not in any_nb or k in RUNNER_PARAMETERS:
            why = "is set by the runner" if k in RUNNER_PARAMETERS else "is not a parameter of any notebook"
            raise RunError(f"parameters.{k} in {source} {why}{_closest(k, any_nb)}")
    for nb in notebooks:
        params = {**(cfg.get("parameters") or {}), **(cfg.get("notebook_parameters") or {}).get(nb.stem, {})}
        params = {k: v for k, v in params.items() if k in declared[nb.stem]}
        for k, v in params.items():
            _check_type(k, v, declared[nb.stem][k]["default"], source, nb.name)
        for cls in (SSCParams, CNNParams):
            mine = {k: v for k, v in params.items() if k in cls.names()}
            if mine:
                try:
                    cls(**mine)
                except ValueError as exc:
                    raise RunError(f"{exc} ({source}, notebook {nb.name})") from None


def run_suite(config, *, experiment: str | None = None, only=None, overwrite: bool = False,
              extend: bool = False, notebook_dir=NOTEBOOK_DIR, kernel_name: str = "python3", progress: bool = True,
              log=print) -> Path:
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
    check_config(cfg, notebooks)   # every key and value, before any folder is made
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
        return _run(cfg, experiment, out, run_file, prev, notebooks, overwrite, extend, kernel_name,
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


def _moved(before: dict, out: Path) -> dict:
    """A finished notebook's recorded parameters as they read from the run folder's place now: a
    folder copied or moved elsewhere keeps its results, so its own path (and paths inside it) are
    not other parameters."""
    old = before.get("output_dir")
    if not old or old == str(out):
        return before
    moved = {}
    for k, v in before.items():
        if isinstance(v, str) and (v == old or v.startswith(old.rstrip("/") + "/")):
            v = str(out) + v[len(old.rstrip("/")):]
        moved[k] = v
    return moved


def notebook_warnings(path) -> list[str]:
    """The warnings an executed notebook showed (Python warnings, in its cells' stderr), each once.

    Parameters
    ----------
    path : str or Path
        An executed notebook.

    Returns
    -------
    list of str
        ``"CategoryWarning: message"``, in the order they first appear.
    """
    import re
    import warnings

    import nbformat
    from nbformat.warnings import MissingIDFieldWarning

    try:
        with warnings.catch_warnings():   # nbformat's own note on the file's format is not the notebook's
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


def _run(cfg, experiment, out, run_file, prev, notebooks, overwrite, extend, kernel_name, progress,
         log) -> Path:
    import warnings

    import papermill as pm
    from nbformat.warnings import MissingIDFieldWarning
    from papermill.exceptions import PapermillExecutionError

    record = {
        "experiment": experiment, "status": "running", "config": cfg.get("_config_path"),
        "started": _dt.datetime.now().isoformat(timespec="seconds"),
        "versions": package_versions(), "notebooks": [],
    }
    done = {}
    if prev and not overwrite:
        # a run folder resumes: notebooks that finished in it are kept, never run again
        done = {n["notebook"]: n for n in prev.get("notebooks", []) if n.get("status") == "finished"}
        record["notebooks"] = list(done.values())
        record["started"] = prev.get("started", record["started"])
        if prev.get("status") == "finished" or prev.get("was_finished"):
            record["was_finished"] = True  # a failed --extend keeps the finished run's protection
    write_json(run_file, record, indent=2)
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
                diff = [f"{k}: {before.get(k)!r} -> {params.get(k)!r}" for k in sorted(set(before) | set(params))
                        if before.get(k) != json.loads(json.dumps(params.get(k), default=str))]
                raise RunError(f"{nb.name} already finished in {out} with other parameters ({'; '.join(diff)}): "
                               "pass --overwrite to start the run again, or --experiment NAME for a new run")
            log(f"[{experiment}] {nb.name} already finished in this run folder: kept, not run again")
            continue
        dest = out / nb.name
        log(f"[{experiment}] running {nb.name} ...")
        t0 = time.perf_counter()
        entry = {"notebook": nb.name, "parameters": params}
        try:
            try:
                with warnings.catch_warnings():  # papermill's injected cell has no id: nbformat's note, not ours
                    warnings.filterwarnings("ignore", category=MissingIDFieldWarning)
                    pm.execute_notebook(str(nb), str(dest), parameters=params, kernel_name=kernel_name,
                                        cwd=str(nb.parent), progress_bar=progress, log_output=False)
            finally:   # what the notebook warned about reaches the console and run.log, not only the notebook
                for w in notebook_warnings(dest):
                    log(f"[{experiment}] {nb.name}: {w}")
        except PapermillExecutionError as exc:
            entry.update(status="failed", seconds=round(time.perf_counter() - t0, 1),
                         error=f"{exc.ename}: {exc.evalue}", cell=exc.exec_count)
            record["notebooks"].append(entry)
            record.update(status="failed", failed=nb.name)
            write_json(run_file, record, indent=2)
            raise RunError(
                f"{nb.name} failed in cell [{exc.exec_count}] (cell index {exc.cell_index}): "
                f"{exc.ename}: {exc.evalue}\nThe executed notebook with the error is kept at {dest}"
            ) from None
        entry.update(status="finished", seconds=round(time.perf_counter() - t0, 1))
        record["notebooks"].append(entry)
        write_json(run_file, record, indent=2)
        log(f"[{experiment}] {nb.name} finished in {entry['seconds']:.0f} s")
    record.update(status="finished", finished=_dt.datetime.now().isoformat(timespec="seconds"))
    record.pop("was_finished", None)
    order = {n: i for i, n in enumerate(p.name for p in list_notebooks(notebooks[0].parent))}
    record["notebooks"].sort(key=lambda n: order.get(n["notebook"], len(order)))
    write_json(run_file, record, indent=2)
    with open(out / "run_config.yml", "w") as fh:
        yaml.safe_dump({k: v for k, v in cfg.items() if not k.startswith("_")} | {"experiment": experiment},
                       fh, sort_keys=False)
    log(f"[{experiment}] done: {len(notebooks)} notebook(s), outputs in {out}")
    return out
