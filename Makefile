# chinatech-warehouse: `make demo` (offline, sample data) and `make test` are all a fresh clone needs.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: install demo run test lint ui query cookbook bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

$(DAGSTER_HOME)/dagster.yaml: orchestration/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp orchestration/dagster.yaml $@

## materialize every asset from the offline sample source
demo: install $(DAGSTER_HOME)/dagster.yaml
	CHINATECH_SOURCE=sample $(BIN)/python -m orchestration.run

## materialize every asset from CHINATECH_SOURCE (default live); TICKERS=a,b to refresh a few
run: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m orchestration.run $(if $(TICKERS),--tickers $(TICKERS))

## the whole test suite (CI runs this)
test: install
	$(BIN)/ruff check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## the Dagster web UI on http://127.0.0.1:3000
ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -h 127.0.0.1 -p $(or $(PORT),3000) -w workspace.yaml

## SQL on the warehouse: make query SQL="SELECT ..."
query: install
	$(BIN)/python -m orchestration.query "$(SQL)"

## rerun the README's query cookbook on the replay warehouse and refresh the outputs shown
cookbook: install
	CHINATECH_SOURCE=replay $(BIN)/python -m orchestration.cookbook --write

## speed and memory figures (not tests)
bench: install
	$(BIN)/python benchmarks/load_prices.py

clean:
	rm -rf data .dagster_home
