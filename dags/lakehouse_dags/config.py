"""Configuration of the lakehouse DAGs, from environment variables only.

Read while Airflow parses the DAG files, so it must stay cheap: no file, network or
database access, no Airflow Variables (those are rendered by Jinja at run time). No Airflow
imports either, so the main venv's tests can check it. Every variable is listed in
dags/README.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

LAUNCHERS = ("spark-submit", "glue")
DBT_TARGETS = ("local", "trino")
_DAGS_DIR = Path(__file__).resolve().parent.parent
# The project pins Python 3.11 (pyproject.toml): where pip puts pyspark in the main venv.
_PYSPARK_IN_VENV = Path("lib") / "python3.11" / "site-packages" / "pyspark"


DEFAULT_START_DATE = "2026-01-01"


def start_date_from_env(env: Mapping[str, str] | None = None) -> datetime:
    """LAKEHOUSE_AIRFLOW_START_DATE (YYYY-MM-DD, UTC; default 2026-01-01) as an aware datetime.

    Raises:
        ValueError: not an ISO date.
    """
    env = os.environ if env is None else env
    value = env.get("LAKEHOUSE_AIRFLOW_START_DATE") or DEFAULT_START_DATE
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"LAKEHOUSE_AIRFLOW_START_DATE={value!r} is not a YYYY-MM-DD date"
        ) from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise ValueError(f"{name}={value!r} must be a positive number of seconds")
    return number


def _retries(env: Mapping[str, str]) -> int:
    value = env.get("LAKEHOUSE_AIRFLOW_RETRIES")
    if not value:
        return 2
    if not value.isdigit():
        raise ValueError(f"LAKEHOUSE_AIRFLOW_RETRIES={value!r} must be a whole number >= 0")
    return int(value)


INGEST_JOB = "ingest"
"""The one ingestion entrypoint, spark_jobs/jobs/ingest.py, run with `--source NAME`."""


@dataclass(frozen=True)
class SourceSpec:
    """What a source DAG declares about the source it ingests.

    The DAGs cannot import `spark_jobs` (it lives in the main venv, not Airflow's), so each
    source DAG file names its source as registered in spark_jobs/sources.py and the job
    option of its accounts; the tests check both against the registry.
    """

    name: str  # as in spark_jobs/sources.py: `ingest.py --source <name>`
    accounts: str  # the job's option for the accounts, plural: `--<accounts> a,b`

    @property
    def variable(self) -> str:
        """The Airflow Variable holding the accounts, e.g. chesscom_players, oura_accounts."""
        return f"{self.name}_{self.accounts}"

    @property
    def asset_uri(self) -> str:
        """The URI of the source's bronze Asset (the ingest task's outlet)."""
        return bronze_asset_uri(self.name)


def bronze_asset_uri(source: str) -> str:
    """`lakehouse://bronze/<source>`: updated by the source's ingest, read by the transform."""
    return f"lakehouse://bronze/{source}"


def overlap_days_from_env(source: str, default: int, env: Mapping[str, str] | None = None) -> int:
    """LAKEHOUSE_<SOURCE>_OVERLAP_DAYS: how many days before its interval a daily run re-reads.

    Raises:
        ValueError: not a whole number of days >= 0.
    """
    env = os.environ if env is None else env
    name = f"LAKEHOUSE_{source.upper()}_OVERLAP_DAYS"
    value = env.get(name)
    if not value:
        return default
    try:
        days = int(value)
    except ValueError:
        days = -1
    if days < 0:
        raise ValueError(f"{name}={value!r} must be a whole number of days (0 or more)")
    return days


