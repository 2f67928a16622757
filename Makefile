# The lab's two commands are `make lab` and `make test` (see README.md). Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-stamp
NB_BUILD := build/notebooks
PYTEST_ARGS ?=

# Hermetic test runs: every cache and runtime folder the tests touch lives in build/hermetic (removed at the start
# of each run), and HOME points at an empty folder that must still be empty when the tests end (tests/conftest.py
# fails the session otherwise). A green run therefore means green on a new machine, whatever ~/.cache holds.
HERMETIC := $(CURDIR)/build/hermetic
TEST_ENV := HOME=$(HERMETIC)/home LABKIT_CACHE=$(HERMETIC)/cache/labkit XDG_CACHE_HOME=$(HERMETIC)/cache \
	XDG_CONFIG_HOME=$(HERMETIC)/config XDG_DATA_HOME=$(HERMETIC)/share MPLCONFIGDIR=$(HERMETIC)/matplotlib \
	IPYTHONDIR=$(HERMETIC)/ipython JUPYTER_CONFIG_DIR=$(HERMETIC)/jupyter/config \
	JUPYTER_DATA_DIR=$(HERMETIC)/jupyter/data JUPYTER_RUNTIME_DIR=$(HERMETIC)/jupyter/runtime \
	JUPYTER_PLATFORM_DIRS=1 TORCHINDUCTOR_CACHE_DIR=$(HERMETIC)/cache/torchinductor \
	NPM_CONFIG_CACHE=$(HERMETIC)/cache/npm TMPDIR=$(HERMETIC)/tmp LABKIT_HOME_MUST_STAY_EMPTY=1
FRESH := rm -rf $(HERMETIC) && mkdir -p $(HERMETIC)/home $(HERMETIC)/tmp

.PHONY: setup browser-deps lab test test-unit test-notebooks test-browser demo bench strip clean

setup: $(STAMP)

# Re-runs only when the requirements change; a second `make setup` costs nothing.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	# MTCNN's trained weights (pnet/rnet/onet.pt, MIT) ride in this wheel; the lab runs its own MTCNN code on them.
	# --no-deps: the package pins torch<2.3 and numpy<2, and labkit never imports it (it imports torchvision,
	# which cannot load beside the CPU torch here); labkit.faces finds the files through importlib's spec only.
	$(PY) -m pip install -q --disable-pip-version-check --no-deps facenet-pytorch==2.6.0
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
	@$(FRESH)
	$(TEST_ENV) $(PY) -m labkit.notebooks prepare --mode fast --out $(NB_BUILD)
	$(TEST_ENV) $(PY) -m pytest tests $(NB_BUILD) --nbval-lax --nbval-current-env -p no:cacheprovider $(PYTEST_ARGS)

test-unit: setup
	@$(FRESH)
	$(TEST_ENV) $(PY) -m pytest tests -m "not browser" -p no:cacheprovider $(PYTEST_ARGS)

test-notebooks: setup
	@$(FRESH)
	$(TEST_ENV) $(PY) -m labkit.notebooks prepare --mode fast --out $(NB_BUILD)
	$(TEST_ENV) $(PY) -m pytest $(NB_BUILD) --nbval-lax --nbval-current-env -p no:cacheprovider $(PYTEST_ARGS)

test-browser: setup browser-deps
	@$(FRESH)
	$(TEST_ENV) $(PY) -m pytest tests -m browser -p no:cacheprovider $(PYTEST_ARGS)

bench: setup
	$(PY) benchmarks/heads.py
	$(PY) benchmarks/decode.py
	$(PY) benchmarks/eval_speed.py --quick

# Remove outputs from every notebook before committing (a test fails on committed outputs).
strip: setup
	$(PY) -m labkit.notebooks strip notebooks

clean:
	rm -rf build .pytest_cache
