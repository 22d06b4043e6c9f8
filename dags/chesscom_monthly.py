"""
### chesscom_monthly: close the finished month of chess.com games in bronze

The data interval is the previous calendar month (the run starts on the 1st, 00:00 UTC).
chess.com keeps refreshing an archive for a while after the month ends; the ingestion
stores a month as final (never requested again) only when it was fetched at least a day
after the month ended (`is_month_final` in `spark_jobs/chesscom/ingest.py`). So
`wait_for_month_final` defers (no worker slot held) until that grace, plus an hour of
margin, has passed after the interval end; then the month is ingested.

`wait_for_month_final` -> `spark_conf` -> `ingest` (`spark_jobs/jobs/ingest.py --source
chesscom`). The ingest task updates the Asset `lakehouse://bronze/chesscom`, which
schedules `lakehouse_transform` (the marts, through the write-audit-publish gate).

Catchup is on: a month missed while the scheduler was down is still closed later, in
order (max_active_runs=1). Runs start at LAKEHOUSE_AIRFLOW_START_DATE; older history:
`airflow backfill create --dag-id chesscom_monthly --from-date ... --to-date ...`.
Players: Variable `chesscom_players`. Set-up and configuration: `dags/README.md`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import CronDataIntervalTimetable, dag
from lakehouse_dags import tasks
from lakehouse_dags.config import PipelineConfig, SourceSpec
from lakehouse_dags.months import CHESSCOM_FINAL_GRACE

SOURCE = SourceSpec(name="chesscom", accounts="players")


@dag(
    dag_id="chesscom_monthly",
    # Interval = the previous calendar month [1st 00:00, next 1st 00:00) UTC.
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="UTC"),
    start_date=tasks.start_date(),
    catchup=True,
    max_active_runs=1,
    default_args=tasks.default_args(),
    user_defined_macros=tasks.MONTH_MACROS,
    tags=["lakehouse", "chesscom", "ingest"],
    doc_md=__doc__,
)
def chesscom_monthly() -> None:
    cfg = PipelineConfig.from_env()
    wait = TimeDeltaSensor(
        task_id="wait_for_month_final",
        # Measured from data_interval_end, i.e. the first instant after the month.
        delta=CHESSCOM_FINAL_GRACE + timedelta(hours=1),
        deferrable=True,
        timeout=timedelta(days=3).total_seconds(),
        doc_md="Wait until chess.com's archive of the month is final (grace after its end).",
    )
    first, _ = tasks.ingest(cfg, SOURCE, first=tasks.FROM_MONTH, last=tasks.TO_MONTH)
    wait >> first


chesscom_monthly()
