# Two commands set everything up on a fresh machine:
#   make bench   create the virtual environment, install, run the default scenario, print the report path
#   make test    the same setup, then the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := server/node_modules/.installed
SCENARIO ?= default
ARGS ?=

.PHONY: setup bench bench-quick test test-unit ci-bench clean help

help:
	@echo "make bench        run the default scenario (about 4 minutes) and print the report's path"
	@echo "make bench-quick  the short variant (under a minute)"
	@echo "make test         run the test suite (unit and integration)"
	@echo "make ci-bench     the smoke scenario (about 3 minutes) compared with results/baselines/smoke"
	@echo "make setup        only create .venv and install the Python and npm dependencies"
	@echo "SCENARIO=name ARGS='--quick' make bench  runs another scenario"

setup: $(PY_STAMP) $(NODE_STAMP)

$(PY_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(NODE_STAMP): server/package.json server/package-lock.json
	cd server && npm ci --no-audit --no-fund
	mkdir -p server/node_modules && touch $@

bench: setup
	$(BIN)/harness run $(SCENARIO) $(ARGS)

bench-quick: setup
	$(BIN)/harness run $(SCENARIO) --quick $(ARGS)

# The CI regression gate: exit 0 no regression, 1 regression, 2 untrustworthy measurement.
CI_BENCH_DIR ?= results/ci-bench
ci-bench: setup
	rm -rf $(CI_BENCH_DIR)/current
	$(BIN)/harness --results $(CI_BENCH_DIR) run smoke --run-id current --no-report $(ARGS)
	$(BIN)/harness --results results compare smoke $(CI_BENCH_DIR)/current \
		--markdown $(CI_BENCH_DIR)/summary.md --junit $(CI_BENCH_DIR)/junit.xml

test: setup
	$(BIN)/python -m pytest -q

test-unit: setup
	$(BIN)/python -m pytest -q -m "not integration"

clean:
	rm -rf $(VENV) server/node_modules .pytest_cache
