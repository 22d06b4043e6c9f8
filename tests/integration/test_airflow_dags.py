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
SOURCE_DAGS = {
    "chesscom_daily": "chesscom",
    "chesscom_monthly": "chesscom",
    "oura_daily": "oura",
    "whoop_daily": "whoop",
}
TRANSFORM = "lakehouse_transform"
DAG_IDS = {*SOURCE_DAGS, TRANSFORM}


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
        assert "lakehouse" in dag["tags"], dag_id
        assert dag_id in dag["doc_md"] and len(dag["doc_md"]) > 200, dag_id
        if dag_id in SOURCE_DAGS:
            assert SOURCE_DAGS[dag_id] in dag["tags"], dag_id
            assert dag["timetable"] == "CronDataIntervalTimetable", dag_id
        else:
            assert dag["timetable"] == "AssetTriggeredTimetable", dag_id
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
    # Rendered as the job receives them: the Variable's players, the interval's months.
    assert dag["rendered_ingest_args"]["2024-03-01T05:00:00+00:00"] == [
        "--source", "chesscom", "--players", "hikaru,magnuscarlsen",
        "--from", "2024-02", "--to", "2024-02",
    ]  # fmt: skip
    tasks = dag["tasks"]
    # The DAG ends at ingest: the marts are lakehouse_transform's job (on the asset).
    assert list(tasks) == ["spark_conf", "ingest"]
    assert tasks["ingest"]["upstream"] == ["spark_conf"]
    lakehouse = ROOT / ".venv" / "bin" / "lakehouse"
    assert f'"{lakehouse}" spark-conf --output' in tasks["spark_conf"]["command"]
    assert tasks["spark_conf"]["cwd"] == str(ROOT)  # the CLI reads ./.env from the root


def test_oura_daily_rereads_an_overlap_before_its_interval(default_bag: dict[str, Any]) -> None:
    dag = default_bag["dags"]["oura_daily"]
    assert dag["catchup"] is False
    # A manual run at 05:00 on 1 March: the interval is 29 February (leap year)...
    assert dag["intervals"]["2024-03-01T05:00:00+00:00"] == [
        "2024-02-29T00:00:00+00:00",
        "2024-03-01T00:00:00+00:00",
    ]
    # ...and the run reads it plus the 7 days before (Oura syncs late and rescores).
    rendered = dag["rendered_ingest_args"]
    assert rendered["2024-03-01T05:00:00+00:00"] == [
        "--source", "oura", "--accounts", "me", "--from", "2024-02-22", "--to", "2024-02-29",
    ]  # fmt: skip
    assert rendered["2025-01-01T00:00:00+00:00"][-4:] == [
        "--from", "2024-12-24", "--to", "2024-12-31",
    ]  # fmt: skip
    tasks = dag["tasks"]
    assert list(tasks) == ["spark_conf", "ingest"]
    assert tasks["ingest"]["upstream"] == ["spark_conf"]


def test_whoop_daily_rereads_the_months_of_its_interval_and_the_week_before(
    default_bag: dict[str, Any],
) -> None:
    dag = default_bag["dags"]["whoop_daily"]
    assert dag["catchup"] is False
    rendered = dag["rendered_ingest_args"]
    # The interval 29 February: February alone, its week before is February too...
    assert rendered["2024-03-01T05:00:00+00:00"] == [
        "--source", "whoop", "--accounts", "me", "--from", "2024-02", "--to", "2024-02",
    ]  # fmt: skip
    # ...and 31 December's week before is December (a January interval's reaches into it:
    # tests/unit/test_dag_months.py).
    assert rendered["2025-01-01T00:00:00+00:00"][-4:] == ["--from", "2024-12", "--to", "2024-12"]
    assert list(dag["tasks"]) == ["spark_conf", "ingest"]


