# Personal-data lakehouse. `make help` lists the targets.
# Every target does its own set-up, idempotently: a fresh clone needs only `make demo`
# or `make test` (Debian/Ubuntu, Python 3.11, Java 17).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# AWS Glue's Python library, off the default path: jobs see it only via PYTHONPATH.
GLUE_LIBS := $(VENV)/glue-libs/.installed
# The download cache (Maven jars, Trino, the S3 server), shared by every clone.
export LAKEHOUSE_CACHE ?= $(HOME)/.cache/lakehouse
JARS_STAMP  := $(LAKEHOUSE_CACHE)/jars/.installed
STACK_STAMP := $(LAKEHOUSE_CACHE)/.stack-installed
PYTEST_ARGS ?=
# Options of `lakehouse demo`, e.g. DEMO_ARGS="--since 2026-01 --port 8090" make demo
DEMO_ARGS ?=

export SPARK_LOCAL_IP ?= 127.0.0.1

.PHONY: help setup system-deps jars stack-deps airflow-env superset-env test test-all lint fmt demo \
	chaos bench dist airflow dashboards stack-up stack-down clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

setup: system-deps $(STAMP) jars stack-deps $(GLUE_LIBS) airflow-env superset-env ## Install everything where missing

system-deps:
	@bash infra/setup/system-deps.sh

# Airflow and Superset cannot share an environment with each other: one venv each.
airflow-env:
	@PYTHON=$(PYTHON) bash infra/setup/airflow-env.sh

superset-env:
	@PYTHON=$(PYTHON) bash infra/setup/superset-env.sh

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

jars: $(JARS_STAMP) ## Copy the pinned Spark jars (Iceberg, S3FileIO, JDBC) into the cache

$(JARS_STAMP): infra/maven/pom.xml | $(STAMP)
	$(BIN)/python -m spark_jobs.common.artifacts spark-jars
	@touch $(JARS_STAMP)

stack-deps: $(STACK_STAMP) ## Download Trino and build the S3 server for `lakehouse stack`

$(STACK_STAMP): infra/maven/pom.xml infra/go/go.mod infra/go/go.sum | $(STAMP)
	$(BIN)/python -m spark_jobs.common.artifacts trino s3-server
	@touch $(STACK_STAMP)

$(GLUE_LIBS): $(STAMP) infra/glue/requirements-local.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --upgrade \
		--target $(VENV)/glue-libs -r infra/glue/requirements-local.txt
	@touch $(GLUE_LIBS)

test: setup ## Lint, then run the tests (test-all adds the extended ones)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)

test-all: setup ## make test plus the extended tests (long runs other tests overlap)
	LAKEHOUSE_EXTENDED=1 $(MAKE) test

chaos: setup ## The crash suite: kill -9 at each point of ingest/rebuild/transform/publish, compare with a clean run
	LAKEHOUSE_CHAOS=all $(BIN)/pytest tests/chaos $(PYTEST_ARGS)

lint: setup ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: setup ## Format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

demo: setup ## Run the whole pipeline offline on the embedded lakehouse
	$(BIN)/lakehouse demo $(DEMO_ARGS)

dist: setup ## Package the jobs for a cluster or Glue (dist/spark_jobs.zip + job scripts)
	@rm -rf dist && mkdir -p dist/jobs
	$(BIN)/python -m spark_jobs.jobs.package dist/spark_jobs.zip
	cp spark_jobs/jobs/ingest.py dist/jobs/

airflow: setup ## Airflow standalone on localhost:8080 with the DAGs of dags/
	bash infra/airflow/standalone.sh

dashboards: setup ## Import the Superset dashboards and serve them on localhost:8088
	$(BIN)/lakehouse dashboards import
	$(BIN)/lakehouse dashboards serve

bench: setup ## Benchmarks (raw -> bronze chess + Oura, incremental, dbt local/Trino, stack, chart p95)
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.oura_bench
	$(BIN)/python -m benchmarks.stack_bench --skip-local

stack-up: setup ## Start the production-shaped stack on loopback (PostgreSQL, S3, Trino, Spark)
	$(BIN)/lakehouse stack up

stack-down: ## Stop the stack
	$(BIN)/lakehouse stack down

clean: ## Remove the local lakehouse and build outputs (keeps the venv)
	rm -rf .lakehouse .pytest_cache spark-warehouse metastore_db derby.log dist test-output
