# Two commands set everything up on a fresh machine:
#   make bench   create the virtual environment, install, run the default scenario, print the report path
#   make test    the same setup, then the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NB_STAMP := $(VENV)/.installed-notebooks
NODE_STAMP := server/node_modules/.installed
SCENARIO ?=
ARGS ?=

.PHONY: setup bench bench-quick demo test test-unit ci-bench notebooks notebooks-strip clean help

help:
	@echo "make bench        the default set: default scenario, then each demo's quick variant (about 12 minutes)"
	@echo "make bench-quick  every scenario of the set in its quick variant (about 8 minutes)"
	@echo "make demo SCENARIO=scheduling  live: a scenario's server and Locust's web UI (Ctrl-C stops it)"
	@echo "make test         run the test suite (unit and integration)"
	@echo "make notebooks    JupyterLab on notebooks/ (analysis and teaching notebooks), on 127.0.0.1"
	@echo "make notebooks-strip  remove outputs from notebooks/*.ipynb before committing (the tests check)"
	@echo "make ci-bench     the smoke scenario (about 3 minutes) compared with results/baselines/smoke"
	@echo "make setup        only create .venv and install the Python and npm dependencies"
	@echo "SCENARIO=name ARGS='--quick' make bench  runs another scenario"

setup: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# JupyterLab and nbconvert on top of the test extra (which already runs the notebooks)
$(NB_STAMP): $(PY_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,notebooks]'
	touch $@

$(NODE_STAMP): server/package.json server/package-lock.json
	cd server && npm ci --no-audit --no-fund
	mkdir -p server/node_modules && touch $@

bench: setup
ifeq ($(SCENARIO),)
	$(BIN)/harness bench $(ARGS)
else
	$(BIN)/harness run $(SCENARIO) $(ARGS)
endif

bench-quick: setup
ifeq ($(SCENARIO),)
	$(BIN)/harness bench --quick $(ARGS)
else
	$(BIN)/harness run $(SCENARIO) --quick $(ARGS)
endif

demo: setup
	$(BIN)/harness demo $(or $(SCENARIO),scheduling) $(ARGS)

# The CI regression gate: exit 0 no regression, 1 regression, 2 untrustworthy measurement.
CI_BENCH_DIR ?= results/ci-bench
ci-bench: setup
	rm -rf $(CI_BENCH_DIR)/current
	$(BIN)/harness --results $(CI_BENCH_DIR) run smoke --run-id current --no-report $(ARGS)
	$(BIN)/harness --results results compare smoke $(CI_BENCH_DIR)/current \
		--markdown $(CI_BENCH_DIR)/summary.md --junit $(CI_BENCH_DIR)/junit.xml

# The notebooks read the committed recorded runs (tests/fixtures/) unless told otherwise;
# a cell that starts load runs only with RUN_LIVE = True (needs the npm packages, hence setup).
# (as root, e.g. in a container, Jupyter refuses to start without --allow-root)
notebooks: setup $(NB_STAMP)
	cd notebooks && ../$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root) $(ARGS)

notebooks-strip: setup
	$(BIN)/python notebooks/strip_outputs.py notebooks/*.ipynb

test: setup
	$(BIN)/python -m pytest -q

test-unit: setup
	$(BIN)/python -m pytest -q -m "not integration"

clean:
	rm -rf $(VENV) server/node_modules .pytest_cache
