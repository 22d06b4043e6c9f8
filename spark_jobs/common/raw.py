"""The raw layer: every API response body, verbatim and append-only.

One table per source (`lake.raw.<source>_responses`) with the same schema. A response is
written here before anything parses it, so a parser bug or an upstream schema change
never loses data, and bronze can be rebuilt from raw without calling the API again
(`lakehouse rebuild chesscom`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from spark_jobs.common.http import ApiResponse
from spark_jobs.common.iceberg import TableSpec, append, ensure_table

RAW_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("source", StringType(), False),
        StructField("resource", StringType(), False),  # e.g. games_month, archives
        StructField("account", StringType(), True),  # chess.com username / API user
        StructField("period", StringType(), True),  # e.g. '2024-01'; null when n/a
        StructField("url", StringType(), False),
        StructField("http_status", IntegerType(), False),
        StructField("etag", StringType(), True),
        StructField("last_modified", StringType(), True),
        StructField("content_type", StringType(), True),
        StructField("fetched_at", TimestampType(), False),
        StructField("payload", StringType(), True),
        StructField("payload_bytes", IntegerType(), False),
        StructField("payload_sha256", StringType(), False),  # of the bytes received
    ]
)


def raw_table(source: str) -> TableSpec:
    """The raw table of one source."""
    return TableSpec(
        namespace="raw",
        name=f"{source}_responses",
        schema=RAW_SCHEMA,
        partition_by=("months(fetched_at)",),
        comment=f"Every {source} API response body, verbatim, append-only",
    )


@dataclass(frozen=True)
class RawRecord:
    """One response as it goes into the raw table."""

    run_id: str
    source: str
    resource: str
    account: str | None
    period: str | None
    response: ApiResponse

    def as_row(self) -> tuple:
        body = self.response.body
        return (
            self.run_id,
            self.source,
            self.resource,
            self.account,
            self.period,
            self.response.url,
            self.response.status,
            self.response.etag,
            self.response.last_modified,
            self.response.headers.get("Content-Type"),
            # Spark/Iceberg timestamps are UTC instants; the session time zone is UTC.
            self.response.fetched_at.replace(tzinfo=None),
            # Bodies are UTF-8 JSON; the sha256 of the original bytes proves verbatim-ness
            # even for a broken body that needed replacement characters.
            body.decode("utf-8", errors="replace"),
            len(body),
            hashlib.sha256(body).hexdigest(),
        )


def write_raw(spark: SparkSession, source: str, records: Sequence[RawRecord]) -> int:
    """Append responses to the source's raw table in one commit; returns rows written."""
    if not records:
        return 0
    spec = raw_table(source)
    ensure_table(spark, spec)
    df = spark.createDataFrame([r.as_row() for r in records], RAW_SCHEMA)
    append(df, spec)
    return len(records)


def read_raw(
    spark: SparkSession,
    source: str,
    *,
    resource: str | None = None,
    resources: Sequence[str] | None = None,
    run_id: str | None = None,
    accounts: Sequence[str] | None = None,
    since: datetime | None = None,
) -> DataFrame:
    """Raw rows of a source's resource(s) (optionally one run / some accounts), status 200."""
    wanted = [resource] if resource else list(resources or [])
    df = spark.table(raw_table(source).identifier).where(
        F.col("resource").isin(wanted) & (F.col("http_status") == 200)
    )
    if since is not None:
        df = df.where(F.col("fetched_at") >= F.lit(since.replace(tzinfo=None)))
    if run_id is not None:
        df = df.where(F.col("run_id") == run_id)
    if accounts:
        df = df.where(F.col("account").isin(list(accounts)))
    return df


