"""What the documentation build writes before Sphinx reads the pages (called from ``docs/conf.py``).

* :func:`copy_run_notebooks`: the executed notebooks of one finished run, with a page saying which run.
* :func:`write_api_pages`: one API page per concept, every name of every public module's ``__all__``.

Both write only into folders the build owns (``docs/notebooks/``, ``docs/api/``; ignored by git), so a
build never shows a stale page.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import shutil
from pathlib import Path

#: the API reference's pages: a concept, what it is for, and its modules (every public module once)
GROUPS = {
    "data": ("Data, classes and tiles", "Image and label pairs, georeferenced rasters, classes, tiles, the sample data.", [
        "data", "synthetic",
    ]),
    "cnn": ("The CNN (phase 1)", "Backbones, training, prediction of tiles, models on disk and the shipped models.", [
        "cnn",
    ]),
    "phase2": ("One image: phase 1 and phase 2", "The per-image pipeline, phase 2's features, classifiers and self-check.", [
        "ssc", "pipeline", "params", "phase2", "imageresult", "settings",
    ]),
    "maps": ("Maps of surveys", "Orthomosaics and frames of any size to COGs, areas and polygons.", ["maps"]),
    "adaptation": ("A new river", "Tile labels, the labellers, fine-tuning a model, and checking that it helped.", [
        "labels", "adapt",
    ]),
    "assessment": ("Accuracy and areas", "Scores of labelled images, and areas with confidence intervals from a sample.", [
        "assess", "report",
    ]),
    "batches": ("Batches and runs", "Folders of images, Dask clusters, the notebook runner and the command line.", [
        "evaluation", "results", "batch", "layout", "provenance", "cli",
    ]),
    "widgets": ("Figures and widgets", "The notebooks' figures and the JupyterLab widgets.", ["plots", "explore"]),
    "errors": ("Errors and warnings", "Every error and warning sscnb raises on purpose, in one catalogue.", ["errors"]),
}  # fmt: skip


class DocsError(Exception):
    """The site cannot be built as asked: the message says what to do."""


#: packages of sscnb that hold files, not code (the notebooks, the shipped models)
DATA_PACKAGES = ("notebooks", "models")


def public_modules() -> list[str]:
    """Return the names of sscnb's public modules (not starting with ``_``, not a package of data files)."""
    import sscnb

    found = (m.name.split(".", 1)[1] for m in pkgutil.walk_packages(sscnb.__path__, "sscnb."))
    return sorted(n for n in found if not n.rsplit(".", 1)[-1].startswith("_") and n not in DATA_PACKAGES)


def _check_groups() -> None:
    listed = [m for _, _, mods in GROUPS.values() for m in mods]
    missing = sorted(set(public_modules()) - set(listed))
    if missing:
        raise DocsError(f"modules {missing} are in no group of the API reference: add each to GROUPS in {__file__}")
    unknown = sorted(set(listed) - set(public_modules()))
    if unknown:
        raise DocsError(f"GROUPS in {__file__} names modules that do not exist: {unknown}")


def _kind(obj) -> str:
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    return "function" if callable(obj) else "data"


def module_names(module: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Return a module's ``__all__`` as ``(defined here, re-exported)``: ``(name, kind)`` and ``(name, home module)``."""
    mod = importlib.import_module(f"sscnb.{module}")
    own, elsewhere = [], []
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        home = getattr(obj, "__module__", None) if _kind(obj) != "data" else None
        if home:  # a subpackage's private module (sscnb.maps._raster): the name's page is the subpackage's
            home = ".".join(p for p in home.split(".") if not p.startswith("_"))
        exported = home and home.startswith("sscnb.") and name in getattr(importlib.import_module(home), "__all__", [])
        if exported and home != mod.__name__:
            elsewhere.append((name, home))
        else:
            own.append((name, _kind(obj)))
    return own, elsewhere


def _module_section(module: str) -> str:
    full = f"sscnb.{module}"
    own, elsewhere = module_names(module)
    lines = [full, "-" * len(full), "", f".. automodule:: {full}", "   :no-members:", ""]
    if own:
        lines += [".. autosummary::", ""] + [f"   {n}" for n, _ in own] + [""]
    if elsewhere:
        refs = ", ".join(f":py:obj:`{n} <{home}.{n}>`" for n, home in elsewhere)
        lines += [f"Also importable from here: {refs}.", ""]
    directive = {"function": "autofunction", "class": "autoclass", "exception": "autoexception", "data": "autodata"}
    for n, kind in own:
        lines += [f".. {directive[kind]}:: {full}.{n}"]
        if kind in ("class", "exception"):
            lines += ["   :members:", "   :no-inherited-members:"]
        if kind == "data":
            lines += ["   :no-value:"]
        lines += [""]
    return "\n".join(lines)


def write_api_pages(dest: Path) -> list[Path]:
    """Write ``dest/index.rst`` and one page per concept of :data:`GROUPS`; return the pages.

    Raises
    ------
    DocsError
        A public module is in no group, or a group names a module that does not exist.
    """
    _check_groups()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    pages = []
    for slug, (title, what, modules) in GROUPS.items():
        text = [title, "=" * len(title), "", what, ""] + [_module_section(m) for m in modules]
        page = dest / f"{slug}.rst"
        page.write_text("\n".join(text) + "\n")
        pages.append(page)
    toc = "\n".join(f"   {p.stem}" for p in pages)
    (dest / "index.rst").write_text(
        "API reference\n=============\n\nEvery public name of every module, grouped by concept. The notebooks call these; "
        "a notebook's cells show how.\n\n.. toctree::\n   :maxdepth: 2\n\n" + toc + "\n"
    )
    return pages


def copy_run_notebooks(run: Path, dest: Path) -> list[Path]:
    """Copy the executed notebooks of a finished run into ``dest``, with an index page naming the run.

    Parameters
    ----------
    run : Path
        A run folder of ``sscnb run`` (``make demo``: ``outputs/sample_demo``), with its ``run.json``.
    dest : Path
        Emptied first.

    Raises
    ------
    DocsError
        No finished run there.
    """
    info = run / "run.json"
    if not info.is_file():
        raise DocsError(
            f"no run at {run} (its run.json is missing): the site shows the notebooks with the outputs of a finished run. "
            "Run `make demo` first, or set SSCNB_DOCS_RUN to the folder of another finished run"
        )
    meta = json.loads(info.read_text())
    if meta.get("status") != "finished":
        raise DocsError(f"the run at {run} is {meta.get('status')!r}, not finished: run it to the end (`make demo`) first")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    copied = []
    for entry in meta.get("notebooks", []):
        src = run / entry["notebook"]
        if not src.is_file():
            raise DocsError(f"{src} is listed in {info} but missing: run the suite again (`make demo DEMO_ARGS=--overwrite`)")
        shutil.copy2(src, dest / src.name)
        copied.append(dest / src.name)
    versions = meta.get("versions", {})
    toc = "\n".join(p.stem for p in copied)
    (dest / "index.md").write_text(
        "# The notebooks, as run\n\n"
        f"Each notebook as `sscnb run` executed it, with its outputs: experiment `{meta.get('experiment')}`, started "
        f"{meta.get('started')}, with sscnb {versions.get('sscnb')} (TensorFlow {versions.get('tensorflow')}, "
        f"Keras {versions.get('keras')}), from `{Path(str(meta.get('config'))).name}`. The site does not execute them: "
        "rebuild it after `make demo` to show another run.\n\n"
        f"```{{toctree}}\n:maxdepth: 1\n\n{toc}\n```\n"
    )
    return copied
