# Two commands do all the set-up on a fresh machine (see README):
#   make demo     - create .venv, install sscnb, run the notebook suite on sample_data/
#   make test     - create .venv if needed, install the test extras, run ruff (lint and format), mypy and
#                   the fast tests: every test not marked slow, browser or e2e, each within 10 s
#   make test-all - the same checks and every test, with sscnb's line coverage (what CI runs)
#   make docs     - the documentation site from the notebooks of make demo's run
#   make qgis-plugin - the QGIS plugin's zip (docs/qgis.md), running this repository's .venv
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
CONFIG ?= configs/sample_data.yml
# run again, make demo keeps the finished notebooks and runs only what is missing (an interrupted
# demo resumes); DEMO_ARGS=--overwrite starts it afresh
DEMO_ARGS ?= --extend
# make test runs on two pytest-xdist workers, make test-all on three: its notebook kernels, servers and
# Dask workers leave the two cores idle part of the time (TEST_WORKERS= / TEST_ALL_WORKERS= run the
# tests in this process)
TEST_WORKERS ?= -n 2
TEST_ALL_WORKERS ?= -n 3

.PHONY: demo test test-all lint install install-test clean-venv sample-data benchmark river-model docs qgis-plugin

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; (3, 10) <= v <= (3, 12) or sys.exit("sscnb needs Python 3.10-3.12; $(PYTHON) is %d.%d: run make PYTHON=python3.12 (or 3.10, 3.11)" % v)'
	$(PYTHON) -m venv $(VENV) || { echo "could not create $(VENV): install Python's venv module (Debian/Ubuntu: sudo apt install python3-venv)"; exit 1; }
	@echo "installing sscnb and its dependencies into $(VENV): pip is silent for about 2 minutes (longer on a first TensorFlow download)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	@echo "installing the test tools into $(VENV) (about a minute)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(PY) -m sscnb run --config $(CONFIG) $(DEMO_ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check sscnb tests benchmarks docs/conf.py docs/_ext qgis
	$(VENV)/bin/ruff format --check sscnb tests benchmarks docs/conf.py docs/_ext qgis
	$(VENV)/bin/mypy

# PYTEST_ARGS passes more to pytest, e.g. make test PYTEST_ARGS="tests/test_ssc.py -x"
test: lint
	$(PY) -m pytest -m "not slow and not browser and not e2e" $(TEST_WORKERS) --durations=15 --max-test-seconds=10 $(PYTEST_ARGS)

# whole files to a worker (--dist loadfile: a module's shared fixtures are built once), in the order
# tests/conftest.py gives them (--no-loadscope-reorder): the longest files first; --cpu-profile: each
# test's CPU, its child processes' included, in outputs/test_cpu/cpu_by_test.csv (docs/testing.md)
test-all: lint
	$(PY) -m pytest $(TEST_ALL_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15 --cpu-profile outputs/test_cpu --cov=sscnb --cov-report=term:skip-covered $(PYTEST_ARGS)

# the documentation site, docs/_build/html/index.html (open it from the file system), with the notebooks as
# make demo ran them (SSCNB_DOCS_RUN=outputs/OTHER for another finished run); -W: a warning fails the build
docs: $(VENV)/.installed-test
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "the site: docs/_build/html/index.html"

# the zip that QGIS's Plugins > Install from ZIP takes: outputs/qgis/sscnb_qgis.zip, whose plugin runs the
# sscnb command of this repository's .venv (docs/qgis.md)
qgis-plugin: $(VENV)/.installed
	$(PY) qgis/build_plugin.py --command $(abspath $(VENV))/bin/sscnb

sample-data: $(VENV)/.installed
	$(PY) -m sscnb make-sample-data --out sample_data --force

# the model shipped with sscnb (sscnb/models/rivers*), from ../shared/data; about 6 minutes on 2 cores.
# benchmarks/river_model_benchmark.py first gives its card the leave-one-out scores.
river-model: $(VENV)/.installed
	$(PY) benchmarks/build_river_model.py --overwrite

clean-venv:
	rm -rf $(VENV)
