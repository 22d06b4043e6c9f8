"""
### lakehouse_transform: rebuild and publish the marts after any source's bronze changed

Scheduled on the bronze Assets of the source DAGs (Airflow 3 asset expression: any of
them): `lakehouse://bronze/chesscom` (updated by `chesscom_daily` and `chesscom_monthly`)
or `lakehouse://bronze/oura` (`oura_daily`). A run starts once one of them was updated
since the last run, and covers every source that changed meanwhile: dbt builds every mart.

`transform_audit_publish`: `lakehouse transform` builds every dbt mart on the Iceberg
branch `audit`, runs all data and unit tests there, and publishes (fast-forwards `main`)
only if every test passed; a failing test fails the run and publishes nothing, and the
dashboards keep the previous marts. max_active_runs=1: builds never overlap (they share
the audit branch); source updates during a build start the next run after it.

A new source adds its DAG file (ingest with the outlet `lakehouse://bronze/<source>`) and
its name to SOURCES below. Set-up and configuration: `dags/README.md`.
"""

from __future__ import annotations

from airflow.sdk import dag
from lakehouse_dags import tasks
from lakehouse_dags.config import PipelineConfig

SOURCES = ("chesscom", "oura", "whoop")
"""The sources whose bronze Asset triggers this DAG (their DAG files ingest them)."""


@dag(
    dag_id="lakehouse_transform",
    schedule=tasks.any_bronze(SOURCES),
    start_date=tasks.start_date(),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.default_args(),
    tags=["lakehouse", "transform", "dbt"],
    doc_md=__doc__,
)
def lakehouse_transform() -> None:
    cfg = PipelineConfig.from_env()
    tasks.transform_audit_publish(cfg)


lakehouse_transform()
