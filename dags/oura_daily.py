"""
### oura_daily: ingest the Oura days of the interval, and the week before it, into bronze

Runs once a day on the UTC day that just ended (data interval [day, day + 1)). Oura data
arrives late (the ring syncs when the phone app opens) and past days are rescored, so each
run re-reads an overlap before its interval: `--from` = the interval's first day minus
LAKEHOUSE_OURA_OVERLAP_DAYS days (default 7), `--to` = the interval's last day. The
ingestion MERGEs on natural keys, so the re-read days are updated, never duplicated.

`spark_conf` -> `ingest` (spark-submit of `spark_jobs/jobs/ingest.py --source oura`, or
the Glue job `lakehouse-oura-ingest`). The ingest task updates the Asset
`lakehouse://bronze/oura`, which schedules `lakehouse_transform` (dbt with
write-audit-publish: a failing test fails that run and publishes nothing).

Accounts: Airflow Variable `oura_accounts` (comma-separated names the accounts were
authorised under with `lakehouse auth oura`; e.g. env `AIRFLOW_VAR_OURA_ACCOUNTS=me`).
Catchup is off: an outage shorter than the overlap is covered by the next run; older days:
`airflow backfill create --dag-id oura_daily --from-date ... --to-date ...`. Set-up and
configuration: `dags/README.md`.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag
from lakehouse_dags import tasks
from lakehouse_dags.config import PipelineConfig, SourceSpec, overlap_days_from_env

SOURCE = SourceSpec(name="oura", accounts="accounts")
DEFAULT_OVERLAP_DAYS = 7
"""Days before the interval each run re-reads (LAKEHOUSE_OURA_OVERLAP_DAYS overrides)."""


@dag(
    dag_id="oura_daily",
    # Explicit data intervals: Airflow 3's cron default has data_interval_start == end.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=tasks.start_date(),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.default_args(),
    user_defined_macros=tasks.DAY_MACROS,
    tags=["lakehouse", "oura", "ingest"],
    doc_md=__doc__,
)
def oura_daily() -> None:
    cfg = PipelineConfig.from_env()
    overlap = overlap_days_from_env(SOURCE.name, DEFAULT_OVERLAP_DAYS)
    tasks.ingest(cfg, SOURCE, first=tasks.from_day(overlap), last=tasks.TO_DAY)


oura_daily()