def test_oura_overlap_comes_from_the_environment(airflow_bin: Path, airflow_environ) -> None:
    bag = _probe(airflow_bin, airflow_environ(LAKEHOUSE_OURA_OVERLAP_DAYS="2"))
    rendered = bag["dags"]["oura_daily"]["rendered_ingest_args"]
    assert rendered["2024-03-01T05:00:00+00:00"][-4:] == [
        "--from", "2024-02-27", "--to", "2024-02-29",
    ]  # fmt: skip
    bad = _probe(airflow_bin, airflow_environ(LAKEHOUSE_OURA_OVERLAP_DAYS="a week"))
    assert "oura_daily" not in bad["dags"] and "chesscom_daily" in bad["dags"]
    assert any("LAKEHOUSE_OURA_OVERLAP_DAYS" in e for e in bad["import_errors"].values())


def test_source_dags_update_their_bronze_asset(default_bag: dict[str, Any]) -> None:
    for dag_id, source in SOURCE_DAGS.items():
        tasks = default_bag["dags"][dag_id]["tasks"]
        assert tasks["ingest"]["outlets"] == [f"lakehouse://bronze/{source}"], dag_id
        # The ingest task is the DAG's last task: its success is the asset event.
        assert not [t for t, task in tasks.items() if "ingest" in task["upstream"]], dag_id
        others = [task["outlets"] for t, task in tasks.items() if t != "ingest"]
        assert not any(others), dag_id


def test_the_job_accepts_what_every_source_dag_passes(default_bag: dict[str, Any]) -> None:
    """The rendered arguments parse with spark_jobs/jobs/ingest.py and fit the source."""
    from spark_jobs.jobs.args import parse_job_args
    from spark_jobs.jobs.ingest import build_parser
    from spark_jobs.sources import get_source

    for dag_id, source in SOURCE_DAGS.items():
        for run_after, argv in default_bag["dags"][dag_id]["rendered_ingest_args"].items():
            args = parse_job_args(build_parser(), argv, resolver=None)
            assert args.source == source and args.accounts, (dag_id, run_after)
            # Months or days, as the source's --from/--to take them (raises otherwise).
            first, last = get_source(source).bounds(args.first, args.last)
            assert first <= last, (dag_id, run_after)


def test_transform_runs_after_any_source_updated(default_bag: dict[str, Any]) -> None:
    from spark_jobs.sources import REGISTERED

    dag = default_bag["dags"][TRANSFORM]
    assert dag["schedule_assets"] == {
        "any": [
            "lakehouse://bronze/chesscom",
            "lakehouse://bronze/oura",
            "lakehouse://bronze/whoop",
        ]
    }
    # Every registered source's bronze triggers it, and every asset is some DAG's outlet.
    assert {f"lakehouse://bronze/{name}" for name in REGISTERED} <= set(
        dag["schedule_assets"]["any"]
    )
    outlets = {
        uri for d in SOURCE_DAGS for uri in default_bag["dags"][d]["tasks"]["ingest"]["outlets"]
    }
    assert set(dag["schedule_assets"]["any"]) == outlets
    assert dag["catchup"] is False and dag["max_active_runs"] == 1
    tasks = dag["tasks"]
    assert list(tasks) == ["transform_audit_publish"]
    transform = tasks["transform_audit_publish"]
    assert "nothing is published" in transform["doc_md"]
    lakehouse = ROOT / ".venv" / "bin" / "lakehouse"
    assert transform["command"].strip() == f'exec "{lakehouse}" transform --target local --wait'
    assert transform["cwd"] == str(ROOT)  # the CLI reads ./.env from the project root


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
    assert dag["rendered_ingest_args"]["2024-03-01T05:00:00+00:00"][-4:] == [
        "--from", "2024-02", "--to", "2024-02",
    ]  # fmt: skip
    tasks = dag["tasks"]
    assert list(tasks) == ["wait_for_month_final", "spark_conf", "ingest"]
    wait = tasks["wait_for_month_final"]
    assert wait["type"] == "TimeDeltaSensor" and wait["deferrable"] is True
    # The ingestion marks a month final only when fetched FINAL_GRACE after its end.
    assert wait["delta"] > FINAL_GRACE.total_seconds()
    assert tasks["spark_conf"]["upstream"] == ["wait_for_month_final"]
    assert tasks["ingest"]["upstream"] == ["spark_conf"]