@dataclass(frozen=True)
class GlueConfig:
    """Where and how AWS Glue runs the ingestion (LAKEHOUSE_AIRFLOW_LAUNCHER=glue).

    One Glue job per source, `<job_prefix><source>-ingest`, all running the one script
    `<scripts_uri>/ingest.py` with `--source <source>`: e.g. lakehouse-chesscom-ingest and
    s3://bucket/lakehouse/jobs/ingest.py (definition: infra/glue/ingest.json).
    """

    job_prefix: str = "lakehouse-"
    scripts_uri: str | None = None
    iam_role_name: str | None = None
    region: str | None = None
    aws_conn_id: str = "aws_default"
    glue_version: str = "5.0"
    extra_py_files: str | None = None

    def job_name(self, source: str) -> str:
        return f"{self.job_prefix}{source.replace('_', '-')}-{INGEST_JOB}"

    def script_location(self) -> str | None:
        return f"{self.scripts_uri.rstrip('/')}/{INGEST_JOB}.py" if self.scripts_uri else None


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the DAGs need to know about this deployment."""

    project_dir: Path
    lakehouse_bin: Path
    spark_home: Path
    launcher: str = "spark-submit"
    spark_conn_id: str = "spark_default"
    work_dir: str = "~/airflow/lakehouse"
    dbt_target: str = "local"
    pool: str = "default_pool"
    retry_delay_seconds: float = 120.0
    retries: int = 2
    glue: GlueConfig = GlueConfig()

    @property
    def python(self) -> Path:
        """The main venv's interpreter (pyspark, dbt and the `spark_jobs` package)."""
        return self.lakehouse_bin / "python"

    @property
    def lakehouse(self) -> Path:
        """The `lakehouse` CLI of the main venv."""
        return self.lakehouse_bin / "lakehouse"

    @property
    def job_script(self) -> Path:
        """Local path of the spark-submit entrypoint: spark_jobs/jobs/ingest.py."""
        return self.project_dir / "spark_jobs" / "jobs" / f"{INGEST_JOB}.py"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PipelineConfig:
        """Resolve the configuration from `env` (default: the process environment).

        Raises:
            ValueError: an invalid LAKEHOUSE_AIRFLOW_LAUNCHER or LAKEHOUSE_DBT_TARGET (the
                DAG files then show an import error naming the variable).
        """
        env = os.environ if env is None else env
        project = Path(env.get("LAKEHOUSE_PROJECT_DIR") or _DAGS_DIR.parent)
        lakehouse_bin = Path(env.get("LAKEHOUSE_BIN") or project / ".venv" / "bin")
        spark_home = Path(
            env.get("LAKEHOUSE_SPARK_HOME") or lakehouse_bin.parent / _PYSPARK_IN_VENV
        )
        launcher = (env.get("LAKEHOUSE_AIRFLOW_LAUNCHER") or "spark-submit").strip().lower()
        if launcher not in LAUNCHERS:
            raise ValueError(
                f"LAKEHOUSE_AIRFLOW_LAUNCHER={launcher!r} is not supported; "
                f"use one of: {', '.join(LAUNCHERS)}"
            )
        dbt_target = (env.get("LAKEHOUSE_DBT_TARGET") or "local").strip().lower()
        if dbt_target not in DBT_TARGETS:
            raise ValueError(
                f"LAKEHOUSE_DBT_TARGET={dbt_target!r} is not supported; "
                f"use one of: {', '.join(DBT_TARGETS)}"
            )
        airflow_home = env.get("AIRFLOW_HOME") or str(Path(env.get("HOME") or "/") / "airflow")
        glue = GlueConfig(
            job_prefix=env.get("LAKEHOUSE_GLUE_JOB_PREFIX") or "lakehouse-",
            scripts_uri=env.get("LAKEHOUSE_GLUE_SCRIPTS_URI") or None,
            iam_role_name=env.get("LAKEHOUSE_GLUE_IAM_ROLE") or None,
            region=(
                env.get("LAKEHOUSE_GLUE_REGION")
                or env.get("AWS_REGION")
                or env.get("AWS_DEFAULT_REGION")
                or None
            ),
            aws_conn_id=env.get("LAKEHOUSE_AWS_CONN_ID") or "aws_default",
            glue_version=env.get("LAKEHOUSE_GLUE_VERSION") or "5.0",
            extra_py_files=env.get("LAKEHOUSE_GLUE_EXTRA_PY_FILES") or None,
        )
        return cls(
            project_dir=project,
            lakehouse_bin=lakehouse_bin,
            spark_home=spark_home,
            launcher=launcher,
            spark_conn_id=env.get("LAKEHOUSE_AIRFLOW_SPARK_CONN_ID") or "spark_default",
            work_dir=env.get("LAKEHOUSE_AIRFLOW_WORK_DIR") or f"{airflow_home}/lakehouse",
            dbt_target=dbt_target,
            pool=env.get("LAKEHOUSE_AIRFLOW_POOL") or "default_pool",
            retry_delay_seconds=_positive_float(env, "LAKEHOUSE_AIRFLOW_RETRY_DELAY", 120.0),
            retries=_retries(env),
            glue=glue,
        )