def latest_payloads(raw: DataFrame, keys: Sequence[str] = ("account", "period")) -> DataFrame:
    """The newest raw row per key, found on metadata only, then joined back.

    Payloads are large; ranking on the small metadata columns and joining back avoids
    shuffling every payload just to pick the newest one.
    """
    meta = raw.select(*keys, "fetched_at", "run_id")
    newest = meta.groupBy(*keys).agg(F.max(F.struct("fetched_at", "run_id")).alias("_newest"))
    newest = newest.select(
        *keys, F.col("_newest.fetched_at").alias("_f"), F.col("_newest.run_id").alias("_r")
    )
    cond = [raw[k].eqNullSafe(newest[k]) for k in keys] + [
        raw["fetched_at"] == newest["_f"],
        raw["run_id"] == newest["_r"],
    ]
    return raw.join(F.broadcast(newest), cond, "left_semi")


def newest_complete_fetches(spark: SparkSession, raw: DataFrame) -> tuple[DataFrame, set[str]]:
    """Raw pages of the newest complete, well-formed fetch per (account, resource, period),
    and the resources that have any.

    A fetch is one run's pages of one window; it is complete when one of its pages has no
    `next_token` (a walk cut by an error is not), and well-formed when every page is a JSON
    object (a truncated or HTML body is not; cheap string checks, no parse).
    """
    keys = ["account", "resource", "period", "run_id"]
    body = F.trim(F.col("payload"))
    well_formed = body.startswith("{") & body.endswith("}")
    last_page = F.get_json_object("payload", "$.next_token").isNull()
    fetches = raw.groupBy(*keys).agg(
        F.max("fetched_at").alias("_at"),
        F.max(last_page.cast("int")).alias("_complete"),
        F.min(well_formed.cast("int")).alias("_well_formed"),
    )
    newest = (
        fetches.where((F.col("_complete") == 1) & (F.col("_well_formed") == 1))
        .groupBy("account", "resource", "period")
        .agg(F.max(F.struct("_at", "run_id")).alias("_n"))
        .select("account", "resource", "period", F.col("_n.run_id").alias("run_id"))
    )
    # Computed once (one pass over raw), then a small literal table every endpoint joins.
    rows = newest.collect()
    chosen = spark.createDataFrame(rows, newest.schema)
    return raw.join(F.broadcast(chosen), keys, "left_semi"), {r.resource for r in rows}


def rebuild_from_raw(
    spark: SparkSession,
    source: str,
    tables: Mapping[str, TableSpec],
    rows_of: Callable[[str, DataFrame], DataFrame],
    merge_into: Callable[[SparkSession, str, DataFrame, str | None], None],
    accounts: Sequence[str] | None = None,
) -> int:
    """Rebuild a paged source's bronze tables from raw alone (no API calls): per (account,
    resource, period) the newest complete, well-formed read wins (`newest_complete_fetches`).
    Returns the number of rows the rebuilt accounts now have across the tables.

    Args:
        tables: resource name -> its bronze table (raw `resource` = the name).
        rows_of: (resource, its raw pages) -> bronze rows, unique on the table's keys.
        merge_into: (spark, resource, raw pages, scope) -> MERGE them, mirroring `scope`.
        accounts: without them each table is replaced in one commit; with them, their rows
            are mirrored by a MERGE (other accounts untouched).
    """
    from spark_jobs.common.iceberg import conform

    ensure_table(spark, raw_table(source))
    raw = read_raw(spark, source, resources=list(tables), accounts=accounts)
    # No persist(): a cached scan ahead of a MERGE makes the SQLite catalog report
    # SQLITE_BUSY at commit (see chesscom.ingest.merge_games); raw is re-read per table.
    pages, present = newest_complete_fetches(spark, raw)
    total = 0
    for name, spec in tables.items():
        ensure_table(spark, spec)
        if accounts:
            scope = "account IN (" + ", ".join(f"'{a}'" for a in accounts) + ")"
            if name in present:
                merge_into(spark, name, pages.where(F.col("resource") == name), scope)
            table = spark.table(spec.identifier).where(F.col("account").isin(list(accounts)))
        else:
            rows = rows_of(name, pages.where(F.col("resource") == name))
            conform(rows, spec.schema).writeTo(spec.identifier).overwrite(F.lit(True))
            table = spark.table(spec.identifier)
        total += table.count()
    return total