def test_default_launcher_is_spark_submit_with_the_main_venv(
    default_bag: dict[str, Any],
) -> None:
    from spark_jobs.sources import get_source

    for dag_id, source in SOURCE_DAGS.items():
        ingest = default_bag["dags"][dag_id]["tasks"]["ingest"]
        assert ingest["type"] == "SparkSubmitOperator"
        assert ingest["conn_id"] == "spark_default"
        # The one generic entrypoint, told which source to ingest.
        assert ingest["application"] == str(ROOT / "spark_jobs/jobs/ingest.py")
        assert ingest["application_args"][:2] == ["--source", source]
        plural = get_source(source).account.plural
        assert ingest["application_args"][2::2] == [f"--{plural}", "--from", "--to"]
        assert f"var.value.{source}_{plural}" in ingest["application_args"][3]
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
    assert set(bag["dags"]) == DAG_IDS
    for dag_id, source in SOURCE_DAGS.items():
        dag = bag["dags"][dag_id]
        tasks = dag["tasks"]
        assert "spark_conf" not in tasks, dag_id
        ingest = tasks["ingest"]
        assert ingest["type"] == "GlueJobOperator"
        # One Glue job per source, all running ingest.py; `--source` names the source.
        assert ingest["job_name"] == f"lakehouse-{source}-ingest"
        assert ingest["script_location"] == "s3://lakehouse-artifacts/jobs/ingest.py"
        assert ingest["script_args"]["--source"] == source
        default_arguments = ingest["create_job_kwargs"]["DefaultArguments"]
        assert default_arguments["--source"] == source
        assert ingest["iam_role_name"] == "lakehouse-glue"
        assert ingest["region_name"] == "eu-west-1"
        assert ingest["aws_conn_id"] == "aws_lakehouse"
        assert ingest["outlets"] == [f"lakehouse://bronze/{source}"]
    for dag_id in ("chesscom_daily", "chesscom_monthly"):
        args = bag["dags"][dag_id]["tasks"]["ingest"]["script_args"]
        assert set(args) == {"--source", "--players", "--from", "--to"}
        assert "month_from(data_interval_start" in args["--from"]
        assert "month_to(data_interval_start" in args["--to"]
    oura = bag["dags"]["oura_daily"]
    assert set(oura["tasks"]["ingest"]["script_args"]) == {
        "--source",
        "--accounts",
        "--from",
        "--to",
    }
    # Rendered for Glue exactly as for spark-submit: the overlap applies there too.
    assert oura["rendered_ingest_args"]["2024-03-01T05:00:00+00:00"] == {
        "--source": "oura", "--accounts": "me", "--from": "2024-02-22", "--to": "2024-02-29",
    }  # fmt: skip
    assert bag["dags"]["chesscom_monthly"]["tasks"]["ingest"]["upstream"] == [
        "wait_for_month_final"
    ]
    transform = bag["dags"][TRANSFORM]["tasks"]["transform_audit_publish"]
    assert "transform --target trino" in transform["command"]


def test_a_bad_launcher_is_an_import_error_naming_the_variable(
    airflow_bin: Path, airflow_environ
) -> None:
    bag = _probe(airflow_bin, airflow_environ(LAKEHOUSE_AIRFLOW_LAUNCHER="emr"))
    assert set(bag["dags"]) == set()
    assert len(bag["import_errors"]) == len(DAG_IDS)
    assert all("LAKEHOUSE_AIRFLOW_LAUNCHER" in e for e in bag["import_errors"].values())
