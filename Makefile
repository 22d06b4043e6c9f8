# Personal-data lakehouse. `make help` lists the targets.
# Every target does its own set-up, idempotently: a fresh clone needs only `make demo`
# or `make test` (Debian/Ubuntu, Python 3.11, Java 17).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

export SPARK_LOCAL_IP ?= 127.0.0.1

.PHONY: help setup system-deps test lint fmt demo bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

setup: system-deps $(STAMP) ## Install everything (system jars, Python venv) where missing

system-deps:
	@bash infra/setup/system-deps.sh

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

test: setup ## Lint, then run every test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: setup ## Format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

demo: setup ## Run the whole pipeline offline on the embedded lakehouse
	$(BIN)/lakehouse demo

bench: setup ## Benchmarks (1M games raw -> bronze, incremental request count)
	$(BIN)/python -m benchmarks.run

clean: ## Remove the local lakehouse and build outputs (keeps the venv)
	rm -rf .lakehouse .pytest_cache spark-warehouse metastore_db derby.log
