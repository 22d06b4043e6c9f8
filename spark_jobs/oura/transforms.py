"""Pure transforms: raw Oura API v2 pages -> typed rows of `lake.bronze.oura_<endpoint>`.

Every raw row is one response body (a page); `parse(endpoint, raw)` parses it once with
`from_json` and the endpoint's explicit schema (`schemas.payload_schema`), explodes `data`,
types the datetimes (UTC instants; the local offset is kept in `timezone_offset`) and
returns exactly the bronze table's columns. Spark SQL expressions only, no UDFs.

What lands, and what does not:

* documents of every spec shape (1.23 .. 1.29): fields a document lacks are null, fields
  bronze does not know are ignored (they stay in raw), a value of the wrong type nulls that
  field alone;
* a document without its natural key (see `client.ENDPOINTS`) is dropped;
* a body that is not a collection (truncated, an error object) yields no rows; find those
  with `malformed_pages`;
* sleep documents with `type` = 'deleted' land as delivered: bronze mirrors the API, and
  the staging layer filters them out (as it chooses between `long_sleep`, `sleep`, `rest`
  ... sessions of one day);
* one row per document per page: a document seen on several pages or runs appears once per
  page; the loader keeps the newest per key (`iceberg.latest_by_key(df, TABLES[e].keys,
  ["_fetched_at"])`) before its MERGE.

Windows: the client asks for a day more on each side (the API's edges are fuzzy), so the
loader keeps `records_in_window(endpoint, df, start, end)`: documents whose `day` (or
`start_day`) is in [start, end]; heartrate samples whose timestamp is in
[start 00:00 UTC, end + 1 day 00:00 UTC).
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, DateType, StructType, TimestampType

from spark_jobs.oura.client import ENDPOINTS
from spark_jobs.oura.schemas import (
    OFFSET_FIELD,
    RECORDS,
    TABLES,
    payload_schema,
    record_json_schema,
)

__all__ = [
    "malformed_pages",
    "parse",
    "records_in_window",
    "window_condition",
    "window_sql",
]

RAW_COLUMNS: tuple[str, ...] = ("run_id", "account", "fetched_at", "payload")
"""Raw-layer columns the transforms read (a subset of RAW_SCHEMA)."""

# The trailing UTC offset of an ISO 8601 local datetime: "Z", "+02:00" or "+0200".
_OFFSET_RE = r"(Z|[+-]\d{2}:?\d{2})$"


def _check(endpoint: str) -> None:
    if endpoint not in RECORDS:
        raise ValueError(f"unknown Oura endpoint {endpoint!r}; known: {', '.join(RECORDS)}")


def _nullable(col: Column) -> Column:
    # Raw lineage columns are NOT NULL and filtered keys become non-null in Spark's plan;
    # CASE WHEN keeps every output column nullable, as the table schema declares.
    return F.when(col.isNotNull(), col)


def _convert(col: Column, source: DataType, target: DataType) -> Column:
    """`col`, parsed as `source` by from_json, as `target` (datetimes from their text)."""
    if source == target:
        return col
    if isinstance(target, TimestampType):
        # ISO 8601 with offset ("...+02:00", "...Z", fractions): an absolute instant.
        # try_: a malformed value becomes null instead of failing the run under ANSI mode.
        return F.try_to_timestamp(col)
    if isinstance(target, DateType):
        return F.to_date(F.try_to_timestamp(col, F.lit("yyyy-MM-dd")))
    if isinstance(target, StructType):
        assert isinstance(source, StructType)
        fields = [
            _convert(col.getField(t.name), s.dataType, t.dataType).alias(t.name)
            for s, t in zip(source.fields, target.fields, strict=True)
        ]
        return F.when(col.isNotNull(), F.struct(*fields))
    if isinstance(target, ArrayType):
        assert isinstance(source, ArrayType)
        return F.transform(col, lambda e: _convert(e, source.elementType, target.elementType))
    return col.cast(target)


def _timezone_offset(local: Column) -> Column:
    """ "+02:00" from "2024-10-10T01:01:59+02:00"; "+00:00" for "Z"; null when absent."""
    found = F.regexp_extract(local, _OFFSET_RE, 1)
    return (
        F.when(found == "", None)
        .when(found == "Z", "+00:00")
        .when(
            F.length(found) == 5,
            F.concat(F.substring(found, 1, 3), F.lit(":"), F.substring(found, 4, 2)),
        )
        .otherwise(found)
    )


def _documents(endpoint: str, raw: DataFrame) -> DataFrame:
    """One row per document: lineage columns + `_doc` (the document as parsed)."""
    body = F.from_json(F.col("payload"), payload_schema(endpoint))
    lineage = [
        F.col("account").alias("_account"),
        F.col("run_id").alias("_lineage_run_id"),
        F.col("fetched_at").alias("_lineage_fetched_at"),
    ]
    if not ENDPOINTS[endpoint].paginated:
        return raw.select(*lineage, body.alias("_doc")).where(F.col("_doc.id").isNotNull())
    # explode(null) yields no rows: malformed pages drop out here, whole.
    return raw.select(*lineage, F.explode(body.getField("data")).alias("_doc"))


def parse(endpoint: str, raw: DataFrame) -> DataFrame:
    """Raw pages of `endpoint` (rows as in RAW_SCHEMA) -> exactly `TABLES[endpoint].schema`.

    Args:
        endpoint: a key of `client.ENDPOINTS`, e.g. "daily_sleep", "vO2_max".
        raw: raw rows of that endpoint (status 200); needs run_id, account, fetched_at,
            payload.
    """
    _check(endpoint)
    spec = TABLES[endpoint]
    record = RECORDS[endpoint]
    docs = _documents(endpoint, raw)
    json_fields = {f.name: f.dataType for f in record_json_schema(endpoint).fields}
    values: dict[str, Column] = {"account": F.col("_account")}
    for f in record.fields:
        values[f.name] = _convert(F.col("_doc").getField(f.name), json_fields[f.name], f.dataType)
    if endpoint in OFFSET_FIELD:
        values["timezone_offset"] = _timezone_offset(F.col("_doc").getField(OFFSET_FIELD[endpoint]))
    values["_run_id"] = F.col("_lineage_run_id")
    values["_fetched_at"] = F.col("_lineage_fetched_at")
    typed = docs.select(*[col.alias(name) for name, col in values.items()])
    keyed = typed.where(F.expr(" AND ".join(f"`{k}` IS NOT NULL" for k in spec.keys)))
    return keyed.select(
        *[_nullable(F.col(f"`{f.name}`")).cast(f.dataType).alias(f.name) for f in spec.schema]
    )


def malformed_pages(endpoint: str, raw: DataFrame) -> DataFrame:
    """Raw rows whose payload is not a page of `endpoint` (account, url, run_id).

    Invalid or truncated JSON, an error object (`{"detail": ...}`) and a null payload
    count; an empty page (`{"data": []}`) does not.
    """
    _check(endpoint)
    body = F.from_json(F.col("payload"), payload_schema(endpoint))
    bad = (
        body.getField("id").isNull()
        if not ENDPOINTS[endpoint].paginated
        else (body.getField("data").isNull())
    )
    return raw.where(body.isNull() | bad).select("account", "url", "run_id")


def _utc_midnight(day: date) -> Column:
    return F.to_timestamp(F.lit(f"{day.isoformat()}T00:00:00Z"))


def window_condition(endpoint: str, start: date, end: date) -> Column:
    """True for the bronze rows of `endpoint` that belong to the days [start, end].

    Day-based tables: `day` (enhanced_tag, rest_mode_period: `start_day`) in [start, end].
    heartrate: `timestamp` in [start 00:00 UTC, end + 1 day 00:00 UTC). Tables without a
    window (ring_configuration, personal_info): always true.
    """
    _check(endpoint)
    day_field = ENDPOINTS[endpoint].day_field
    if day_field is None:
        return F.lit(True)
    col = F.col(day_field)
    if isinstance(RECORDS[endpoint][day_field].dataType, TimestampType):
        return (col >= _utc_midnight(start)) & (col < _utc_midnight(end + timedelta(days=1)))
    return col.between(F.lit(start), F.lit(end))


def window_sql(endpoint: str, start: date, end: date) -> str:
    """:func:`window_condition` as a SQL predicate (for MERGE scopes), e.g.
    "`day` BETWEEN DATE'2024-11-01' AND DATE'2024-11-30'"."""
    _check(endpoint)
    day_field = ENDPOINTS[endpoint].day_field
    if day_field is None:
        return "TRUE"
    if isinstance(RECORDS[endpoint][day_field].dataType, TimestampType):
        lo = f"{start.isoformat()}T00:00:00Z"
        hi = f"{(end + timedelta(days=1)).isoformat()}T00:00:00Z"
        return f"`{day_field}` >= to_timestamp('{lo}') AND `{day_field}` < to_timestamp('{hi}')"
    return f"`{day_field}` BETWEEN DATE'{start.isoformat()}' AND DATE'{end.isoformat()}'"


def records_in_window(endpoint: str, df: DataFrame, start: date, end: date) -> DataFrame:
    """The rows of `df` (parsed `endpoint` rows) that belong to the days [start, end]."""
    return df.where(window_condition(endpoint, start, end))
