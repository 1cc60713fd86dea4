# Two commands do all the set-up on a fresh machine (see README):
#   make demo   - create .venv, install sscnb, run the notebook suite on sample_data/
#   make test   - create .venv if needed, install the test extras, run ruff and pytest
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
CONFIG ?= configs/sample_data.yml

.PHONY: demo test install install-test clean-venv sample-data benchmark

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(PY) -m sscnb run --config $(CONFIG) $(DEMO_ARGS)

test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check sscnb tests benchmarks
	$(PY) -m pytest

sample-data: $(VENV)/.installed
	$(PY) -m sscnb make-sample-data --out sample_data --force

clean-venv:
	rm -rf $(VENV)
