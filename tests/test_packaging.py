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


def test_the_readme_links_resolve():
    """The README is a front page of links into docs/: each relative link names a file of the repository, and
    each #anchor a heading of that page (as GitHub and MyST slug them).
    """
    import re

    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150  # a front page (issue 40); the guides are in docs/
    broken = []
    for m in re.finditer(r"\]\(([^)#\s]+)(?:#([^)\s]+))?\)", readme):
        path, anchor = m.group(1), m.group(2)
        if path.startswith(("http://", "https://")):
            continue
        target = REPO / path
        if not target.exists():
            broken.append(path)
        elif anchor:
            slugs = {
                re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.*)$", target.read_text(), re.M)
            }
            if anchor not in slugs:
                broken.append(f"{path}#{anchor}")
    assert broken == []
