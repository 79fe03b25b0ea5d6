# customs-risk: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.DEFAULT_GOAL := help
.PHONY: help setup run test test-fast lint format bench clean mlflow-ui

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	bash scripts/ensure-build-deps.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

setup: $(BIN)/.installed ## Create .venv and install the project with its pinned stack

run: setup ## Main job on the embedded default: generate a world and run the pipeline on it
	$(BIN)/customs-risk pipeline

test: setup ## Run the test suite (installs the headless browser for the end-to-end test if missing)
	bash scripts/ensure-browser.sh
	bash scripts/ensure-postgres.sh
	$(BIN)/pytest

test-fast: setup ## Unit tests only (no integration, e2e or PostgreSQL tests): about a minute
	CUSTOMS_RISK_QUICK_TESTS=1 PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -q -n auto -p no:cacheprovider -m "not integration and not e2e and not postgres and not slow"

lint: setup ## Check style with ruff (rules and formatting)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup ## Format with ruff
	$(BIN)/ruff format .

bench: setup ## Run every benchmark script and print its figures
	$(BIN)/python bench/bench_generate.py
	$(BIN)/python bench/bench_features.py
	$(BIN)/python bench/bench_score.py
	$(BIN)/python bench/bench_train.py
	$(BIN)/python bench/bench_review.py

clean: ## Remove generated worlds, run state and the venv
	rm -rf $(VENV) data/worlds mlruns .prefect .pytest_cache

mlflow-ui: setup ## Open the MLflow UI on the local tracking store (http://127.0.0.1:5000)
	$(BIN)/mlflow ui --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlruns/mlflow.db}" --host 127.0.0.1 --port 5000
