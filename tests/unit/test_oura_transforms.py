"""Oura bronze parsing on recorded pages (tests/fixtures/oura) with a real SparkSession."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from spark_jobs.common.raw import RAW_SCHEMA
from spark_jobs.oura.client import ENDPOINTS
from spark_jobs.oura.schemas import TABLES, payload_schema
from spark_jobs.oura.transforms import (
    malformed_pages,
    parse,
    records_in_window,
    window_sql,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "oura"
FETCHED_AT = datetime(2024, 12, 14, 10, 0, 0)  # naive = UTC (the session time zone is UTC)

FIXTURE_OF = {
    "daily_activity": "daily_activity.json",
    "daily_readiness": "daily_readiness.json",
    "daily_sleep": "daily_sleep.json",
    "daily_resilience": "daily_resilience.json",
    "daily_stress": "daily_stress.json",
    "daily_spo2": "daily_spo2.json",
    "daily_cardiovascular_age": "daily_cardiovascular_age.json",
    "sleep": "sleep.json",
    "sleep_time": "sleep_time.json",
    "heartrate": "heartrate.json",
    "workout": "workout.json",
    "session": "session.json",
    "enhanced_tag": "enhanced_tag.json",
    "tag": "tag.json",
    "vO2_max": "vo2_max.json",
    "rest_mode_period": "rest_mode_period.json",
    "ring_configuration": "ring_configuration.json",
    "personal_info": "personal_info.json",
}


def _raw(spark: SparkSession, endpoint: str, *bodies: str, account: str = "me") -> DataFrame:
    rows = []
    for i, body in enumerate(bodies):
        data = body.encode()
        rows.append(
            (
                f"run-{i + 1}",
                "oura",
                endpoint,
                account,
                None,
                f"https://api.ouraring.com/v2/usercollection/{endpoint}?page={i}",
                200,
                None,
                None,
                "application/json",
                FETCHED_AT,
                body,
                len(data),
                hashlib.sha256(data).hexdigest(),
            )
        )
    return spark.createDataFrame(rows, RAW_SCHEMA)


def _fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def _parse_fixture(spark: SparkSession, endpoint: str, name: str | None = None) -> DataFrame:
    return parse(endpoint, _raw(spark, endpoint, _fixture(name or FIXTURE_OF[endpoint])))


_ROWS: dict[str, list] = {}


def _rows(spark: SparkSession, endpoint: str) -> list:
    """The collected rows of an endpoint's fixture, parsed once per test run."""
    if endpoint not in _ROWS:
        _ROWS[endpoint] = _parse_fixture(spark, endpoint).collect()
    return _ROWS[endpoint]


def _by(rows: list, field: str) -> dict:
    return {r[field]: r for r in rows}


def test_every_endpoint_has_a_fixture_and_a_table() -> None:
    assert set(FIXTURE_OF) == set(ENDPOINTS) == set(TABLES)


@pytest.mark.parametrize("endpoint", sorted(FIXTURE_OF))
def test_every_fixture_parses_into_its_table_schema(spark: SparkSession, endpoint: str) -> None:
    out = _parse_fixture(spark, endpoint)
    assert out.schema == TABLES[endpoint].schema
    doc = json.loads(_fixture(FIXTURE_OF[endpoint]))
    expected = 1 if endpoint == "personal_info" else len(doc["data"])
    rows = out.collect()
    _ROWS[endpoint] = rows
    assert len(rows) == expected
    assert {(r["account"], r["_run_id"], r["_fetched_at"]) for r in rows} == {
        ("me", "run-1", FETCHED_AT)
    }


