# chinatech-warehouse: `make demo` (offline, sample data) and `make test` are all a fresh clone needs.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# One Dagster home per source mode (.dagster_home/<mode>), so run history never mixes warehouses;
# orchestration/run.py and ui.py create it with the project's instance config.
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: install demo run test lint ui query sql snapshot backup restore cookbook bench bench-small clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

## materialize every asset from the offline sample source
demo: install
	CHINATECH_SOURCE=sample $(BIN)/python -m orchestration.run

# User text (TICKERS, SQL, FILE) reaches the programs through the environment, never through the shell.
export TICKERS SQL REBUILD PORT FILE

## materialize every asset from CHINATECH_SOURCE (default live); TICKERS=a,b to refresh a few;
## REBUILD=1 moves the warehouse file aside and builds it again
run: install
	$(BIN)/python -m orchestration.run

## the whole test suite (CI runs this)
# two workers (CI has two cores); whole files per worker, so each file's fixtures are built once;
# files in the order tests/conftest.py gives (heaviest first), not xdist's (most tests first)
test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## the Dagster web UI on http://127.0.0.1:3000
ui: install
	$(BIN)/python -m orchestration.ui

## SQL on the reader snapshot (works while a run writes): make query SQL="SELECT ..."
query: install
	@$(BIN)/python -m orchestration.query

## an interactive DuckDB shell (read-only) on the reader snapshot
sql: install
	@$(BIN)/python -m orchestration.sql

## publish the reader snapshot now (every successful run does it as its last step)
snapshot: install
	@$(BIN)/python -m orchestration.snapshot

## a consistent copy of the warehouse: data/backups/<mode>-<UTC time>.duckdb
backup: install
	@$(BIN)/python -m orchestration.backup

## replace the warehouse with a backup of the same source mode: make restore FILE=data/backups/...
restore: install
	@$(BIN)/python -m orchestration.backup --restore

## rerun the README's query cookbook on the replay warehouse and refresh the outputs shown
cookbook: install
	CHINATECH_SOURCE=replay $(BIN)/python -m orchestration.cookbook --write

## Performance: the load against DuckDB's floor and a pandas+SQLite peer at 2,000 tickers (docs/performance.md);
## prints a table and writes bench/results.json, asserts nothing. bench-small is the CI-sized run, part of make test.
bench: install
	$(BIN)/python benchmarks/bench.py

bench-small: install
	$(BIN)/python benchmarks/bench.py --small

test: bench-small

clean:
	rm -rf data .dagster_home
