"""Incremental state, kept in the lakehouse so any machine resumes where the last run stopped.

- `lake.raw.ingest_state`: one row per (source, account, resource, period) with the
  validators (ETag, Last-Modified) of the last response whose rows reached bronze, when it
  was checked, and whether the period is final (a finished chess.com month, say).
- `lake.raw.ingest_runs`: one row per (run, account), written when the account's run
  starts (status `running`, with its pid and host) and updated when it ends (`success`,
  `failed`, or `interrupted` for Ctrl-C/SIGTERM): what was asked, what it cost, how it
  ended. A run killed outright stays `running`; the next run of that account (which holds
  the account's lock, so the old process is gone) marks it `interrupted` with what it had
  committed, and `lakehouse status` shows it so at once when its process is gone.
  "Last successful run per player" is a query on it.

State is written only after the bronze MERGE commits, so a run killed halfway leaves
state pointing at the last data that is really in bronze, and the rerun redoes the rest.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from spark_jobs.common.iceberg import TableSpec, append, ensure_table, merge

STATE_SCHEMA = StructType(
    [
        StructField("source", StringType(), False),
        StructField("account", StringType(), False),
        StructField("resource", StringType(), False),
        StructField("period", StringType(), False),
        StructField("url", StringType(), True),
        StructField("etag", StringType(), True),
        StructField("last_modified", StringType(), True),
        StructField("http_status", IntegerType(), True),
        StructField("is_final", BooleanType(), False),
        StructField("checked_at", TimestampType(), False),
        StructField("changed_at", TimestampType(), True),
        StructField("run_id", StringType(), False),
    ]
)

RUNS_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("source", StringType(), False),
        StructField("account", StringType(), False),
        StructField("started_at", TimestampType(), False),
        StructField("finished_at", TimestampType(), True),  # null while running
        # running | success | failed | interrupted
        StructField("status", StringType(), False),
        StructField("arguments", StringType(), True),
        StructField("requests", IntegerType(), True),
        StructField("not_modified", IntegerType(), True),
        StructField("bytes_received", LongType(), True),
        StructField("responses_kept", IntegerType(), True),
        StructField("rows_merged", LongType(), True),
        StructField("error", StringType(), True),
        StructField("pid", IntegerType(), True),
        StructField("host", StringType(), True),
    ]
)

STATE_TABLE = TableSpec(
    namespace="raw",
    name="ingest_state",
    schema=STATE_SCHEMA,
    keys=("source", "account", "resource", "period"),
    comment="Incremental state per source/account/period: validators, finality",
)
RUNS_TABLE = TableSpec(
    namespace="raw",
    name="ingest_runs",
    schema=RUNS_SCHEMA,
    partition_by=("source",),
    keys=("run_id", "account"),
    comment="One row per ingestion run and account: arguments, cost, outcome",
)


@dataclass(frozen=True)
class PeriodState:
    """The stored state of one period of one resource."""

    source: str
    account: str
    resource: str
    period: str
    url: str | None
    etag: str | None
    last_modified: str | None
    http_status: int | None
    is_final: bool
    checked_at: datetime
    changed_at: datetime | None
    run_id: str

    def as_row(self) -> tuple:
        return (
            self.source,
            self.account,
            self.resource,
            self.period,
            self.url,
            self.etag,
            self.last_modified,
            self.http_status,
            self.is_final,
            self.checked_at.replace(tzinfo=None),
            self.changed_at.replace(tzinfo=None) if self.changed_at else None,
            self.run_id,
        )


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    source: str
    account: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    arguments: str
    requests: int = 0
    not_modified: int = 0
    bytes_received: int = 0
    responses_kept: int = 0
    rows_merged: int = 0
    error: str | None = None
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)

    def as_row(self) -> tuple:
        return (
            self.run_id,
            self.source,
            self.account,
            self.started_at.replace(tzinfo=None),
            self.finished_at.replace(tzinfo=None) if self.finished_at else None,
            self.status,
            self.arguments,
            self.requests,
            self.not_modified,
            self.bytes_received,
            self.responses_kept,
            self.rows_merged,
            self.error,
            self.pid,
            self.host,
        )


def ensure_state_tables(spark: SparkSession) -> None:
    ensure_table(spark, STATE_TABLE)
    ensure_table(spark, RUNS_TABLE)


def load_state(
    spark: SparkSession, source: str, account: str, resource: str
) -> dict[str, PeriodState]:
    """period -> stored state, for one account's resource."""
    rows = (
        spark.table(STATE_TABLE.identifier)
        .where(
            (F.col("source") == source)
            & (F.col("account") == account)
            & (F.col("resource") == resource)
        )
        .collect()
    )
    return {r["period"]: PeriodState(**r.asDict()) for r in rows}


def save_state(spark: SparkSession, states: Sequence[PeriodState]) -> None:
    """Upsert period states in one commit."""
    if not states:
        return
    df = spark.createDataFrame([s.as_row() for s in states], STATE_SCHEMA)
    merge(spark, df, STATE_TABLE)


def record_run(spark: SparkSession, runs: Sequence[RunRecord], *, new: bool = False) -> None:
    """Write run records in one commit: `new` start rows (an append, the cheaper commit),
    else rows that replace the ones of the same (run, account)."""
    if not runs:
        return
    rows = spark.createDataFrame([r.as_row() for r in runs], RUNS_SCHEMA)
    if new:
        append(rows, RUNS_TABLE)
    else:
        merge(spark, rows, RUNS_TABLE)


def process_gone(pid: int | None, host: str | None) -> bool:
    """Whether a `running` row's process has certainly ended (known only on its own host)."""
    from spark_jobs.common.lock import pid_alive

    return pid is not None and host == socket.gethostname() and not pid_alive(pid)


def close_interrupted(spark: SparkSession, source: str, account: str, raw_table: str) -> int:
    """Mark the account's runs still `running` as `interrupted`, with what they committed.

    Call it holding the account's lock: no live run of the account can exist then, so a
    `running` row is a run that was killed (kill -9, a lost machine) before it could say so.
    Returns how many runs it marked.
    """
    stale = (
        spark.table(RUNS_TABLE.identifier)
        .where(
            (F.col("source") == source)
            & (F.col("account") == account)
            & (F.col("status") == "running")
        )
        .collect()
    )
    if not stale:
        return 0
    ids = [r.run_id for r in stale]
    kept = dict(
        spark.table(raw_table)
        .where(F.col("run_id").isin(ids) & (F.col("account") == account))
        .groupBy("run_id")
        .count()
        .collect()
    )
    saved = dict(
        spark.table(STATE_TABLE.identifier)
        .where(F.col("run_id").isin(ids) & (F.col("source") == source))
        .where(F.col("account") == account)
        .groupBy("run_id")
        .count()
        .collect()
    )
    records = []
    for r in stale:
        responses, periods = kept.get(r.run_id, 0), saved.get(r.run_id, 0)
        note = (
            f"interrupted: process {r.pid} on {r.host} ended before the run finished; it had "
            f"kept {responses} responses in raw and saved the state of {periods} periods "
            "(bronze holds what those periods merged); the next run redid the rest"
        )
        row = r.asDict()
        records.append(
            RunRecord(
                **{
                    **row,
                    "status": "interrupted",
                    "responses_kept": responses,
                    "error": note,
                    "pid": r.pid,
                    "host": r.host,
                }
            )
        )
    record_run(spark, records)
    return len(records)
