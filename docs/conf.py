"""Sphinx configuration of sscnb's documentation site (``make docs``).

The site is built from this repository alone, without the internet:

* the pages are the Markdown files of ``docs/`` (MyST);
* the notebooks are shown **with the outputs of a finished run** (``make demo`` writes
  ``outputs/sample_demo``; ``SSCNB_DOCS_RUN`` names another run folder). They are copied into
  ``docs/notebooks/`` when the build starts and never executed by it; the notebooks' index page says
  which run they come from;
* the API reference (``docs/api/``) is written when the build starts from each module's ``__all__``
  (``docs/_ext/docsite.py``), grouped by concept, so that it cannot go stale.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE / "_ext"))

import docsite  # noqa: E402

import sscnb  # noqa: E402

project = "sscnb"
author = "the sscnb developers"
copyright = "sscnb developers; method: Carbonneau et al. 2020"  # noqa: A001
version = release = sscnb.__version__

run = Path(os.environ.get("SSCNB_DOCS_RUN") or ROOT / "outputs" / "sample_demo")
docsite.copy_run_notebooks(run, HERE / "notebooks")
docsite.write_api_pages(HERE / "api")

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_ext", "**.ipynb_checkpoints"]
root_doc = "index"

# the notebooks keep the outputs of the run they were copied from: never executed here
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

autosummary_generate = False  # docsite writes the pages; autosummary only draws their tables
autodoc_default_options = {"members": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = f"sscnb {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 4,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
