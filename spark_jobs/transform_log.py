"""The transform run log, `lake.raw.transform_runs`, and the completion of a cut-short publish.

One row per `lakehouse transform` run on the local target, written when it starts and
updated as it goes:

    running -> publishing (with its plan: mart -> audited snapshot) -> published
            -> failed (an audit failed: nothing published) | unchanged (nothing to do)
            -> interrupted (Ctrl-C / SIGTERM, or killed before its publish began)

Iceberg commits one table at a time, so the marts of a publish reach `main` one after the
other (a fast-forward each, milliseconds apart). A run killed in between leaves some marts
on the new snapshots and the rest on the old: Spark and Trino readers of `lake.marts.*`
would see two runs, though the dashboards do not (their serving file is re-pinned only
after every mart is published). The next run, holding the transform lock (so the killed
one is gone), finds the row still `publishing` and first completes that plan as the killed
run would have: every mart still behind its audited snapshot is fast-forwarded to it and
the plan's table properties (inputs, dbt code fingerprint, watermarks) are set, the row
is marked `published` with a note, and the serving file re-pinned, before it builds
anything itself (usually nothing: the completed marts are current).
`lakehouse status` shows a run whose process is gone as `publish cut short`.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StringType, StructField, StructType, TimestampType

from spark_jobs.common.iceberg import TableSpec, ensure_table, merge
from spark_jobs.settings import CATALOG_NAME

TRANSFORM_RUNS_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("target", StringType(), False),
        StructField("started_at", TimestampType(), False),
        StructField("finished_at", TimestampType(), True),
        # running | publishing | published | failed | unchanged | interrupted
        StructField("status", StringType(), False),
        # JSON {"snapshots": {mart: audited snapshot id}, "properties": {mart: {k: v}}}
        StructField("plan", StringType(), True),
        StructField("note", StringType(), True),
        StructField("pid", IntegerType(), True),
        StructField("host", StringType(), True),
    ]
)
TRANSFORM_RUNS_TABLE = TableSpec(
    namespace="raw",
    name="transform_runs",
    schema=TRANSFORM_RUNS_SCHEMA,
    keys=("run_id",),
    comment="One row per transform run: status, publish plan, outcome",
)
OPEN_STATUSES = ("running", "publishing")


@dataclass
class TransformRun:
    """One run's row; `advance` moves it on and writes it (one small MERGE commit)."""

    run_id: str
    target: str
    started_at: datetime
    status: str = "running"
    finished_at: datetime | None = None
    plan: str | None = None
    note: str | None = None
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)

    def as_row(self) -> tuple:
        finished = self.finished_at.replace(tzinfo=None) if self.finished_at else None
        return (
            self.run_id, self.target, self.started_at.replace(tzinfo=None), finished,
            self.status, self.plan, self.note, self.pid, self.host,
        )  # fmt: skip

    def advance(self, spark: SparkSession, status: str, **changes: str | None) -> None:
        self.status = status
        self.finished_at = None if status in OPEN_STATUSES else datetime.now(UTC)
        for name, value in changes.items():
            setattr(self, name, value)
        rows = spark.createDataFrame([self.as_row()], TRANSFORM_RUNS_SCHEMA)
        merge(spark, rows, TRANSFORM_RUNS_TABLE)


def start_run(spark: SparkSession, target: str) -> TransformRun:
    """A new run's row, written `running` (creating the table on the first run)."""
    ensure_table(spark, TRANSFORM_RUNS_TABLE)
    now = datetime.now(UTC)
    run = TransformRun(f"transform-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}", target, now)
    run.advance(spark, "running")
    return run


def complete_cut_short(
    spark: SparkSession,
    run_id: str,
    echo: Callable[[str], None],
    set_properties: Callable[[SparkSession, dict[str, dict[str, str]]], None],
) -> list[str]:
    """Close the runs left open by a killed process; finish a publish cut short.

    Call it holding the transform lock. A plan is finished the way its run would have
    finished it: each mart still behind is fast-forwarded to its audited snapshot, then the
    plan's table properties (inputs, dbt code, watermarks, versions) are set, so that this
    run sees those marts as current. Returns the ids of the runs whose publish it completed.
    """
    from spark_jobs.transform import ref_snapshot

    if not spark.catalog.tableExists(TRANSFORM_RUNS_TABLE.identifier):
        return []
    open_rows = (
        spark.table(TRANSFORM_RUNS_TABLE.identifier)
        .where(F.col("status").isin(*OPEN_STATUSES) & (F.col("run_id") != run_id))
        .collect()
    )
    completed: list[str] = []
    for row in open_rows:
        run = TransformRun(**row.asDict())
        if run.status == "running":
            run.advance(
                spark, "interrupted",
                note=f"process {run.pid} ended before its publish began; nothing of it was "
                f"published (closed by {run_id})",
            )  # fmt: skip
            continue
        plan = json.loads(run.plan or "{}")
        snapshots: dict[str, int | None] = plan.get("snapshots", {})
        moved, gone = [], []
        for mart, audited in sorted(snapshots.items()):
            table = f"{CATALOG_NAME}.marts.{mart}"
            if audited is None or not spark.catalog.tableExists(table):
                continue
            if ref_snapshot(spark, table, "main") == audited:
                continue
            if ref_snapshot(spark, table, "audit") != audited:
                gone.append(mart)  # its properties stay old: this run rebuilds it
                continue
            spark.sql(f"call {CATALOG_NAME}.system.fast_forward('marts.{mart}', 'main', 'audit')")
            moved.append(mart)
        properties = {m: p for m, p in plan.get("properties", {}).items() if m not in gone}
        set_properties(spark, properties)
        echo(
            f"completed the publish of run {run.run_id}, cut short (process {run.pid} ended): "
            f"{len(moved)} of {len(snapshots)} marts were still behind"
            + (f" ({', '.join(moved)})" if moved else "")
            + (f"; audited snapshot gone, rebuilt: {', '.join(gone)}" if gone else "")
        )
        run.advance(
            spark, "published",
            note=f"publish cut short; {len(moved)} marts completed by {run_id}",
        )  # fmt: skip
        completed.append(run.run_id)
    return completed
