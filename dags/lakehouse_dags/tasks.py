"""Task factories shared by the lakehouse DAGs: spark_conf -> ingest -> transform_audit_publish.

Every source DAG runs the same three steps on its data interval:

1. `spark_conf` (spark-submit only): `lakehouse spark-conf` writes the Spark properties of
   this deployment (jars, `lake` catalog; no secrets) to a file the next task submits with.
2. `ingest`: the source's job file under spark_jobs/jobs/, by spark-submit on the
   `spark_default` connection (the main venv's pyspark and python), or as an AWS Glue job
   when LAKEHOUSE_AIRFLOW_LAUNCHER=glue.
3. `transform_audit_publish`: `lakehouse transform`: dbt builds every mart on an audit
   branch, runs every data and unit test there, and publishes (fast-forwards `main`) only
   if all of them passed. A failed test exits 1: nothing is published, the task fails and
   so does the DAG run, and readers keep the previous marts.

Nothing here runs at parse time but building operators: commands are strings, the months
and players are Jinja rendered when the task runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator, XComArg, task

from lakehouse_dags.config import PipelineConfig, start_date_from_env
from lakehouse_dags.months import month_from, month_to

RETRIES = 2

MONTH_MACROS = {"month_from": month_from, "month_to": month_to}
"""`user_defined_macros` of every DAG that ingests by month."""

FROM_MONTH = "{{ month_from(data_interval_start, data_interval_end) }}"
TO_MONTH = "{{ month_to(data_interval_start, data_interval_end) }}"
CHESSCOM_PLAYERS = "{{ var.value.chesscom_players | replace(' ', '') }}"
"""Comma-separated usernames from the Variable `chesscom_players` (AIRFLOW_VAR_CHESSCOM_PLAYERS)."""

_TRANSFORM_DOC = """\
**Write-audit-publish gate.** `lakehouse transform` builds every dbt mart on the Iceberg
branch `audit`, runs all data and unit tests against it, and fast-forwards `main` only if
every test passed. A failing test exits 1: **nothing is published**, this task and the DAG
run fail, and dashboards keep reading the previous marts. Inspect the rejected data with
`select * from lake.marts.<mart> version as of 'audit'`.
"""


def start_date() -> datetime:
    """First data interval of the DAGs: LAKEHOUSE_AIRFLOW_START_DATE (ISO date, UTC)."""
    return start_date_from_env()


def default_args(cfg: PipelineConfig | None = None) -> dict[str, Any]:
    """default_args of every lakehouse DAG: retries with exponential backoff, capped.

    The first retry waits LAKEHOUSE_AIRFLOW_RETRY_DELAY seconds (default 120), each next
    one twice as long, at most 30 minutes: an API hiccup or a busy catalog clears in
    minutes. A failed audit fails again on retry (same data) and publishes nothing.
    """
    cfg = cfg or PipelineConfig.from_env()
    return {
        "owner": "lakehouse",
        "retries": RETRIES,
        "retry_delay": timedelta(seconds=cfg.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
    }


def chesscom_job_args() -> dict[str, str]:
    """Arguments of spark_jobs/jobs/chesscom_ingest.py for the run's interval and players."""
    return {"--players": CHESSCOM_PLAYERS, "--from": FROM_MONTH, "--to": TO_MONTH}


def spark_conf(cfg: PipelineConfig) -> XComArg:
    """Task `spark_conf`: write the Spark properties file; its path is the XCom value."""
    folder = f"{cfg.work_dir}/{{{{ dag.dag_id }}}}"

    @task.bash(
        task_id="spark_conf",
        cwd=str(cfg.project_dir),
        execution_timeout=timedelta(minutes=10),
        doc_md="`lakehouse spark-conf`: jars and `lake` catalog settings for spark-submit.",
    )
    def spark_conf_command() -> str:
        # The last line printed is the task's XCom: the file the ingest task submits with.
        return (
            "set -euo pipefail\n"
            f'dir="{folder}"\n'
            'dir="${dir/#\\~/$HOME}"\n'
            'mkdir -p "$dir"\n'
            f'"{cfg.lakehouse}" spark-conf --output "$dir/spark.properties" >&2\n'
            'echo "$dir/spark.properties"\n'
        )

    return spark_conf_command()


