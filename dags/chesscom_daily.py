"""
### chesscom_daily: refresh the current month of chess.com games into bronze

Runs once a day on the UTC day that just ended (data interval [day, day + 1)). The months
touched by the interval (end exclusive) are ingested with `--from/--to`, so the run after
the last day of a month still re-reads that month, and a backfill or a manual run with a
longer interval ingests every month it covers.

`spark_conf` -> `ingest` (spark-submit of `spark_jobs/jobs/ingest.py --source chesscom`, or
the Glue job `lakehouse-chesscom-ingest`). The ingest task updates the Asset
`lakehouse://bronze/chesscom`, which schedules `lakehouse_transform` (dbt with
write-audit-publish: a failing test fails that run and publishes nothing).

Players: Airflow Variable `chesscom_players` (comma-separated; e.g. env
`AIRFLOW_VAR_CHESSCOM_PLAYERS=hikaru,magnuscarlsen`). Catchup is off on purpose: every run
re-reads the whole month, so a missed day is covered by the next run; finished months are
closed by `chesscom_monthly`. Set-up and configuration: `dags/README.md`.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag
from lakehouse_dags import tasks
from lakehouse_dags.config import PipelineConfig, SourceSpec

SOURCE = SourceSpec(name="chesscom", accounts="players")


@dag(
    dag_id="chesscom_daily",
    # Explicit data intervals: Airflow 3's cron default has data_interval_start == end.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=tasks.start_date(),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.default_args(),
    user_defined_macros=tasks.MONTH_MACROS,
    tags=["lakehouse", "chesscom", "ingest"],
    doc_md=__doc__,
)
def chesscom_daily() -> None:
    cfg = PipelineConfig.from_env()
    tasks.ingest(cfg, SOURCE, first=tasks.FROM_MONTH, last=tasks.TO_MONTH)


chesscom_daily()