def test_contract_columns_hold(spark: SparkSession) -> None:
    """The columns the dbt staging models are written against (names and types)."""
    contract = {
        "daily_sleep": "account:string,id:string,day:date,score:int,timestamp:timestamp,"
        "contributors:struct<deep_sleep:int,efficiency:int,latency:int,rem_sleep:int,"
        "restfulness:int,timing:int,total_sleep:int>",
        "daily_readiness": "account:string,id:string,day:date,score:int,"
        "temperature_deviation:double,temperature_trend_deviation:double,"
        "contributors:struct<activity_balance:int,body_temperature:int,hrv_balance:int,"
        "previous_day_activity:int,previous_night:int,recovery_index:int,"
        "resting_heart_rate:int,sleep_balance:int,sleep_regularity:int>",
        "daily_resilience": "account:string,id:string,day:date,level:string,"
        "contributors:struct<sleep_recovery:double,daytime_recovery:double,stress:double>",
        "daily_stress": "account:string,id:string,day:date,stress_high:int,recovery_high:int,"
        "day_summary:string",
        "daily_activity": "account:string,id:string,day:date,score:int,steps:int,"
        "active_calories:int,total_calories:int",
        "daily_spo2": "account:string,id:string,day:date,spo2_percentage:struct<average:double>,"
        "breathing_disturbance_index:int",
        "sleep": "account:string,id:string,day:date,type:string,bedtime_start:timestamp,"
        "bedtime_end:timestamp,total_sleep_duration:int,deep_sleep_duration:int,"
        "rem_sleep_duration:int,light_sleep_duration:int,awake_time:int,time_in_bed:int,"
        "efficiency:int,latency:int,average_heart_rate:double,lowest_heart_rate:int,"
        "average_hrv:int,average_breath:double,period:int,timezone_offset:string",
        "heartrate": "account:string,timestamp:timestamp,bpm:int,source:string",
    }
    for endpoint, columns in contract.items():
        types = {f.name: f.dataType.simpleString() for f in TABLES[endpoint].schema}
        for column in _split(columns):
            name, dtype = column.split(":", 1)
            assert types.get(name) == dtype, (endpoint, name)
        assert {"_run_id", "_fetched_at"} <= set(types)
        assert types["_fetched_at"] == "timestamp"


def _split(columns: str) -> list[str]:
    """Split "a:int,b:struct<x:int,y:int>" on the top-level commas."""
    parts, depth, current = [], 0, ""
    for ch in columns:
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [*parts, current]


def test_table_names_keys_and_partitions() -> None:
    assert TABLES["vO2_max"].identifier == "lake.bronze.oura_vo2_max"
    assert TABLES["daily_sleep"].keys == ("account", "id")
    assert TABLES["daily_cardiovascular_age"].keys == ("account", "day")
    assert TABLES["heartrate"].keys == ("account", "timestamp", "source")
    assert TABLES["heartrate"].partition_by == ("months(timestamp)",)
    assert TABLES["sleep"].partition_by == ("months(day)",)
    assert TABLES["enhanced_tag"].partition_by == ("months(start_day)",)
    assert TABLES["personal_info"].partition_by == ()
    assert all(t.schema.fields[0].name == "account" for t in TABLES.values())


# ------------------------------------------------------------------- real values
def test_daily_sleep_values(spark: SparkSession) -> None:
    rows = _by(_rows(spark, "daily_sleep"), "day")
    day = rows[date(2024, 10, 21)]
    assert day["id"] == "60a0e9e2-91d3-4960-96b7-2bfaca40b044"
    assert day["score"] == 74
    assert day["contributors"].asDict() == {
        "deep_sleep": 69,
        "efficiency": 83,
        "latency": 97,
        "rem_sleep": 39,
        "restfulness": 70,
        "timing": 32,
        "total_sleep": 90,
    }
    # "2024-10-20T20:00:00-04:00": the UTC instant, and the offset kept aside
    assert day["timestamp"] == datetime(2024, 10, 21, 0, 0)
    assert day["timezone_offset"] == "-04:00"
    assert rows[date(2024, 10, 29)]["timezone_offset"] == "+11:00"
    assert rows[date(2024, 10, 29)]["timestamp"] == datetime(2024, 10, 29, 0, 0)
    assert day["meta"] is None  # a 1.23/1.27-shape document has no meta


def test_daily_readiness_resilience_stress_spo2_values(spark: SparkSession) -> None:
    readiness = _by(_rows(spark, "daily_readiness"), "day")[date(2024, 10, 21)]
    assert (readiness["score"], readiness["temperature_deviation"]) == (84, 0.07)
    assert readiness["temperature_trend_deviation"] == 0.18
    assert readiness["contributors"]["hrv_balance"] == 90
    assert readiness["contributors"]["resting_heart_rate"] == 100
    assert readiness["contributors"]["sleep_regularity"] is None  # added in spec 1.29

    resilience = _by(_rows(spark, "daily_resilience"), "day")[date(2024, 10, 21)]
    assert resilience["level"] == "adequate"
    assert resilience["contributors"].asDict() == {
        "sleep_recovery": 39.8,
        "daytime_recovery": 40.8,
        "stress": 46.8,
    }

    stress = _by(_rows(spark, "daily_stress"), "day")[date(2024, 10, 21)]
    assert (stress["stress_high"], stress["recovery_high"], stress["day_summary"]) == (
        0,
        6300,
        "normal",
    )

    spo2 = _by(_rows(spark, "daily_spo2"), "day")[date(2024, 10, 21)]
    assert spo2["spo2_percentage"]["average"] == 96.864
    assert spo2["breathing_disturbance_index"] == 11


