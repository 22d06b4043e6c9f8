"""Pure transforms: raw WHOOP API v2 responses -> typed rows of `lake.bronze.whoop_<resource>`.

Every raw row is one response body; `parse(resource, raw)` parses it once with `from_json`
and the resource's explicit schema (`schemas.payload_schema`), explodes `records` (a
document resource is its own record), types the datetimes (UTC instants) and returns
exactly the bronze table's columns. Spark SQL expressions only, no UDFs.

* a record without its natural key is dropped; so is a sleep or workout whose id is not a
  UUID (a v1 record: the ingest refuses such pages, this keeps a rebuild from raw clean);
* `score` is kept as delivered: null while `score_state` is PENDING_SCORE or UNSCORABLE;
* a body that is not a collection (truncated, an error object) yields no rows;
* one row per record per page: the loader keeps the newest per key before its MERGE.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, StructType, TimestampType

from spark_jobs.whoop.client import RESOURCES, UUID_PATTERN
from spark_jobs.whoop.schemas import RECORDS, TABLES, payload_schema, record_json_schema

RAW_COLUMNS: tuple[str, ...] = ("run_id", "account", "period", "fetched_at", "payload")
"""Raw-layer columns the transforms read (a subset of RAW_SCHEMA)."""


def _convert(col: Column, source: DataType, target: DataType) -> Column:
    """`col`, parsed as `source` by from_json, as `target` (datetimes from their text)."""
    if source == target:
        return col
    if isinstance(target, TimestampType):
        # "2022-04-24T02:25:44.774Z": an absolute instant; malformed -> null, not a failure.
        return F.try_to_timestamp(col)
    if isinstance(target, StructType):
        assert isinstance(source, StructType)
        fields = [
            _convert(col.getField(t.name), s.dataType, t.dataType).alias(t.name)
            for s, t in zip(source.fields, target.fields, strict=True)
        ]
        return F.when(col.isNotNull(), F.struct(*fields))
    return col.cast(target)


def parse(resource: str, raw: DataFrame) -> DataFrame:
    """Raw responses of `resource` (rows as in RAW_SCHEMA) -> exactly `TABLES[resource].schema`.

    Args:
        resource: a key of `client.RESOURCES`, e.g. "sleep", "body_measurement".
        raw: raw rows of that resource (status 200): run_id, account, period, fetched_at,
            payload.
    """
    if resource not in RECORDS:
        raise ValueError(f"unknown WHOOP resource {resource!r}; known: {', '.join(RECORDS)}")
    spec = TABLES[resource]
    body = F.from_json(F.col("payload"), payload_schema(resource))
    lineage = [
        F.col("account").alias("_l_account"),
        F.col("period").alias("_l_window"),
        F.col("run_id").alias("_l_run_id"),
        F.col("fetched_at").alias("_l_fetched_at"),
    ]
    if RESOURCES[resource].collection:
        # explode(null) yields no rows: malformed pages drop out here, whole.
        docs = raw.select(*lineage, F.explode(body.getField("records")).alias("_r"))
    else:
        docs = raw.select(*lineage, body.alias("_r")).where(F.col("_r").isNotNull())
    json_fields = {f.name: f.dataType for f in record_json_schema(resource).fields}
    values: dict[str, Column] = {"account": F.col("_l_account")}
    for f in RECORDS[resource].fields:
        values[f.name] = _convert(F.col("_r").getField(f.name), json_fields[f.name], f.dataType)
    values["_window"] = F.col("_l_window")
    values["_run_id"] = F.col("_l_run_id")
    values["_fetched_at"] = F.col("_l_fetched_at")
    typed = docs.select(*[col.alias(name) for name, col in values.items()])
    keep = " AND ".join(f"`{k}` IS NOT NULL" for k in spec.keys)
    if resource in ("sleep", "workout"):
        keep += f" AND id RLIKE '{UUID_PATTERN}'"
    # CASE WHEN keeps every column nullable, as the table declares (filtered keys and raw
    # lineage columns are non-null in Spark's plan).
    return typed.where(keep).select(
        *[F.when(F.col(f"`{f.name}`").isNotNull(), F.col(f"`{f.name}`")).cast(f.dataType).alias(
            f.name
        ) for f in spec.schema]
    )  # fmt: skip
