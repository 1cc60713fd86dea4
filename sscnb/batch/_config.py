"""The run YAML of ``sscnb run``.

Loaded, its paths made absolute, and every key and value checked against the notebooks' parameters before any
folder is made; and which notebooks a run takes.
"""

from __future__ import annotations

import ast
import difflib
import re
from importlib.util import find_spec
from pathlib import Path

import yaml

from sscnb.cnn._bundled import BUNDLED_MODELS
from sscnb.cnn._model import CNNParams
from sscnb.errors import RunError
from sscnb.params import SSCParams

__all__ = ["RunError", "NOTEBOOK_DIR", "PATH_PARAMETERS", "list_notebooks", "load_config", "select_notebooks", "check_config"]


def _notebook_dir() -> Path:
    """Return the numbered notebooks.

    ``notebooks/`` of the repository (a source checkout or an editable install) or, after ``pip install .``,
    the copy inside the package (``sscnb/notebooks``).
    """
    repo = Path(__file__).resolve().parents[2] / "notebooks"
    if repo.is_dir() and any(repo.glob("[0-9][0-9]_*.ipynb")):
        return repo
    spec = find_spec("sscnb.notebooks")  # package data: a folder of notebooks, no Python in it
    if spec is not None and spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return repo


NOTEBOOK_DIR = _notebook_dir()

_NB_RE = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")

PATH_PARAMETERS = ("data_dir", "validate_dir", "output_dir", "model_path", "class_csv", "results_dir", "inputs")


def list_notebooks(folder: str | Path = NOTEBOOK_DIR) -> list[Path]:
    """Return the numbered notebooks ``NN_name.ipynb`` of a folder, in order.

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    list of Path
    """
    return sorted(p for p in Path(folder).glob("*.ipynb") if _NB_RE.match(p.name))


def load_config(path: str | Path) -> dict:
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
    _check_mappings(cfg, path.name)

    def absolutise(params):
        params = dict(params or {})
        for k, v in params.items():
            if k == "model_path" and v in BUNDLED_MODELS and not (base / v).exists():
                continue  # the name of a model shipped with sscnb ("rivers"), not a path
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


def _check_mappings(cfg: dict, source: str) -> None:
    """Refuse, naming the key, a ``parameters`` or ``notebook_parameters`` section (or one notebook's) that is no mapping."""
    for section in ("parameters", "notebook_parameters"):
        value = cfg.get(section) or {}
        if not isinstance(value, dict):
            raise RunError(
                f"'{section}' in {source} must be a mapping of names to values (one 'name: value' per line, indented "
                f"under it), got {type(value).__name__} {value!r}"
            )
    for nb_name, params in (cfg.get("notebook_parameters") or {}).items():
        if not isinstance(params or {}, dict):
            raise RunError(
                f"notebook_parameters.{nb_name} in {source} must be a mapping of names to values, "
                f"got {type(params).__name__} {params!r}"
            )


TOP_LEVEL_KEYS = ("experiment", "output_root", "notebooks", "parameters", "notebook_parameters")

RUNNER_PARAMETERS = ("output_dir", "experiment")  # set by the runner for every notebook

NUMBER_OR_WORD = {"epochs": "auto", "trainable_layers": "all"}


def _source(cfg) -> str:
    return Path(cfg["_config_path"]).name if cfg.get("_config_path") else "the run configuration"


def _closest(name, names) -> str:
    close = difflib.get_close_matches(str(name), list(names), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def select_notebooks(cfg: dict, notebook_dir: str | Path = NOTEBOOK_DIR, only: list[str] | None = None) -> list[Path]:
    """Return the notebooks a run executes, in order.

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
            raise RunError(
                "; ".join(
                    f"notebook {w!r} named under 'notebooks' in {_source(cfg)} does not exist{_closest(w, by_stem)}"
                    for w in missing
                )
                + f". The notebooks are: {', '.join(by_stem)}"
            )
        notebooks = [by_stem[w] for w in wanted]
    else:
        notebooks = available
    if only:
        notebooks = [p for p in notebooks if any(p.name.startswith(str(o)) for o in only)]
    if not notebooks:
        raise RunError(f"no notebooks to run in {notebook_dir}" + (f" for --only {' '.join(only)}" if only else ""))
    return notebooks


def _check_type(name, value, default_src: str, source: str, notebook: str):
    """Return a value against the type of the notebook's default (its parameters cell)."""
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


def check_config(cfg: dict, notebooks: list[Path]) -> None:
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
        raise RunError(
            "; ".join(f"unknown key {k!r} in {source}{_closest(k, TOP_LEVEL_KEYS)}" for k in unknown)
            + f". A run configuration has: {', '.join(TOP_LEVEL_KEYS)}"
        )
    _check_mappings(cfg, source)
    all_nbs = {p.stem: p for p in list_notebooks(Path(notebooks[0]).parent)} if notebooks else {}
    declared = {nb.stem: pm.inspect_notebook(str(nb)) for nb in all_nbs.values()}
    for nb_name, params in (cfg.get("notebook_parameters") or {}).items():
        if nb_name not in declared:
            raise RunError(
                f"notebook {nb_name!r} under 'notebook_parameters' in {source} does not exist"
                f"{_closest(nb_name, declared)}. The notebooks are: {', '.join(declared)}"
            )
        for k in params or {}:
            if k not in declared[nb_name] or k in RUNNER_PARAMETERS:
                why = "is set by the runner" if k in RUNNER_PARAMETERS else f"is not a parameter of {nb_name}"
                raise RunError(f"notebook_parameters.{nb_name}.{k} in {source} {why}{_closest(k, declared[nb_name])}")
    any_nb = set().union(*[set(d) for d in declared.values()]) if declared else set()
    for k in cfg.get("parameters") or {}:
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
