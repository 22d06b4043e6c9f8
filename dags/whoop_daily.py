"""
### whoop_daily: ingest the WHOOP months of the interval, and the week before it, into bronze

Runs once a day on the UTC day that just ended (data interval [day, day + 1)). WHOOP
rescores recent records (PENDING_SCORE becomes SCORED, a sleep is edited or deleted), so
each run re-reads the months from the one LAKEHOUSE_WHOOP_OVERLAP_DAYS days (default 7)
before its interval to the interval's month: `--from`/`--to` are months, since WHOOP is
read by calendar month. The ingestion MERGEs on natural keys and mirrors each month it
reads, so re-read records are updated, never duplicated, and deleted ones go.

`spark_conf` -> `ingest` (spark-submit of `spark_jobs/jobs/ingest.py --source whoop`, or
the Glue job `lakehouse-whoop-ingest`). The ingest task updates the Asset
`lakehouse://bronze/whoop`, which schedules `lakehouse_transform`.

Accounts: Airflow Variable `whoop_accounts` (comma-separated names the accounts were
authorised under with `lakehouse auth whoop`; e.g. env `AIRFLOW_VAR_WHOOP_ACCOUNTS=me`).
The token files must be readable by the worker (WHOOP_TOKEN_DIR); their refreshes are
locked, so the DAG and a terminal can share them. Catchup is off: an outage shorter than
the overlap is covered by the next run. Set-up and configuration: `dags/README.md`.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag
from lakehouse_dags import tasks
from lakehouse_dags.config import PipelineConfig, SourceSpec, overlap_days_from_env

SOURCE = SourceSpec(name="whoop", accounts="accounts")
DEFAULT_OVERLAP_DAYS = 7
"""Days before the interval each run re-reads (LAKEHOUSE_WHOOP_OVERLAP_DAYS overrides)."""


@dag(
    dag_id="whoop_daily",
    # Explicit data intervals: Airflow 3's cron default has data_interval_start == end.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=tasks.start_date(),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.default_args(),
    user_defined_macros=tasks.MONTH_MACROS,
    tags=["lakehouse", "whoop", "ingest"],
    doc_md=__doc__,
)
def whoop_daily() -> None:
    cfg = PipelineConfig.from_env()
    overlap = overlap_days_from_env(SOURCE.name, DEFAULT_OVERLAP_DAYS)
    tasks.ingest(cfg, SOURCE, first=tasks.from_month(overlap), last=tasks.TO_MONTH)


whoop_daily()
