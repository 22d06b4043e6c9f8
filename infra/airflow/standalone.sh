#!/usr/bin/env bash
# Run Airflow locally on the DAGs in dags/: `airflow standalone` (scheduler, triggerer,
# DAG processor, API server + UI on http://localhost:8080) with its state in .airflow/.
#
#   bash infra/airflow/standalone.sh          # or: make airflow
#
# Needs the main venv (`make setup`) for the tasks; creates the Airflow venv if missing.
# Players: export AIRFLOW_VAR_CHESSCOM_PLAYERS=name1,name2 (or set the Variable in the UI).
# The UI's admin password is printed at start-up and kept in
# .airflow/simple_auth_manager_passwords.json.generated. Stop with Ctrl-C (or kill the
# process group: kill -- -<pid>).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bash "$root/infra/setup/airflow-env.sh"
[[ -x "$root/.venv/bin/lakehouse" ]] || {
  echo "standalone: the main venv is missing: run \`make setup\` first" >&2
  exit 1
}

export AIRFLOW_HOME="${AIRFLOW_HOME:-$root/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$root/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
# 2 cores: a few task slots; the lakehouse pool below runs one Spark task at a time.
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export PATH="$root/.venv-airflow/bin:$PATH"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
export AIRFLOW_CONN_SPARK_DEFAULT="${AIRFLOW_CONN_SPARK_DEFAULT:-{\"conn_type\": \"spark\", \"host\": \"local[2]\"\}}"
# Another UI port (AIRFLOW__API__PORT) moves the task execution API with it.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://localhost:${AIRFLOW__API__PORT:-8080}/execution/}"
export LAKEHOUSE_AIRFLOW_POOL="${LAKEHOUSE_AIRFLOW_POOL:-lakehouse}"

if [[ -z "${AIRFLOW_VAR_CHESSCOM_PLAYERS:-}" ]]; then
  echo "standalone: AIRFLOW_VAR_CHESSCOM_PLAYERS is not set; set the Variable" \
    "chesscom_players in the UI before the first run" >&2
fi

# Tasks run from the project root: the lakehouse CLI and jobs read ./.env from there.
cd "$root"
mkdir -p "$AIRFLOW_HOME"
airflow db migrate >/dev/null
# One slot: the embedded catalog (SQLite) takes one writer, and each Spark task needs ~1.5 GB.
airflow pools set "$LAKEHOUSE_AIRFLOW_POOL" 1 "Spark and dbt tasks on the lakehouse" >/dev/null
exec airflow standalone