def test_daily_activity_values(spark: SparkSession) -> None:
    (row,) = _rows(spark, "daily_activity")
    assert (row["day"], row["score"], row["steps"]) == (date(2024, 11, 11), 95, 15185)
    assert (row["active_calories"], row["total_calories"]) == (1153, 3502)
    assert row["meters_to_target"] == -3500
    assert row["average_met_minutes"] == 1.875
    assert row["contributors"]["stay_active"] == 65
    assert row["timezone_offset"] == "+01:00"
    assert row["timestamp"] == datetime(2024, 11, 11, 3, 0)  # 04:00+01:00
    assert row["met"]["interval"] == 60.0 and len(row["met"]["items"]) > 1000
    assert isinstance(row["met"]["timestamp"], datetime)


def test_cardiovascular_age_has_no_id_and_keys_on_day(spark: SparkSession) -> None:
    rows = _by(_rows(spark, "daily_cardiovascular_age"), "day")
    assert rows[date(2024, 10, 14)]["vascular_age"] == 42
    assert rows[date(2024, 10, 14)]["id"] is None


def test_sleep_session_values(spark: SparkSession) -> None:
    rows = _rows(spark, "sleep")
    first = _by(rows, "id")["96e7772a-64a7-4342-9c5f-3e5ed9e64d6d"]
    assert (first["day"], first["type"], first["period"]) == (date(2024, 10, 10), "long_sleep", 0)
    # "2024-10-10T01:01:59+02:00" -> 2024-10-09 23:01:59 UTC
    assert first["bedtime_start"] == datetime(2024, 10, 9, 23, 1, 59)
    assert first["bedtime_end"] == datetime(2024, 10, 10, 7, 4, 12)
    assert first["timezone_offset"] == "+02:00"
    assert (first["latency"], first["awake_time"], first["time_in_bed"]) == (930, 5713, 28933)
    assert (first["total_sleep_duration"], first["deep_sleep_duration"]) == (23220, 3060)
    assert (first["average_heart_rate"], first["lowest_heart_rate"]) == (71.25, 60)
    assert (first["average_hrv"], first["average_breath"], first["efficiency"]) == (38, 14.5, 80)
    assert first["low_battery_alert"] is False
    assert first["readiness"]["score"] == 71
    assert first["readiness"]["contributors"]["recovery_index"] == 23
    assert first["heart_rate"]["interval"] == 300.0
    assert len(first["heart_rate"]["items"]) == 96
    assert first["heart_rate"]["timestamp"] == datetime(2024, 10, 9, 23, 1, 59)
    assert first["hrv"]["items"][:3] == [12.0, 9.0, 14.0]
    assert first["sleep_phase_5_min"].startswith("4244211121")
    # several sessions per day land, one row each
    assert sum(1 for r in rows if r["day"] == date(2024, 10, 14)) == 6


def test_heartrate_is_typed(spark: SparkSession) -> None:
    out = _parse_fixture(spark, "heartrate")
    rows = out.orderBy("timestamp").collect()
    assert len(rows) == 240
    assert (rows[0]["timestamp"], rows[0]["bpm"], rows[0]["source"]) == (
        datetime(2024, 12, 13, 12, 31, 21),
        91,
        "awake",
    )
    assert {r["source"] for r in rows} == {"awake", "rest", "workout"}
    assert dict(out.dtypes)["timestamp"] == "timestamp"
    assert "timezone_offset" not in out.columns  # samples are UTC


