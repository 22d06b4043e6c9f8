"""Explicit schemas for WHOOP API v2: one record schema and one bronze table per resource.

`RECORDS[resource]` is the typed shape of one API record with the API's own field names
(the official v2 OpenAPI spec): datetimes TIMESTAMP (UTC instants; the local offset stays in
`timezone_offset`, as WHOOP sends it), ids LONG (cycles, users, v1 ids) or STRING (the
UUIDs of sleeps and workouts), milliseconds LONG, numbers DOUBLE, nested objects STRUCT.
`score` is null unless `score_state` is SCORED. The JSON parse schema is derived from it
(datetimes read as text, then parsed); never inferred. Unknown fields are ignored (they
stay in raw).

Bronze table `lake.bronze.whoop_<resource>` = `account`, the record's fields, and lineage:
`_window` (the month, YYYY-MM, the record was last read in; `all` for the single
documents), `_run_id`, `_fetched_at`.
"""

from __future__ import annotations

from pyspark.sql.types import (
    BooleanType,
    DataType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from spark_jobs.common.iceberg import TableSpec
from spark_jobs.whoop.client import RESOURCES

STR = StringType()
INT = IntegerType()
LONG = LongType()
DBL = DoubleType()
BOOL = BooleanType()
TS = TimestampType()


def _struct(*fields: tuple[str, DataType]) -> StructType:
    # Every field nullable: the API omits `score`, `end` (an open cycle) and `v1_id` freely.
    return StructType([StructField(name, dtype, True) for name, dtype in fields])


def _longs(*names: str) -> list[tuple[str, DataType]]:
    return [(n, LONG) for n in names]


_TIMES = [("created_at", TS), ("updated_at", TS)]
_SPAN = [("start", TS), ("end", TS), ("timezone_offset", STR)]

CYCLE_SCORE = _struct(
    ("strain", DBL), ("kilojoule", DBL), ("average_heart_rate", INT), ("max_heart_rate", INT)
)
SLEEP_SCORE = _struct(
    (
        "stage_summary",
        _struct(
            *_longs(
                "total_in_bed_time_milli",
                "total_awake_time_milli",
                "total_no_data_time_milli",
                "total_light_sleep_time_milli",
                "total_slow_wave_sleep_time_milli",
                "total_rem_sleep_time_milli",
            ),
            ("sleep_cycle_count", INT),
            ("disturbance_count", INT),
        ),
    ),
    (
        "sleep_needed",
        _struct(
            *_longs(
                "baseline_milli",
                "need_from_sleep_debt_milli",
                "need_from_recent_strain_milli",
                "need_from_recent_nap_milli",
            )
        ),
    ),
    ("respiratory_rate", DBL),
    ("sleep_performance_percentage", DBL),
    ("sleep_consistency_percentage", DBL),
    ("sleep_efficiency_percentage", DBL),
)
RECOVERY_SCORE = _struct(
    ("user_calibrating", BOOL),
    ("recovery_score", DBL),
    ("resting_heart_rate", DBL),
    ("hrv_rmssd_milli", DBL),
    ("spo2_percentage", DBL),
    ("skin_temp_celsius", DBL),
)
WORKOUT_SCORE = _struct(
    ("strain", DBL),
    ("average_heart_rate", INT),
    ("max_heart_rate", INT),
    ("kilojoule", DBL),
    ("percent_recorded", DBL),
    ("distance_meter", DBL),
    ("altitude_gain_meter", DBL),
    ("altitude_change_meter", DBL),
    (
        "zone_durations",
        _struct(
            *_longs(
                "zone_zero_milli",
                "zone_one_milli",
                "zone_two_milli",
                "zone_three_milli",
                "zone_four_milli",
                "zone_five_milli",
            )
        ),
    ),
)

RECORDS: dict[str, StructType] = {
    "cycle": _struct(
        ("id", LONG), ("user_id", LONG), *_TIMES, *_SPAN,
        ("score_state", STR), ("score", CYCLE_SCORE),
    ),
    "recovery": _struct(
        ("cycle_id", LONG), ("sleep_id", STR), ("user_id", LONG), *_TIMES,
        ("score_state", STR), ("score", RECOVERY_SCORE),
    ),
    "sleep": _struct(
        ("id", STR), ("cycle_id", LONG), ("v1_id", LONG), ("user_id", LONG), *_TIMES, *_SPAN,
        ("nap", BOOL), ("score_state", STR), ("score", SLEEP_SCORE),
    ),
    "workout": _struct(
        ("id", STR), ("v1_id", LONG), ("user_id", LONG), *_TIMES, *_SPAN,
        ("sport_name", STR), ("sport_id", INT), ("score_state", STR), ("score", WORKOUT_SCORE),
    ),
    "profile": _struct(
        ("user_id", LONG), ("email", STR), ("first_name", STR), ("last_name", STR)
    ),
    "body_measurement": _struct(
        ("height_meter", DBL), ("weight_kilogram", DBL), ("max_heart_rate", INT)
    ),
}  # fmt: skip
"""The typed fields of one record of each resource (WHOOP OpenAPI v2)."""


def _json_type(dtype: DataType) -> DataType:
    """The type `from_json` reads a field as: datetimes as their text."""
    if isinstance(dtype, TimestampType):
        return STR
    if isinstance(dtype, StructType):
        return StructType([StructField(f.name, _json_type(f.dataType), True) for f in dtype])
    return dtype


def record_json_schema(resource: str) -> StructType:
    """The `from_json` schema of one record of `resource`."""
    return _json_type(RECORDS[resource])  # type: ignore[return-value]


def payload_schema(resource: str) -> StructType:
    """The `from_json` schema of a whole response body: `{"records": [...], "next_token"}`
    for collections, the document itself otherwise."""
    from pyspark.sql.types import ArrayType

    if not RESOURCES[resource].collection:
        return record_json_schema(resource)
    return _struct(("records", ArrayType(record_json_schema(resource), True)), ("next_token", STR))


def table_schema(resource: str) -> StructType:
    """The bronze table's columns: account, the record, lineage."""
    return StructType(
        [
            StructField("account", STR, True),
            *RECORDS[resource].fields,
            StructField("_window", STR, True),
            StructField("_run_id", STR, True),
            StructField("_fetched_at", TS, True),
        ]
    )


_PARTITION = {
    "cycle": ("months(start)",),
    "sleep": ("months(start)",),
    "workout": ("months(start)",),
    "recovery": ("months(created_at)",),
}

TABLES: dict[str, TableSpec] = {
    name: TableSpec(
        namespace="bronze",
        name=f"whoop_{name}",
        schema=table_schema(name),
        partition_by=_PARTITION.get(name, ()),
        keys=("account", *RESOURCES[name].key),
        comment=f"WHOOP API v2 {RESOURCES[name].path} records, typed, one row per "
        + ", ".join(("account", *RESOURCES[name].key)),
    )
    for name in RESOURCES
}
"""Every WHOOP bronze table, by resource name."""
