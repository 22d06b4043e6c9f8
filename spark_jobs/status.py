"""What the lakehouse holds and how its runs went, for `lakehouse status`.

    lakehouse status            # the transform runs and every source
    lakehouse status oura       # one source

The latest transform runs (a publish cut short says so); then per source the run log per
account (runs, how the last one ended, the last success), with a run whose process is
gone shown as `interrupted` even before the next run closes it, then what bronze holds
per account (the source's `coverage`: months and games per chess.com player, days and
documents per Oura account), then advice for accounts whose data has no logged run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pyspark.sql import SparkSession

from spark_jobs.common.source import Source
from spark_jobs.common.state import RUNS_TABLE, process_gone

RUN_COLUMNS = ["account", "runs", "last_status", "last_started_utc", "last_success_utc", "note"]


@dataclass
class SourceStatus:
    source: Source
    runs: list[tuple] = field(default_factory=list)  # RUN_COLUMNS
    coverage_columns: list[str] = field(default_factory=list)
    coverage: list[tuple] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.runs and not self.coverage


def _ts(value: datetime | None) -> str | None:
    """A run-log time (UTC) to the second."""
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else None


def _ingest_hint(src: Source, account: str) -> str:
    return f"lakehouse ingest {src.name} --{src.account.name} {account}"


def run_rows(spark: SparkSession, src: Source) -> list[tuple]:
    """One row per account of `src` in the run log (RUN_COLUMNS)."""
    if not spark.catalog.tableExists(RUNS_TABLE.identifier):
        return []
    # A run log from before pid/host were kept gains them at the next ingest, not here.
    have = set(spark.table(RUNS_TABLE.identifier).columns)
    pid = "max_by(pid, started_at)" if "pid" in have else "cast(null as int)"
    host = "max_by(host, started_at)" if "host" in have else "cast(null as string)"
    rows = spark.sql(
        f"""
        select account, count(distinct run_id) as runs,
               max_by(status, started_at) as last_status,
               max(started_at) as last_started,
               max(case when status = 'success' then finished_at end) as last_success,
               {pid} as pid, {host} as host,
               max_by(error, started_at) as error
        from {RUNS_TABLE.identifier} where source = '{src.name}'
        group by account order by account
        """
    ).collect()
    out = []
    for r in rows:
        status, note = r.last_status, ""
        if status == "running":
            if process_gone(r.pid, r.host):
                status = "interrupted"
                note = (
                    f"process {r.pid} ended before the run finished; "
                    f"`{_ingest_hint(src, r.account)}` resumes it"
                )
            else:
                note = f"in progress: pid {r.pid} on {r.host}"
        elif status in ("failed", "interrupted") and r.error:
            note = r.error.splitlines()[0][:160]
        out.append((r.account, r.runs, status, _ts(r.last_started), _ts(r.last_success), note))
    return out


def source_status(spark: SparkSession, src: Source) -> SourceStatus:
    st = SourceStatus(src, runs=run_rows(spark, src))
    st.coverage_columns, st.coverage = src.coverage(spark)
    logged = {r[0] for r in st.runs}
    for account in [c[0] for c in st.coverage if c[0] not in logged]:
        st.advice.append(
            f"{account}: data in bronze but no logged run (written by `lakehouse rebuild` or "
            f"before the run log kept every run); `{_ingest_hint(src, account)}` checks it "
            "against the API and logs a run"
        )
    return st


def lakehouse_status(spark: SparkSession, sources: Sequence[Source]) -> list[SourceStatus]:
    return [source_status(spark, src) for src in sources]


TRANSFORM_COLUMNS = ["run_id", "status", "started_utc", "finished_utc", "note"]


def transform_rows(spark: SparkSession, last: int = 5) -> list[tuple]:
    """The latest transform runs (TRANSFORM_COLUMNS), newest first; a run whose process is
    gone shows as `interrupted`, or `publish cut short` if it died while publishing."""
    from spark_jobs.transform_log import TRANSFORM_RUNS_TABLE

    if not spark.catalog.tableExists(TRANSFORM_RUNS_TABLE.identifier):
        return []
    rows = (
        spark.table(TRANSFORM_RUNS_TABLE.identifier)
        .orderBy("started_at", ascending=False)
        .limit(last)
        .collect()
    )
    out = []
    for r in rows:
        status, note = r.status, r.note or ""
        if status in ("running", "publishing"):
            if not process_gone(r.pid, r.host):
                note = f"in progress: pid {r.pid} on {r.host}"
            elif status == "publishing":
                status = "publish cut short"
                note = (
                    "some marts are on this run's snapshots, the rest on the previous run's; "
                    "the next `lakehouse transform` completes the publish first"
                )
            else:
                status, note = "interrupted", "ended before its publish: nothing published"
        out.append((r.run_id, status, _ts(r.started_at), _ts(r.finished_at), note[:160]))
    return out


def as_text(
    statuses: Sequence[SourceStatus], format_rows: Any, transforms: Sequence[tuple] = ()
) -> str:
    """The report as `lakehouse status` prints it (`format_rows(columns, rows, "table")`)."""
    parts = []
    if transforms:
        parts += ["== transform (lake.marts)", format_rows(TRANSFORM_COLUMNS, transforms, "table")]
    for st in statuses:
        src = st.source
        parts.append(f"== {src.title} ({src.name})")
        if st.empty:
            parts.append(f"nothing ingested yet: `lakehouse ingest {src.name} --help`")
            continue
        if st.runs:
            parts.append(format_rows(RUN_COLUMNS, st.runs, "table"))
        if st.coverage:
            parts.append(format_rows(st.coverage_columns, st.coverage, "table"))
        parts.extend(st.advice)
    return "\n".join(p.rstrip("\n") for p in parts) + "\n"