def test_other_endpoints_values(spark: SparkSession) -> None:
    rest = _by(_rows(spark, "rest_mode_period"), "id")
    period = rest["bae89642-8e84-4205-9b46-5ed4638d95ee"]
    assert period["start_time"] == datetime(2023, 2, 25, 9, 52, 29)
    assert (period["start_day"], period["episodes"]) == (date(2023, 2, 25), [])
    assert period["timezone_offset"] == "+01:00"
    with_episode = next(r for r in rest.values() if r["episodes"])
    assert isinstance(with_episode["episodes"][0]["timestamp"], datetime)

    tag = _by(_rows(spark, "enhanced_tag"), "id")["b4fa0894-bb68-420d-b446-88b6ef544a5b"]
    assert tag["tag_type_code"] == "tag_generic_nocaffeine"
    assert (tag["start_day"], tag["end_time"]) == (date(2023, 8, 30), None)

    workout = _by(_rows(spark, "workout"), "id")["23264206-4a83-4619-abff-0e77bf6cd562"]
    assert (workout["activity"], workout["calories"], workout["distance"]) == (
        "walking",
        21.967,
        None,
    )
    assert workout["start_datetime"] == datetime(2024, 10, 9, 7, 7)

    (session,) = _rows(spark, "session")
    assert (session["type"], session["mood"], session["heart_rate"]) == ("breathing", "same", None)
    assert session["motion_count"]["timestamp"] == datetime(2024, 10, 9, 14, 39, 7)

    (vo2,) = _rows(spark, "vO2_max")
    assert vo2["vo2_max"] == 62.0 and vo2["timezone_offset"] == "+00:00"  # "...Z"

    (person,) = _rows(spark, "personal_info")
    assert (person["age"], person["weight"], person["height"]) == (35, 61.5, 1.68)
    assert person["email"] == "jane.doe@example.org"


# ------------------------------------------------------------- shapes and breakage
def test_old_and_new_shapes_land_together(spark: SparkSession) -> None:
    raw = _raw(
        spark,
        "daily_sleep",
        _fixture("daily_sleep.json"),
        _fixture("daily_sleep__v1_29_synthetic.json"),
    )
    rows = _by(parse("daily_sleep", raw).collect(), "id")
    old = rows["60a0e9e2-91d3-4960-96b7-2bfaca40b044"]
    new = rows["5d0c1c0e-2b1f-4a55-9b0e-6f3f2a9c0001"]
    assert (old["_run_id"], new["_run_id"]) == ("run-1", "run-2")
    assert old["meta"] is None
    assert new["meta"]["version"] == 3
    assert new["meta"]["updated_at"] == datetime(2026, 3, 2, 6, 15)  # 07:15+01:00
    assert new["score"] == 83 and new["contributors"]["timing"] == 95
    assert new["timezone_offset"] == "+01:00"


def test_unknown_fields_are_ignored_and_bad_values_null_only_themselves(
    spark: SparkSession,
) -> None:
    out = parse(
        "daily_sleep", _raw(spark, "daily_sleep", _fixture("daily_sleep__v1_29_synthetic.json"))
    )
    assert out.schema == TABLES["daily_sleep"].schema
    assert "brand_new_field" not in out.columns
    rows = _by(out.collect(), "id")
    # the document without an id is dropped; the one with a string score keeps its row
    assert set(rows) == {
        "5d0c1c0e-2b1f-4a55-9b0e-6f3f2a9c0001",
        "5d0c1c0e-2b1f-4a55-9b0e-6f3f2a9c0003",
    }
    broken = rows["5d0c1c0e-2b1f-4a55-9b0e-6f3f2a9c0003"]
    assert broken["score"] is None and broken["contributors"]["deep_sleep"] == 60


def test_new_readiness_contributor_lands(spark: SparkSession) -> None:
    raw = _raw(spark, "daily_readiness", _fixture("daily_readiness__v1_29_synthetic.json"))
    (row,) = parse("daily_readiness", raw).collect()
    assert row["contributors"]["sleep_regularity"] == 93
    assert row["contributors"]["hrv_balance"] is None
    assert row["meta"]["updated_at"] == datetime(2026, 3, 2, 8, 0)


def test_heartrate_without_key_is_dropped(spark: SparkSession) -> None:
    raw = _raw(spark, "heartrate", _fixture("heartrate__v1_29_synthetic.json"))
    rows = parse("heartrate", raw).orderBy("source").collect()
    # the same instant from two sources is two rows; no timestamp or no source: dropped
    assert [(r["source"], r["bpm"], r["timestamp_unix"]) for r in rows] == [
        ("live", 57, 1772431200000),
        ("sleep", 55, 1772431200000),
    ]
    assert rows[0]["timestamp"] == datetime(2026, 3, 2, 6, 0)


def test_cardiovascular_age_without_day_is_dropped(spark: SparkSession) -> None:
    body = json.dumps({"data": [{"vascular_age": 40}, {"day": "2024-10-01", "vascular_age": 41}]})
    rows = parse(
        "daily_cardiovascular_age", _raw(spark, "daily_cardiovascular_age", body)
    ).collect()
    assert [(r["day"], r["vascular_age"]) for r in rows] == [(date(2024, 10, 1), 41)]


