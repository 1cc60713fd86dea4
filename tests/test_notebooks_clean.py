"""Notebooks are stored clean and follow the suite's conventions."""

import json
import re

import pytest

from conftest import REPO
from sscnb.batch._runner import list_notebooks

NOTEBOOKS = list_notebooks(REPO / "notebooks")


def test_there_are_numbered_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS][:1] == ["00"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs: strip them"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_first_and_complete(path):
    import papermill as pm

    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", []), "first code cell must be tagged parameters"
    params = pm.inspect_notebook(str(path))
    for p in ("data_dir", "output_dir", "experiment"):
        if p == "data_dir" and path.name.startswith(("04", "05", "08")):
            continue
        assert p in params, f"{path.name} must take a {p} parameter"
    # no other cell hard-codes a path
    for c in code[1:]:
        src = "".join(c["source"])
        assert not re.search(r"[\"'](\.\./|/)[\w/]", src), f"{path.name}: hard-coded path in {src[:80]!r}"
    # opens with a title and ends with a summary
    assert nb["cells"][0]["cell_type"] == "markdown"
    assert "".join(nb["cells"][0]["source"]).startswith("# ")
    assert "Summary" in "".join(nb["cells"][-1]["source"])


@pytest.mark.parametrize(
    ("name", "settings", "at_least"),
    [
        ("03_ssc_evaluation.ipynb", "sscnb.params.SSCParams", 10),
        ("05_map_survey.ipynb", "sscnb.params.SSCParams", 10),
        ("06_explore.ipynb", "sscnb.params.SSCParams", 6),
        ("01_cnn_tuning.ipynb", "sscnb.cnn.CNNParams", 10),
        ("02_cnn_training.ipynb", "sscnb.cnn.CNNParams", 10),
    ],
)
def test_parameters_have_the_settings_defaults(name, settings, at_least):
    """One default per setting: the notebooks' parameters cells repeat the settings class's defaults."""
    import dataclasses
    import importlib

    import papermill as pm

    module, cls = settings.rsplit(".", 1)
    settings_cls = getattr(importlib.import_module(module), cls)
    params = pm.inspect_notebook(str(REPO / "notebooks" / name))
    defaults = {f.name: f.default for f in dataclasses.fields(settings_cls)}
    shared = [k for k in params if k in defaults]
    assert len(shared) >= at_least, f"{name} shares {shared} with {cls}"
    for k in shared:
        assert eval(params[k]["default"]) == defaults[k], f"{name}: {k} = {params[k]['default']}, {cls}: {defaults[k]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_overview_says_how_long_it_takes(path):
    """Each notebook's overview (its first cell) states its measured run time on 2 CPU cores."""
    overview = "".join(json.loads(path.read_text())["cells"][0]["source"])
    assert re.search(r"\*\*Time on 2 CPU cores:\*\* \d+ s ", overview), f"{path.name}: add the run time to the overview"
