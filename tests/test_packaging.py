"""The two install routes (pip: pyproject.toml, conda: environment.yml) list the same packages."""

import re

import tomllib
import yaml

from conftest import REPO

ALIASES = {"pyyaml": "pyyaml", "pillow": "pillow"}


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    pp = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pip_names = {_name(d) for d in pp["dependencies"]} | {_name(d) for d in pp["optional-dependencies"]["test"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda_names = set()
    for d in env["dependencies"]:
        if isinstance(d, dict):
            conda_names |= {_name(x) for x in d["pip"] if not x.startswith("-e")}
        else:
            conda_names.add(_name(d))
    conda_names -= {"python", "pip"}
    assert pip_names == conda_names, (
        f"only in pyproject: {sorted(pip_names - conda_names)}; only in environment.yml: {sorted(conda_names - pip_names)}"
    )


def test_brief_dependencies_are_listed():
    pp = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {_name(d) for d in pp["dependencies"]}
    brief = {
        "jupyterlab",
        "papermill",
        "ipywidgets",
        "tensorflow",
        "scikit-learn",
        "imbalanced-learn",
        "scikit-image",
        "pandas",
        "seaborn",
        "matplotlib",
    }
    assert brief <= names


def test_top_level_layout():
    for p in [
        "notebooks",
        "sscnb",
        "tests",
        "environment.yml",
        "README.md",
        "sample_data",
        "outputs",
        "pyproject.toml",
        "Makefile",
        ".ci/run",
        "LICENSE",
        ".gitignore",
        "outputs/README.md",
    ]:
        assert (REPO / p).exists(), p
    ci = (REPO / ".ci/run").read_text()
    assert "make test" in ci
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme
    assert "make test" in readme
    assert "conda env create -f environment.yml" in readme
