"""Explicit schemas for Oura API v2: one record schema and one bronze table per endpoint.

`RECORDS[endpoint]` is the typed shape of one API document, with the API's own field names:
the union of the fields of spec versions 1.23, 1.27 and 1.29, so documents of any of those
shapes land (a field a document lacks is null). Datetimes are TIMESTAMP (UTC instants),
`day`-like fields DATE, integers INT (LONG for epoch milliseconds), numbers DOUBLE, nested
objects STRUCT with the API's field names, lists ARRAY.

The JSON parse schema (`payload_schema`) is derived from it mechanically: TIMESTAMP and DATE
become STRING (the transforms parse them, and take the UTC offset from the local string),
everything else is parsed as declared. Never inferred. Unknown fields are ignored by
`from_json` (they stay in the raw table); a value of the wrong type nulls that field only
(Spark's JSON partial results), so neither breaks a run.

Bronze table `lake.bronze.oura_<endpoint>` = `account`, the record's fields, a
`timezone_offset` (where the record has a local timestamp), `_run_id`, `_fetched_at`.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from spark_jobs.common.iceberg import TableSpec
from spark_jobs.oura.client import ENDPOINTS

STR = StringType()
INT = IntegerType()
LONG = LongType()
DBL = DoubleType()
BOOL = BooleanType()
DATE = DateType()
TS = TimestampType()


def _struct(*fields: tuple[str, DataType]) -> StructType:
    # Every field nullable: the API omits fields freely (and older shapes lack newer ones).
    return StructType([StructField(name, dtype, True) for name, dtype in fields])


def _ints(*names: str) -> StructType:
    return _struct(*[(n, INT) for n in names])


META = _struct(("updated_at", TS), ("version", INT))
"""`meta` (spec 1.29): when and in which version the document was last written."""

SAMPLE = _struct(("interval", DBL), ("items", ArrayType(DBL, True)), ("timestamp", TS))
"""A time series: `items[i]` is the value at `timestamp + i * interval` seconds."""

SLEEP_CONTRIBUTORS = _ints(
    "deep_sleep", "efficiency", "latency", "rem_sleep", "restfulness", "timing", "total_sleep"
)
READINESS_CONTRIBUTORS = _ints(
    "activity_balance",
    "body_temperature",
    "hrv_balance",
    "previous_day_activity",
    "previous_night",
    "recovery_index",
    "resting_heart_rate",
    "sleep_balance",
    "sleep_regularity",  # spec 1.29
)
ACTIVITY_CONTRIBUTORS = _ints(
    "meet_daily_targets",
    "move_every_hour",
    "recovery_time",
    "stay_active",
    "training_frequency",
    "training_volume",
)
RESILIENCE_CONTRIBUTORS = _struct(
    ("sleep_recovery", DBL), ("daytime_recovery", DBL), ("stress", DBL)
)

RECORDS: dict[str, StructType] = {
    "daily_activity": _struct(
        ("id", STR),
        ("day", DATE),
        ("score", INT),
        ("steps", INT),
        ("active_calories", INT),
        ("total_calories", INT),
        ("target_calories", INT),
        ("average_met_minutes", DBL),
        ("equivalent_walking_distance", INT),
        ("high_activity_met_minutes", INT),
        ("high_activity_time", INT),
        ("inactivity_alerts", INT),
        ("low_activity_met_minutes", INT),
        ("low_activity_time", INT),
        ("medium_activity_met_minutes", INT),
        ("medium_activity_time", INT),
        ("meters_to_target", INT),
        ("non_wear_time", INT),
        ("resting_time", INT),
        ("sedentary_met_minutes", INT),
        ("sedentary_time", INT),
        ("target_meters", INT),
        ("timestamp", TS),
        ("class_5_min", STR),  # one digit per 5 minutes: 0 non-wear .. 5 high activity
        ("met", SAMPLE),
        ("contributors", ACTIVITY_CONTRIBUTORS),
        ("meta", META),
    ),
    "daily_readiness": _struct(
        ("id", STR),
        ("day", DATE),
        ("score", INT),
        ("temperature_deviation", DBL),  # degrees Celsius
        ("temperature_trend_deviation", DBL),
        ("timestamp", TS),
        ("contributors", READINESS_CONTRIBUTORS),
        ("meta", META),
    ),
    "daily_sleep": _struct(
        ("id", STR),
        ("day", DATE),
        ("score", INT),
        ("timestamp", TS),
        # 1-100 scores, not durations (the session's `latency` is in seconds).
        ("contributors", SLEEP_CONTRIBUTORS),
        ("meta", META),
    ),
    "daily_resilience": _struct(
        ("id", STR),
        ("day", DATE),
        ("level", STR),  # limited, adequate, solid, strong, exceptional
        ("contributors", RESILIENCE_CONTRIBUTORS),
        ("meta", META),
    ),
    "daily_stress": _struct(
        ("id", STR),
        ("day", DATE),
        ("stress_high", INT),  # seconds
        ("recovery_high", INT),  # seconds
        ("day_summary", STR),  # restored, normal, stressful; may be null
        ("meta", META),
    ),
    "daily_spo2": _struct(
        ("id", STR),
        ("day", DATE),
        ("spo2_percentage", _struct(("average", DBL))),
        ("breathing_disturbance_index", INT),
        ("meta", META),
    ),
    "daily_cardiovascular_age": _struct(
        ("day", DATE),
        ("vascular_age", INT),
        ("id", STR),  # spec 1.29 only; genuine recordings have none
        ("meta", META),
    ),
    "sleep": _struct(
        ("id", STR),
        ("day", DATE),
        ("type", STR),  # long_sleep, sleep, late_nap, rest, deleted
        ("bedtime_start", TS),
        ("bedtime_end", TS),
        ("total_sleep_duration", INT),  # seconds, like every *_duration / *_time here
        ("deep_sleep_duration", INT),
        ("rem_sleep_duration", INT),
        ("light_sleep_duration", INT),
        ("awake_time", INT),
        ("time_in_bed", INT),
        ("efficiency", INT),
        ("latency", INT),
        ("average_heart_rate", DBL),
        ("lowest_heart_rate", INT),
        ("average_hrv", INT),
        ("average_breath", DBL),
        ("period", INT),
        ("restless_periods", INT),
        ("low_battery_alert", BOOL),
        ("readiness_score_delta", INT),
        ("sleep_score_delta", INT),
        ("sleep_algorithm_version", STR),
        ("sleep_analysis_reason", STR),  # spec 1.27+
        ("ring_id", STR),  # spec 1.29
        ("heart_rate", SAMPLE),
        ("hrv", SAMPLE),
        (
            "readiness",
            _struct(
                ("score", INT),
                ("temperature_deviation", DBL),
                ("temperature_trend_deviation", DBL),
                ("contributors", READINESS_CONTRIBUTORS),
            ),
        ),
        ("movement_30_sec", STR),
        ("sleep_phase_5_min", STR),  # 1 deep, 2 light, 3 REM, 4 awake
        ("sleep_phase_30_sec", STR),  # spec 1.29
        ("app_sleep_phase_5_min", STR),  # spec 1.29
        ("meta", META),
    ),
    "sleep_time": _struct(
        ("id", STR),
        ("day", DATE),
        # Offsets in seconds from midnight of `day` in zone offset `day_tz` (seconds).
        ("optimal_bedtime", _ints("day_tz", "end_offset", "start_offset")),
        ("recommendation", STR),
        ("status", STR),
        ("meta", META),
    ),
    "heartrate": _struct(
        ("timestamp", TS),
        ("bpm", INT),
        ("source", STR),  # awake, rest, sleep, session, live, workout
        ("timestamp_unix", LONG),  # spec 1.29: epoch milliseconds
    ),
    "workout": _struct(
        ("id", STR),
        ("day", DATE),
        ("activity", STR),
        ("calories", DBL),
        ("distance", DBL),  # metres
        ("start_datetime", TS),
        ("end_datetime", TS),
        ("intensity", STR),
        ("label", STR),
        ("source", STR),
        ("meta", META),
    ),
    "session": _struct(
        ("id", STR),
        ("day", DATE),
        ("type", STR),
        ("start_datetime", TS),
        ("end_datetime", TS),
        ("mood", STR),
        ("heart_rate", SAMPLE),
        ("heart_rate_variability", SAMPLE),
        ("motion_count", SAMPLE),
        ("meta", META),
    ),
    "enhanced_tag": _struct(
        ("id", STR),
        ("tag_type_code", STR),
        ("start_time", TS),
        ("end_time", TS),
        ("start_day", DATE),
        ("end_day", DATE),
        ("comment", STR),
        ("custom_name", STR),
    ),
    "tag": _struct(
        ("id", STR),
        ("day", DATE),
        ("text", STR),
        ("timestamp", TS),
        ("tags", ArrayType(STR, True)),
    ),
    "vO2_max": _struct(
        ("id", STR),
        ("day", DATE),
        ("timestamp", TS),
        ("vo2_max", DBL),  # number in 1.23/1.27, integer in 1.29
        ("meta", META),
    ),
    "rest_mode_period": _struct(
        ("id", STR),
        ("start_day", DATE),
        ("start_time", TS),
        ("end_day", DATE),
        ("end_time", TS),
        ("episodes", ArrayType(_struct(("tags", ArrayType(STR, True)), ("timestamp", TS)), True)),
        ("meta", META),
    ),
    "ring_configuration": _struct(
        ("id", STR),
        ("color", STR),
        ("design", STR),
        ("firmware_version", STR),
        ("hardware_type", STR),
        ("set_up_at", TS),
        ("size", INT),
        ("meta", META),
    ),
    "personal_info": _struct(
        ("id", STR),
        ("age", INT),
        ("weight", DBL),  # kg
        ("height", DBL),  # m
        ("biological_sex", STR),
        ("email", STR),
    ),
}
"""The typed fields of one document of each endpoint (union of spec 1.23, 1.27, 1.29)."""

OFFSET_FIELD: dict[str, str] = {
    "daily_activity": "timestamp",
    "daily_readiness": "timestamp",
    "daily_sleep": "timestamp",
    "sleep": "bedtime_start",
    "workout": "start_datetime",
    "session": "start_datetime",
    "enhanced_tag": "start_time",
    "tag": "timestamp",
    "vO2_max": "timestamp",
    "rest_mode_period": "start_time",
}
"""The local-time field `timezone_offset` is read from (endpoints that have one)."""


def _json_type(dtype: DataType) -> DataType:
    """The type `from_json` reads a field as: dates and datetimes as their text."""
    if isinstance(dtype, (TimestampType, DateType)):
        return STR
    if isinstance(dtype, StructType):
        return StructType([StructField(f.name, _json_type(f.dataType), True) for f in dtype])
    if isinstance(dtype, ArrayType):
        return ArrayType(_json_type(dtype.elementType), True)
    return dtype


def record_json_schema(endpoint: str) -> StructType:
    """The `from_json` schema of one document of `endpoint`."""
    return _json_type(RECORDS[endpoint])  # type: ignore[return-value]


def payload_schema(endpoint: str) -> StructType:
    """The `from_json` schema of a whole response body of `endpoint`.

    Collections: `{"data": [doc, ...], "next_token": ...}`; personal_info: the document.
    """
    if not ENDPOINTS[endpoint].paginated:
        return record_json_schema(endpoint)
    return _struct(("data", ArrayType(record_json_schema(endpoint), True)), ("next_token", STR))


def table_schema(endpoint: str) -> StructType:
    """The bronze table's columns: account, the record, timezone_offset?, lineage."""
    fields = [StructField("account", STR, True), *RECORDS[endpoint].fields]
    if endpoint in OFFSET_FIELD:
        fields.append(StructField("timezone_offset", STR, True))  # e.g. "+02:00"
    fields += [StructField("_run_id", STR, True), StructField("_fetched_at", TS, True)]
    return StructType(fields)


def table_name(endpoint: str) -> str:
    """`oura_<endpoint>` in lower case (vO2_max -> oura_vo2_max)."""
    return f"oura_{endpoint.lower()}"


def _partition(endpoint: str) -> tuple[str, ...]:
    day_field = ENDPOINTS[endpoint].day_field
    return (f"months({day_field})",) if day_field else ()


TABLES: dict[str, TableSpec] = {
    name: TableSpec(
        namespace="bronze",
        name=table_name(name),
        schema=table_schema(name),
        partition_by=_partition(name),
        keys=("account", *ENDPOINTS[name].key),
        comment=f"Oura API v2 {ENDPOINTS[name].path} documents, typed, one row per "
        + ", ".join(("account", *ENDPOINTS[name].key)),
    )
    for name in ENDPOINTS
}
"""Every Oura bronze table, by endpoint name."""
