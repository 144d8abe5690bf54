# The two entry points: `make run` serves the API, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
LINT_DIRS := $(wildcard src tests scripts bench)

.PHONY: run test lint typecheck pytest clean bench bench-gateway bench-soak screenshots vendor-assets

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(STAMP)

run: $(STAMP)
	$(BIN)/modelreg migrate
	$(BIN)/modelreg bootstrap
	$(BIN)/modelreg serve

lint: $(DEV_STAMP)
	$(BIN)/ruff check $(LINT_DIRS)
	$(BIN)/ruff format --check $(LINT_DIRS)

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

# Two workers (one per core), each with its own PostgreSQL server and SQLite file; a module's tests stay together,
# modules handed out in the order tests/conftest.py sorts them (slow ones first: SLOW_FIRST).
pytest: $(DEV_STAMP)
	$(BIN)/pytest -n 2 --dist loadscope --no-loadscope-reorder

test: lint typecheck pytest

bench: $(DEV_STAMP)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.gateway
	$(BIN)/python -m bench.workers
	$(BIN)/python -m bench.writes
	$(BIN)/python -m bench.writes --postgres --only m
	$(BIN)/python -m bench.large_org

bench-gateway: $(DEV_STAMP)
	$(BIN)/python -m bench.gateway

# Memory soak: 8 clients, 80% reads / 20% writes on a fixed set of models; SOAK_SECONDS (default 300).
SOAK_SECONDS ?= 300
SOAK_WARMUP ?= 60
bench-soak: $(DEV_STAMP)
	$(BIN)/python -m bench.soak --duration $(SOAK_SECONDS) --warmup $(SOAK_WARMUP)

# Refresh docs/screenshots/ from the browser tests (needs chromium; .ci/run installs it).
screenshots: $(DEV_STAMP)
	MODELREG_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest -q -p no:randomly tests/test_console.py

# Re-take the console's JavaScript from npm at the versions pinned in the script (needs npm; not at run time).
vendor-assets: $(DEV_STAMP)
	$(BIN)/python scripts/vendor_assets.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
