"""Task factories shared by the lakehouse DAGs: each source DAG ingests, one DAG transforms.

Every source DAG (chesscom_daily, chesscom_monthly, oura_daily, whoop_daily) ends with its
ingestion:

1. `spark_conf` (spark-submit only): `lakehouse spark-conf` writes the Spark properties of
   this deployment (jars, `lake` catalog; no secrets) to a file the next task submits with.
2. `ingest`: `spark_jobs/jobs/ingest.py --source NAME --<accounts> ... --from X --to Y`, by
   spark-submit on the `spark_default` connection (the main venv's pyspark and python), or
   as the source's AWS Glue job when LAKEHOUSE_AIRFLOW_LAUNCHER=glue. Its outlet is the
   source's bronze Asset, `lakehouse://bronze/<source>`.

The DAG `lakehouse_transform` is scheduled on those assets (any of them) and runs
`transform_audit_publish`: `lakehouse transform`: dbt builds every mart on an audit branch,
runs every data and unit test there, and publishes (fast-forwards `main`) only if all of
them passed. A failed test exits 1: nothing is published, the task fails and so does the
DAG run, and readers keep the previous marts.

Nothing here runs at parse time but building operators: commands are strings, the periods
and accounts are Jinja rendered when the task runs.
"""

from __future__ import annotations

import functools
import operator
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, BaseOperator, XComArg, task

from lakehouse_dags.config import (
    PipelineConfig,
    SourceSpec,
    bronze_asset_uri,
    start_date_from_env,
)
from lakehouse_dags.months import day_from, day_to, month_from, month_to

MONTH_MACROS = {"month_from": month_from, "month_to": month_to}
"""`user_defined_macros` of every DAG that ingests by month."""

DAY_MACROS = {"day_from": day_from, "day_to": day_to}
"""`user_defined_macros` of every DAG that ingests by day."""

FROM_MONTH = "{{ month_from(data_interval_start, data_interval_end) }}"
TO_MONTH = "{{ month_to(data_interval_start, data_interval_end) }}"
TO_DAY = "{{ day_to(data_interval_start, data_interval_end) }}"


def from_month(overlap: int) -> str:
    """The `--from` template of a monthly-read daily DAG: the month of its interval's first
    day minus `overlap` days."""
    return f"{{{{ month_from(data_interval_start, data_interval_end, {int(overlap)}) }}}}"


def from_day(overlap: int) -> str:
    """The `--from` template of a daily DAG: its interval's first day minus `overlap` days."""
    return f"{{{{ day_from(data_interval_start, data_interval_end, {int(overlap)}) }}}}"


def accounts_template(source: SourceSpec) -> str:
    """Comma-separated accounts from the source's Variable, e.g. `chesscom_players`
    (AIRFLOW_VAR_CHESSCOM_PLAYERS), rendered when the task runs."""
    return f"{{{{ var.value.{source.variable} | replace(' ', '') }}}}"


def job_args(source: SourceSpec, *, first: str, last: str) -> dict[str, str]:
    """Arguments of spark_jobs/jobs/ingest.py for the source, its accounts and the period."""
    return {
        "--source": source.name,
        f"--{source.accounts}": accounts_template(source),
        "--from": first,
        "--to": last,
    }


def bronze_asset(source: str) -> Asset:
    """The Asset a source's ingest task updates: `lakehouse://bronze/<source>`."""
    return Asset(bronze_asset_uri(source))


def any_bronze(sources: Sequence[str]):
    """`Asset(a) | Asset(b) | ...`: a schedule that runs after any of the sources' ingests."""
    if not sources:
        raise ValueError("name at least one source whose bronze the DAG follows")
    return functools.reduce(operator.or_, [bronze_asset(s) for s in sources])


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

    LAKEHOUSE_AIRFLOW_RETRIES retries (default 2); the first waits
    LAKEHOUSE_AIRFLOW_RETRY_DELAY seconds (default 120), each next one twice as long, at
    most 30 minutes: an API hiccup or a busy catalog clears in minutes. A failed audit
    fails again on retry (same data) and publishes nothing.
    """
    cfg = cfg or PipelineConfig.from_env()
    return {
        "owner": "lakehouse",
        "retries": cfg.retries,
        "retry_delay": timedelta(seconds=cfg.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=30),
    }


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
    cfg: PipelineConfig, source: SourceSpec, *, first: str, last: str
) -> tuple[BaseOperator, BaseOperator]:
    """Task `ingest` (after `spark_conf` for spark-submit): spark_jobs/jobs/ingest.py.

    Args:
        source: what the DAG ingests (its name in spark_jobs/sources.py, accounts option).
        first, last: `--from` / `--to`, usually templates of the data interval.

    Returns:
        (first task, the ingest task): `spark_conf` and `ingest`, or `ingest` twice (Glue).
        The ingest task's outlet is the source's bronze Asset.
    """
    args = job_args(source, first=first, last=last)
    outlets = [bronze_asset(source.name)]
    doc = (
        f"Ingest `{source.name}`: `spark_jobs/jobs/ingest.py --source {source.name}` "
        f"({cfg.launcher}) for the data interval; API -> raw -> bronze, idempotent (MERGE "
        f"on natural keys). Accounts: Variable `{source.variable}`. On success it updates "
        f"the Asset `{source.asset_uri}`, which schedules `lakehouse_transform`."
    )
    if cfg.launcher == "glue":
        from airflow.providers.amazon.aws.operators.glue import GlueJobOperator

        default_arguments = {"--datalake-formats": "iceberg", "--source": source.name}
        if cfg.glue.extra_py_files:
            default_arguments["--extra-py-files"] = cfg.glue.extra_py_files
        glue_job = GlueJobOperator(
            task_id="ingest",
            job_name=cfg.glue.job_name(source.name),
            script_location=cfg.glue.script_location(),
            iam_role_name=cfg.glue.iam_role_name,
            region_name=cfg.glue.region,
            aws_conn_id=cfg.glue.aws_conn_id,
            script_args=args,
            create_job_kwargs={
                "GlueVersion": cfg.glue.glue_version,
                "DefaultArguments": default_arguments,
            },
            wait_for_completion=True,
            verbose=True,
            pool=cfg.pool,
            execution_timeout=timedelta(hours=3),
            outlets=outlets,
            doc_md=doc,
        )
        return glue_job, glue_job
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    conf_file = spark_conf(cfg)
    submit = SparkSubmitOperator(
        task_id="ingest",
        conn_id=cfg.spark_conn_id,
        application=str(cfg.job_script),
        # An XComArg: rendered from spark_conf's output, which also makes it upstream.
        properties_file=conf_file,
        application_args=_flatten(args),
        name=f"{source.name}-ingest",
        env_vars=spark_submit_env(cfg),
        pool=cfg.pool,
        execution_timeout=timedelta(hours=3),
        outlets=outlets,
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
        # --wait: a transform started by hand holds the lakehouse lock; queue behind it
        # (up to an hour) rather than fail with exit 75.
        return f'exec "{cfg.lakehouse}" transform --target {cfg.dbt_target} --wait\n'

    return transform_command()