def test_deleted_sleep_documents_land_as_delivered(spark: SparkSession) -> None:
    body = json.dumps(
        {
            "data": [
                {
                    "id": "0f0e0d0c-0000-4000-8000-000000000001",
                    "day": "2024-10-12",
                    "type": "deleted",
                    "bedtime_start": "2024-10-12T13:00:00+02:00",
                    "bedtime_end": "2024-10-12T13:30:00+02:00",
                    "period": 2,
                }
            ],
            "next_token": None,
        }
    )
    (row,) = parse("sleep", _raw(spark, "sleep", body)).collect()
    assert (row["type"], row["period"], row["total_sleep_duration"]) == ("deleted", 2, None)


def test_malformed_pages_yield_no_rows_and_are_listed(spark: SparkSession) -> None:
    good = _fixture("daily_stress.json")
    raw = _raw(spark, "daily_stress", good, good[:-300], _fixture("error_403.json"), '{"data": []}')
    assert parse("daily_stress", raw).count() == 21  # only the complete page
    bad = sorted(r["run_id"] for r in malformed_pages("daily_stress", raw).collect())
    assert bad == ["run-2", "run-3"]  # truncated, error object; an empty page is fine
    assert malformed_pages("personal_info", _raw(spark, "personal_info", "{}")).count() == 1


def test_unknown_endpoint_is_refused(spark: SparkSession) -> None:
    with pytest.raises(ValueError, match="unknown Oura endpoint"):
        parse("dailysleep", _raw(spark, "dailysleep", "{}"))


def test_payload_schema_is_explicit_and_reads_datetimes_as_text() -> None:
    data = payload_schema("sleep")["data"].dataType.elementType
    assert data["bedtime_start"].dataType.simpleString() == "string"
    assert data["heart_rate"].dataType.simpleString() == (
        "struct<interval:double,items:array<double>,timestamp:string>"
    )
    assert payload_schema("personal_info")["age"].dataType.simpleString() == "int"


# ------------------------------------------------------------------------ windows
def test_records_in_window_by_day(spark: SparkSession) -> None:
    out = _parse_fixture(spark, "daily_sleep")
    kept = records_in_window("daily_sleep", out, date(2024, 10, 20), date(2024, 10, 22))
    assert sorted(r["day"].isoformat() for r in kept.collect()) == [
        "2024-10-20",
        "2024-10-21",  # its timestamp says 10-20 local, but `day` decides
        "2024-10-22",
    ]
    out.createOrReplaceTempView("oura_sleep_window_test")
    sql = window_sql("daily_sleep", date(2024, 10, 20), date(2024, 10, 22))
    assert (
        spark.sql(f"SELECT count(*) AS n FROM oura_sleep_window_test WHERE {sql}").first()[0] == 3
    )


def test_records_in_window_by_start_day(spark: SparkSession) -> None:
    out = _parse_fixture(spark, "enhanced_tag")
    kept = records_in_window("enhanced_tag", out, date(2023, 8, 30), date(2023, 8, 31))
    assert {r["start_day"] for r in kept.collect()} == {date(2023, 8, 30), date(2023, 8, 31)}


def test_heartrate_window_is_utc_half_open(spark: SparkSession) -> None:
    samples = [
        ("2024-12-12T23:59:59+00:00", 60),
        ("2024-12-13T00:00:00+00:00", 61),  # first instant of the window
        ("2024-12-14T01:30:00+02:00", 62),  # 2024-12-13 23:30 UTC: inside
        ("2024-12-14T00:00:00+00:00", 63),  # first instant after it
    ]
    body = json.dumps({"data": [{"timestamp": t, "bpm": b, "source": "rest"} for t, b in samples]})
    out = parse("heartrate", _raw(spark, "heartrate", body))
    kept = records_in_window("heartrate", out, date(2024, 12, 13), date(2024, 12, 13))
    assert sorted(r["bpm"] for r in kept.collect()) == [61, 62]
    out.createOrReplaceTempView("oura_hr_window_test")
    sql = window_sql("heartrate", date(2024, 12, 13), date(2024, 12, 13))
    assert spark.sql(f"SELECT count(*) FROM oura_hr_window_test WHERE {sql}").first()[0] == 2


def test_unwindowed_tables_keep_everything(spark: SparkSession) -> None:
    out = _parse_fixture(spark, "ring_configuration")
    assert (
        records_in_window("ring_configuration", out, date(2024, 1, 1), date(2024, 1, 1)).count()
        == 2
    )