def _flatten(args: Mapping[str, str]) -> list[str]:
    return [item for pair in args.items() for item in pair]


def spark_submit_env(cfg: PipelineConfig) -> dict[str, str]:
    """Environment of spark-submit: the main venv's Spark launcher, driver and workers.

    The provider runs the binary `spark-submit` found on PATH (its `spark-home` extra is
    gone), so the main venv's bin goes first on PATH; SPARK_HOME is that venv's pyspark
    (so the launcher skips its own lookup), and the driver and workers run its python,
    which has the `spark_jobs` package installed.
    """
    return {
        "PATH": f"{cfg.lakehouse_bin}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "SPARK_HOME": str(cfg.spark_home),
        "PYSPARK_PYTHON": str(cfg.python),
        "PYSPARK_DRIVER_PYTHON": str(cfg.python),
    }


def ingest(
    cfg: PipelineConfig, *, job: str, job_args: Mapping[str, str]
) -> tuple[BaseOperator, BaseOperator]:
    """Task `ingest` (after `spark_conf` for spark-submit): run spark_jobs/jobs/<job>.py.

    Returns:
        (first task, the ingest task): `spark_conf` and `ingest`, or `ingest` twice (Glue).
    """
    doc = (
        f"Ingest: `spark_jobs/jobs/{job}.py` ({cfg.launcher}) for the months of the data "
        "interval; API -> raw -> bronze, idempotent (MERGE on natural keys)."
    )
    if cfg.launcher == "glue":
        from airflow.providers.amazon.aws.operators.glue import GlueJobOperator

        default_arguments = {"--datalake-formats": "iceberg"}
        if cfg.glue.extra_py_files:
            default_arguments["--extra-py-files"] = cfg.glue.extra_py_files
        glue_job = GlueJobOperator(
            task_id="ingest",
            job_name=cfg.glue.job_name(job),
            script_location=cfg.glue.script_location(job),
            iam_role_name=cfg.glue.iam_role_name,
            region_name=cfg.glue.region,
            aws_conn_id=cfg.glue.aws_conn_id,
            script_args=dict(job_args),
            create_job_kwargs={
                "GlueVersion": cfg.glue.glue_version,
                "DefaultArguments": default_arguments,
            },
            wait_for_completion=True,
            verbose=True,
            pool=cfg.pool,
            execution_timeout=timedelta(hours=3),
            doc_md=doc,
        )
        return glue_job, glue_job
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    conf_file = spark_conf(cfg)
    submit = SparkSubmitOperator(
        task_id="ingest",
        conn_id=cfg.spark_conn_id,
        application=str(cfg.job_script(job)),
        # An XComArg: rendered from spark_conf's output, which also makes it upstream.
        properties_file=conf_file,
        application_args=_flatten(job_args),
        name=job,
        env_vars=spark_submit_env(cfg),
        pool=cfg.pool,
        execution_timeout=timedelta(hours=3),
        doc_md=doc,
    )
    return conf_file.operator, submit


def transform_audit_publish(cfg: PipelineConfig) -> XComArg:
    """Task `transform_audit_publish`: dbt build + tests on the audit branch, then publish."""

    @task.bash(
        task_id="transform_audit_publish",
        cwd=str(cfg.project_dir),
        pool=cfg.pool,
        execution_timeout=timedelta(hours=2),
        doc_md=_TRANSFORM_DOC,
    )
    def transform_command() -> str:
        # Exit 1 = a dbt test failed and nothing was published: the task fails on purpose.
        return f'exec "{cfg.lakehouse}" transform --target {cfg.dbt_target}\n'

    return transform_command()


def ingest_and_publish(
    cfg: PipelineConfig, *, job: str, job_args: Mapping[str, str]
) -> tuple[BaseOperator, BaseOperator]:
    """Wire [spark_conf ->] ingest -> transform_audit_publish.

    Returns:
        (first task, last task), to put sensors before or tasks after the chain.
    """
    first, ingest_task = ingest(cfg, job=job, job_args=job_args)
    transform_task = transform_audit_publish(cfg).operator
    ingest_task >> transform_task
    return first, transform_task
