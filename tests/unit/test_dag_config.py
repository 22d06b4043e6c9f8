"""The DAGs' configuration comes from environment variables only, with sane defaults."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from spark_jobs.sources import REGISTERED

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
    # One entrypoint for every source (`--source NAME`).
    assert cfg.job_script == ROOT / "spark_jobs/jobs/ingest.py"
    assert cfg.job_script.is_file()
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
    # One Glue job per source, all running the one script with `--source`.
    assert cfg.glue.job_name("chesscom") == "lakehouse-chesscom-ingest"
    assert cfg.glue.job_name("oura") == "lakehouse-oura-ingest"
    assert cfg.glue.script_location() == "s3://bucket/jobs/ingest.py"
    assert cfg.glue.region == "eu-central-1"
    assert cfg.glue.aws_conn_id == "aws_default"
    # Without a scripts URI the Glue job must already exist (it is run by name).
    assert config.GlueConfig().script_location() is None


@pytest.mark.parametrize("source", REGISTERED)
def test_glue_job_definition_names_the_source_job(source: str) -> None:
    """infra/glue/ingest.json, filled in for a source, is the job the DAGs start by name."""
    import json

    job = json.loads((ROOT / "infra/glue/ingest.json").read_text())
    assert job["Name"].replace("SOURCE", source) == config.GlueConfig().job_name(source)
    assert job["Command"]["ScriptLocation"].endswith(f"/{config.INGEST_JOB}.py")


def _declared(dag_file: Path, name: str):
    """The literal value of the module-level assignment `name = ...` of a DAG file (ast:
    the DAG files import Airflow, which the main venv does not have)."""
    import ast

    for node in ast.parse(dag_file.read_text()).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
            name
        ]:
            if isinstance(node.value, ast.Call):  # SourceSpec(name=..., accounts=...)
                return {k.arg: ast.literal_eval(k.value) for k in node.value.keywords}
            return ast.literal_eval(node.value)
    return None


SOURCE_DAGS = {
    f.stem: _declared(f, "SOURCE")
    for f in sorted((ROOT / "dags").glob("*.py"))
    if _declared(f, "SOURCE") is not None
}


def test_source_dags_declare_registered_sources() -> None:
    """What each DAG file declares about its source matches spark_jobs/sources.py."""
    from spark_jobs.sources import get_source

    assert {"chesscom_daily", "chesscom_monthly", "oura_daily"} <= set(SOURCE_DAGS)
    for dag_id, spec in SOURCE_DAGS.items():
        assert spec["name"] in REGISTERED, dag_id
        assert spec["accounts"] == get_source(spec["name"]).account.plural, dag_id


@pytest.mark.parametrize("source", REGISTERED)
def test_every_source_is_ingested_and_triggers_the_transform(source: str) -> None:
    assert source in {spec["name"] for spec in SOURCE_DAGS.values()}, "no DAG ingests it"
    transform_sources = _declared(ROOT / "dags" / "lakehouse_transform.py", "SOURCES")
    assert source in transform_sources
    assert set(transform_sources) == {spec["name"] for spec in SOURCE_DAGS.values()}
    spec = config.SourceSpec(**next(s for s in SOURCE_DAGS.values() if s["name"] == source))
    assert spec.asset_uri == f"lakehouse://bronze/{source}"


def test_overlap_days() -> None:
    assert config.overlap_days_from_env("oura", 7, {}) == 7
    assert config.overlap_days_from_env("oura", 7, {"LAKEHOUSE_OURA_OVERLAP_DAYS": "3"}) == 3
    assert config.overlap_days_from_env("oura", 7, {"LAKEHOUSE_OURA_OVERLAP_DAYS": "0"}) == 0
    for bad in ("-1", "a week", "1.5"):
        with pytest.raises(ValueError, match="LAKEHOUSE_OURA_OVERLAP_DAYS"):
            config.overlap_days_from_env("oura", 7, {"LAKEHOUSE_OURA_OVERLAP_DAYS": bad})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LAKEHOUSE_AIRFLOW_LAUNCHER", "emr"),
        ("LAKEHOUSE_DBT_TARGET", "duckdb"),
        ("LAKEHOUSE_AIRFLOW_RETRY_DELAY", "0"),
        ("LAKEHOUSE_AIRFLOW_RETRY_DELAY", "soon"),
        ("LAKEHOUSE_AIRFLOW_RETRIES", "-1"),
        ("LAKEHOUSE_AIRFLOW_RETRIES", "two"),
    ],
)
def test_invalid_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        config.PipelineConfig.from_env({name: value})


def test_retries_default_and_override() -> None:
    assert config.PipelineConfig.from_env({}).retries == 2
    assert config.PipelineConfig.from_env({"LAKEHOUSE_AIRFLOW_RETRIES": "0"}).retries == 0


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
