# The lab's two commands are `make lab` and `make test` (see README.md). Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
NB_BUILD := build/notebooks
PYTEST_ARGS ?=

.PHONY: setup browser-deps lab test test-unit test-notebooks test-browser demo bench strip clean

setup: $(STAMP)

# Re-runs only when the requirements change; a second `make setup` costs nothing.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

# Debian's Chromium for the real-browser tests (never a browser download); needs root or sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser-deps:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

# JupyterLab on notebooks/, on 127.0.0.1 only. Runs with the shipped results: no download needed.
lab: setup
	$(VENV)/bin/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=notebooks \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $(LAB_ARGS)

# The instructor's dashboard: Voila on 127.0.0.1, no code cells, booting from the shipped sweep.
demo: setup
	$(VENV)/bin/voila notebooks/08_instructor_dashboard.ipynb --Voila.ip=127.0.0.1 $(DEMO_ARGS)

# Unit tests, then every notebook parameterised into build/ by papermill (fast mode) and executed by nbval.
test: setup browser-deps
	$(PY) -m labkit.notebooks prepare --mode fast --out $(NB_BUILD)
	$(PY) -m pytest tests $(NB_BUILD) --nbval-lax --nbval-current-env -p no:cacheprovider $(PYTEST_ARGS)

test-unit: setup
	$(PY) -m pytest tests -m "not browser" $(PYTEST_ARGS)

test-notebooks: setup
	$(PY) -m labkit.notebooks prepare --mode fast --out $(NB_BUILD)
	$(PY) -m pytest $(NB_BUILD) --nbval-lax --nbval-current-env $(PYTEST_ARGS)

test-browser: setup browser-deps
	$(PY) -m pytest tests -m browser $(PYTEST_ARGS)

bench: setup
	$(PY) benchmarks/heads.py
	$(PY) benchmarks/decode.py
	$(PY) benchmarks/eval_speed.py --quick

# Remove outputs from every notebook before committing (a test fails on committed outputs).
strip: setup
	$(PY) -m labkit.notebooks strip notebooks

clean:
	rm -rf build .pytest_cache
