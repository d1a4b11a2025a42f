# Two commands set everything up on a fresh machine:
#   make bench   create the virtual environment, install, run the default scenario, print the report path
#   make test    the same setup, then the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NB_STAMP := $(VENV)/.installed-notebooks
NODE_STAMP := server/node_modules/.installed
# the example apps of other people's frameworks (Express, Fastify): the preload tests run them
EXAMPLE_APPS := express-app fastify-app
EXAMPLE_STAMPS := $(foreach a,$(EXAMPLE_APPS),examples/$(a)/node_modules/.installed)
SCENARIO ?=
ARGS ?=

.PHONY: setup bench bench-quick demo selfcheck test test-unit test-busy lint format ci-bench ci-track bench-gate bench-chaos notebooks notebooks-strip clean help

help:
	@echo "make bench        the default set: default scenario, then each demo's quick variant (about 15 minutes)"
	@echo "make bench-quick  every scenario of the set in its quick variant (about 8 minutes)"
	@echo "make demo SCENARIO=scheduling  live: a scenario's server and Locust's web UI (Ctrl-C stops it)"
	@echo "make test         run the test suite (unit and integration), in 2 workers (TEST_WORKERS=0: one process)"
	@echo "make test-unit    the unit tests only (no server, no Locust), for the edit-run loop"
	@echo "make test-busy    the integration tests beside a process that keeps one core busy: nothing may fail"
	@echo "make lint         ruff: lint and formatting checks over the Python (make format rewrites the formatting)"
	@echo "make selfcheck    what the harness's own generator costs here: against plain Locust and wrk (about 8 minutes)"
	@echo "make notebooks    JupyterLab on notebooks/ (analysis and teaching notebooks), on 127.0.0.1"
	@echo "make notebooks-strip  remove outputs from notebooks/*.ipynb before committing (the tests check)"
	@echo "make ci-bench     the CI gate: the working tree's server against CI_AGAINST's (merge base or HEAD~1), A/B in one run (about 4 minutes)"
	@echo "make ci-track     the smoke scenario against the stored baseline results/baselines/smoke (tracking over time)"
	@echo "make bench-gate   how good the gate is here: A/B runs of unchanged and of slower code (about 85 minutes)"
	@echo "make bench-chaos  containment: 30 runs hit by random signals, nothing may be left behind (about 10 minutes)"
	@echo "make setup        only create .venv and install the Python and npm dependencies"
	@echo "SCENARIO=name ARGS='--quick' make bench  runs another scenario"

setup: $(PY_STAMP) $(NODE_STAMP) $(EXAMPLE_STAMPS)

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

examples/%/node_modules/.installed: examples/%/package.json examples/%/package-lock.json
	cd examples/$* && npm ci --no-audit --no-fund
	mkdir -p examples/$*/node_modules && touch $@

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

# The CI regression gate (README, "The CI gate"): the working tree's server against REF's,
# side by side in one run (harness run ci --against REF). REF: CI_AGAINST, by default the
# merge base with origin/main, or HEAD~1 when that is HEAD itself (a build of main).
# Exit codes (harness's, shown in make's "Error N" line): 0 no regression, 4 regression,
# 5 inconclusive, 6 not trustworthy, 7 not everything compared.
CI_BENCH_DIR ?= results/ci-bench
CI_AGAINST ?= $(shell base=$$(git merge-base HEAD origin/main 2>/dev/null); \
	if [ -n "$$base" ] && [ "$$base" != "$$(git rev-parse HEAD 2>/dev/null)" ]; then echo $$base; else echo HEAD~1; fi)
STAMP := $(shell date +%Y%m%d-%H%M%S)
ci-bench: setup
	mkdir -p $(CI_BENCH_DIR)
	$(BIN)/harness --results $(CI_BENCH_DIR) run ci --against $(CI_AGAINST) --run-id ab-$(STAMP) \
		--markdown $(CI_BENCH_DIR)/summary.md --junit $(CI_BENCH_DIR)/junit.xml $(ARGS)

# Tracking over time: the smoke scenario against the stored baseline results/baselines/smoke
# (two runs, perhaps on two days: only a change beyond the runs' own noise is firm).
ci-track: setup
	mkdir -p $(CI_BENCH_DIR)
	$(BIN)/harness --results $(CI_BENCH_DIR) run smoke --run-id track-$(STAMP) --no-report $(ARGS)
	$(BIN)/harness --results results compare smoke $(CI_BENCH_DIR)/track-$(STAMP) \
		--markdown $(CI_BENCH_DIR)/track-summary.md --junit $(CI_BENCH_DIR)/track-junit.xml

# How good the gate is on this machine: 10 A/B runs of unchanged code (false alarms) and 10
# with /cpu made 20 % more expensive (catches), about 85 minutes; README's "How good the gate is here".
bench-gate: setup
	$(BIN)/python tests/benchmarks/gate_benchmark.py $(ARGS)

# The notebooks read the committed recorded runs (tests/fixtures/) unless told otherwise;
# a cell that starts load runs only with RUN_LIVE = True (needs the npm packages, hence setup).
# (as root, e.g. in a container, Jupyter refuses to start without --allow-root)
notebooks: setup $(NB_STAMP)
	cd notebooks && ../$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root) $(ARGS)

notebooks-strip: setup
	$(BIN)/python notebooks/strip_outputs.py notebooks/*.ipynb

# What the harness's own generator and sampler cost here (docs/harness-cost.md), about 3 minutes
selfcheck: setup
	$(BIN)/harness selfcheck $(ARGS)

# The suite in TEST_WORKERS processes side by side (pytest-xdist, from the test extra): most of
# an integration test's wall time is waiting (a server starting, Locust's fixed run time, a
# signal's effect), which two workers overlap even on 2 cores. One test at a time to whichever
# worker is free (--maxschedchunk 1), the longest first (tests/conftest.py, LONGEST_FIRST), so
# neither worker idles at the end. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
PYTEST_PARALLEL := $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist load --maxschedchunk 1,-p no:xdist)

test: setup
	$(BIN)/python -m pytest -q -rs $(PYTEST_PARALLEL) $(ARGS)

test-unit: setup
	$(BIN)/python -m pytest -q -m "not integration and not slow" $(ARGS)

# The integration tests beside a busy loop that keeps one core busy (tests/conftest.py,
# HARNESS_TEST_BUSY), in as many workers as make test: nothing may fail; tests that need a
# quiet machine are skipped, listed by -rs.
test-busy: setup
	HARNESS_TEST_BUSY=1 $(BIN)/python -m pytest -q -rs $(PYTEST_PARALLEL) -m integration $(ARGS)

# ruff, configured in pyproject.toml ([tool.ruff]); CI runs make lint before make test
LINTED := harness tests scenarios notebooks setup.py
lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

format: setup
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/ruff format $(LINTED)

clean:
	rm -rf $(VENV) server/node_modules $(foreach a,$(EXAMPLE_APPS),examples/$(a)/node_modules) .pytest_cache

# Containment (docs/containment.md): 30 runs across the modes, each hit by a random signal at a
# random moment; nothing the harness started may be alive 5 s later, every record whole (about 10 minutes)
bench-chaos: setup
	$(BIN)/python tests/benchmarks/chaos_benchmark.py $(ARGS)
