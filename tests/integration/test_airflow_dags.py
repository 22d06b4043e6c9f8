"""DAG integrity: the DAGs in dags/ load in the Airflow venv and are wired as documented.

Airflow lives in its own venv (.venv-airflow): each test runs airflow_dag_probe.py there
and asserts on the JSON description it prints.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("airflow_dag_probe.py")
DAG_IDS = {"chesscom_daily", "chesscom_monthly"}


def _probe(airflow_bin: Path, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run(
        [str(airflow_bin / "python"), str(PROBE), str(ROOT / "dags")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def default_bag(airflow_bin: Path, airflow_environ) -> dict[str, Any]:
    return _probe(airflow_bin, airflow_environ())


def test_dags_import_without_errors(default_bag: dict[str, Any]) -> None:
    assert default_bag["import_errors"] == {}
    assert set(default_bag["dags"]) == DAG_IDS


def test_every_dag_is_documented_tagged_and_retried(default_bag: dict[str, Any]) -> None:
    for dag_id, dag in default_bag["dags"].items():
        assert "lakehouse" in dag["tags"] and "chesscom" in dag["tags"], dag_id
        assert dag_id in dag["doc_md"] and len(dag["doc_md"]) > 200, dag_id
        assert dag["timetable"] == "CronDataIntervalTimetable", dag_id
        assert dag["max_active_runs"] == 1, dag_id
        for task_id, task in dag["tasks"].items():
            where = f"{dag_id}.{task_id}"
            assert task["retries"] >= 2, where
            assert task["retry_exponential_backoff"] >= 2, where
            assert task["max_retry_delay"] and task["max_retry_delay"] > task["retry_delay"], where
            assert task["doc_md"], where


def test_daily_dag_ingests_the_months_of_its_interval(default_bag: dict[str, Any]) -> None:
    dag = default_bag["dags"]["chesscom_daily"]
    assert dag["catchup"] is False
    # A manual run at 05:00 on 1 March covers the whole previous UTC day, 29 February...
    assert dag["intervals"]["2024-03-01T05:00:00+00:00"] == [
        "2024-02-29T00:00:00+00:00",
        "2024-03-01T00:00:00+00:00",
    ]
    # ...so it re-reads February only (the interval end is exclusive).
    assert dag["months"]["2024-03-01T05:00:00+00:00"] == ["2024-02", "2024-02"]
    assert dag["months"]["2025-01-01T00:00:00+00:00"] == ["2024-12", "2024-12"]
    tasks = dag["tasks"]
    assert list(tasks) == ["spark_conf", "ingest", "transform_audit_publish"]
    assert tasks["ingest"]["upstream"] == ["spark_conf"]
    assert tasks["transform_audit_publish"]["upstream"] == ["ingest"]
    transform = tasks["transform_audit_publish"]
    assert "nothing is published" in transform["doc_md"]
    lakehouse = ROOT / ".venv" / "bin" / "lakehouse"
    assert transform["command"].strip() == f'exec "{lakehouse}" transform --target local'
    assert transform["cwd"] == str(ROOT)  # the CLI reads ./.env from the project root
    assert f'"{lakehouse}" spark-conf --output' in tasks["spark_conf"]["command"]


def test_monthly_dag_waits_for_the_finished_month(default_bag: dict[str, Any]) -> None:
    from spark_jobs.chesscom.ingest import FINAL_GRACE

    dag = default_bag["dags"]["chesscom_monthly"]
    assert dag["catchup"] is True
    assert dag["intervals"]["2024-03-01T05:00:00+00:00"] == [
        "2024-02-01T00:00:00+00:00",
        "2024-03-01T00:00:00+00:00",
    ]
    assert dag["months"]["2024-03-01T05:00:00+00:00"] == ["2024-02", "2024-02"]
    assert dag["months"]["2025-01-01T00:00:00+00:00"] == ["2024-12", "2024-12"]
    tasks = dag["tasks"]
    wait = tasks["wait_for_month_final"]
    assert wait["type"] == "TimeDeltaSensor" and wait["deferrable"] is True
    # The ingestion marks a month final only when fetched FINAL_GRACE after its end.
    assert wait["delta"] > FINAL_GRACE.total_seconds()
    assert tasks["spark_conf"]["upstream"] == ["wait_for_month_final"]
    assert tasks["ingest"]["upstream"] == ["spark_conf"]
    assert tasks["transform_audit_publish"]["upstream"] == ["ingest"]


def test_default_launcher_is_spark_submit_with_the_main_venv(
    default_bag: dict[str, Any],
) -> None:
    for dag in default_bag["dags"].values():
        ingest = dag["tasks"]["ingest"]
        assert ingest["type"] == "SparkSubmitOperator"
        assert ingest["conn_id"] == "spark_default"
        assert ingest["application"] == str(ROOT / "spark_jobs/jobs/chesscom_ingest.py")
        assert ingest["application_args"][0::2] == ["--players", "--from", "--to"]
        assert "var.value.chesscom_players" in ingest["application_args"][1]
        assert "spark_conf" in ingest["properties_file"]  # the XCom of the spark_conf task
        env = ingest["env_vars"]
        venv_bin = ROOT / ".venv" / "bin"
        assert env["PATH"].split(":")[0] == str(venv_bin)
        assert env["PYSPARK_PYTHON"] == env["PYSPARK_DRIVER_PYTHON"] == str(venv_bin / "python")
        # The provider runs `spark-submit` from PATH: it must be the main venv's pyspark.
        assert (venv_bin / "spark-submit").exists()
        assert (Path(env["SPARK_HOME"]) / "bin" / "spark-submit").exists()


def test_glue_launcher_runs_the_same_script_as_a_glue_job(
    airflow_bin: Path, airflow_environ
) -> None:
    env = airflow_environ(
        LAKEHOUSE_AIRFLOW_LAUNCHER="glue",
        LAKEHOUSE_GLUE_SCRIPTS_URI="s3://lakehouse-artifacts/jobs/",
        LAKEHOUSE_GLUE_IAM_ROLE="lakehouse-glue",
        LAKEHOUSE_GLUE_REGION="eu-west-1",
        LAKEHOUSE_AWS_CONN_ID="aws_lakehouse",
        LAKEHOUSE_DBT_TARGET="trino",
    )
    bag = _probe(airflow_bin, env)
    assert bag["import_errors"] == {}
    for dag_id, dag in bag["dags"].items():
        tasks = dag["tasks"]
        assert "spark_conf" not in tasks, dag_id
        ingest = tasks["ingest"]
        assert ingest["type"] == "GlueJobOperator"
        assert ingest["job_name"] == "lakehouse-chesscom-ingest"
        assert ingest["script_location"] == "s3://lakehouse-artifacts/jobs/chesscom_ingest.py"
        assert set(ingest["script_args"]) == {"--players", "--from", "--to"}
        assert "month_from(data_interval_start" in ingest["script_args"]["--from"]
        assert "month_to(data_interval_start" in ingest["script_args"]["--to"]
        assert ingest["iam_role_name"] == "lakehouse-glue"
        assert ingest["region_name"] == "eu-west-1"
        assert ingest["aws_conn_id"] == "aws_lakehouse"
        assert tasks["transform_audit_publish"]["upstream"] == ["ingest"]
        assert "transform --target trino" in tasks["transform_audit_publish"]["command"]
    assert bag["dags"]["chesscom_monthly"]["tasks"]["ingest"]["upstream"] == [
        "wait_for_month_final"
    ]


def test_a_bad_launcher_is_an_import_error_naming_the_variable(
    airflow_bin: Path, airflow_environ
) -> None:
    bag = _probe(airflow_bin, airflow_environ(LAKEHOUSE_AIRFLOW_LAUNCHER="emr"))
    assert set(bag["dags"]) == set()
    assert len(bag["import_errors"]) == 2
    assert all("LAKEHOUSE_AIRFLOW_LAUNCHER" in e for e in bag["import_errors"].values())
