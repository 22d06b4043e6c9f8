"""The raw layer: every API response body, verbatim and append-only.

One table per source (`lake.raw.<source>_responses`) with the same schema. A response is
written here before anything parses it, so a parser bug or an upstream schema change
never loses data, and bronze can be rebuilt from raw without calling the API again
(`lakehouse rebuild chesscom`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
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
