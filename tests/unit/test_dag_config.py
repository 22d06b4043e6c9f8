"""The DAGs' configuration comes from environment variables only, with sane defaults."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    # dags/ is Airflow's folder, not an installed package: load Airflow-free modules by path.
    path = ROOT / "dags" / "lakehouse_dags" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"lakehouse_dags_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


config = _load("config")
months = _load("months")


def test_defaults_point_at_this_checkout() -> None:
    cfg = config.PipelineConfig.from_env({"AIRFLOW_HOME": "/srv/airflow"})
    assert cfg.project_dir == ROOT
    assert cfg.lakehouse_bin == ROOT / ".venv" / "bin"
    assert cfg.lakehouse == ROOT / ".venv" / "bin" / "lakehouse"
    assert cfg.job_script("chesscom_ingest") == ROOT / "spark_jobs/jobs/chesscom_ingest.py"
    assert cfg.launcher == "spark-submit" and cfg.dbt_target == "local"
    assert cfg.work_dir == "/srv/airflow/lakehouse"
    assert cfg.retry_delay_seconds == 120
    # The default SPARK_HOME is the main venv's pyspark (as installed by `make setup`).
    import pyspark

    assert cfg.spark_home == Path(pyspark.__file__).parent


def test_glue_settings() -> None:
    cfg = config.PipelineConfig.from_env(
        {
            "LAKEHOUSE_AIRFLOW_LAUNCHER": "GLUE",
            "LAKEHOUSE_GLUE_SCRIPTS_URI": "s3://bucket/jobs",
            "LAKEHOUSE_GLUE_IAM_ROLE": "role",
            "AWS_DEFAULT_REGION": "eu-central-1",
        }
    )
    assert cfg.launcher == "glue"
    assert cfg.glue.job_name("chesscom_ingest") == "lakehouse-chesscom-ingest"
    assert cfg.glue.script_location("chesscom_ingest") == "s3://bucket/jobs/chesscom_ingest.py"
    assert cfg.glue.region == "eu-central-1"
    assert cfg.glue.aws_conn_id == "aws_default"
    # Without a scripts URI the Glue job must already exist (it is run by name).
    assert config.GlueConfig().script_location("chesscom_ingest") is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LAKEHOUSE_AIRFLOW_LAUNCHER", "emr"),
        ("LAKEHOUSE_DBT_TARGET", "duckdb"),
        ("LAKEHOUSE_AIRFLOW_RETRY_DELAY", "0"),
        ("LAKEHOUSE_AIRFLOW_RETRY_DELAY", "soon"),
    ],
)
def test_invalid_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        config.PipelineConfig.from_env({name: value})


def test_start_date() -> None:
    assert config.start_date_from_env({}) == datetime(2026, 1, 1, tzinfo=UTC)
    env = {"LAKEHOUSE_AIRFLOW_START_DATE": "2023-06-01"}
    assert config.start_date_from_env(env) == datetime(2023, 6, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="LAKEHOUSE_AIRFLOW_START_DATE"):
        config.start_date_from_env({"LAKEHOUSE_AIRFLOW_START_DATE": "June"})


def test_final_grace_matches_the_ingestion() -> None:
    # chesscom_monthly waits this long after the month; the ingestion decides finality.
    from spark_jobs.chesscom.ingest import FINAL_GRACE

    assert months.CHESSCOM_FINAL_GRACE == FINAL_GRACE
