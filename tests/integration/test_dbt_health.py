"""dbt health marts on the `local` target: hand-written Oura bronze rows -> dbt -> values.

The bronze tables are created from `spark_jobs.oura.schemas.TABLES` and filled with a few
rows written here by hand. The daily documents of 2024-11-11/12 copy the real recordings in
the shared Oura responses (`daily_{sleep,readiness,resilience,stress,activity}__2024-11-11_
2024-11-12.json`); the long_sleep session copies `sleep__single_document.json` (moved to
2024-11-11, its +02:00 bedtimes written as UTC); everything else is invented to hit one
rule each (a longer nap, deleted sessions, heart-rate samples either side of midnight in
Europe/Madrid). Expected values are worked out by hand in the comments, not recomputed
with the models' logic.

dbt runs in process on the test session's Spark (dbt-spark session mode), straight into
`lake.marts` (no WAP wrapper: `lakehouse transform` is tested in test_dbt_chess.py). A
second, incremental run rescores a day, adds one, deletes a day's only document and
edits a day outside the lookback window, and the marts follow exactly as documented.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from spark_jobs.transform import DBT_PROJECT_DIR, dbt_env

pytestmark = pytest.mark.spark

ACCOUNT = "me"
# No row in the health_accounts seed: the var gives the zone. UTC+1 in Oct/Nov 2024, so a
# sample at 23:30 UTC belongs to the next local day.
TIMEZONE = "Europe/Madrid"
DBT_VARS = f'{{"health_timezone": "{TIMEZONE}"}}'
SELECT = "+daily_health+"
ENDPOINTS = (
    "daily_sleep",
    "daily_readiness",
    "daily_resilience",
    "daily_stress",
    "daily_activity",
    "daily_spo2",
    "sleep",
    "heartrate",
)
FETCHED_1 = datetime(2024, 11, 13, 8, 0, tzinfo=UTC)
FETCHED_2 = datetime(2024, 11, 14, 8, 0, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def sleep_contributors(values: list[int]) -> dict[str, int]:
    names = [
        "deep_sleep",
        "efficiency",
        "latency",
        "rem_sleep",
        "restfulness",
        "timing",
        "total_sleep",
    ]
    return dict(zip(names, values, strict=True))


def readiness_contributors(values: list[int]) -> dict[str, int]:
    names = [
        "activity_balance",
        "body_temperature",
        "hrv_balance",
        "previous_day_activity",
        "previous_night",
        "recovery_index",
        "resting_heart_rate",
        "sleep_balance",
    ]
    return dict(zip(names, values, strict=True))


# ------------------------------------------------------------------ bronze rows, run 1
RUN_1: dict[str, list[dict[str, Any]]] = {
    "daily_sleep": [
        # Real documents (daily_sleep__2024-11-11_2024-11-12.json).
        {
            "id": "fd485d19",
            "day": date(2024, 11, 12),
            "score": 83,
            "contributors": sleep_contributors([97, 95, 67, 96, 79, 21, 95]),
        },
        {
            "id": "07424560",
            "day": date(2024, 11, 11),
            "score": 77,
            "contributors": sleep_contributors([68, 93, 94, 55, 66, 60, 86]),
        },
        # Invented: a day of another month with nothing but a sleep score.
        {
            "id": "ds-1031",
            "day": date(2024, 10, 31),
            "score": 70,
            "contributors": sleep_contributors([50] * 7),
        },
    ],
    "daily_readiness": [
        {
            "id": "93b2a8ec",
            "day": date(2024, 11, 11),
            "score": 86,
            "temperature_deviation": 0.1,
            "temperature_trend_deviation": 0.13,
            "contributors": readiness_contributors([94, 97, 95, 91, 77, 64, 92, 92]),
        },
        {
            "id": "d90a1159",
            "day": date(2024, 11, 12),
            "score": 87,
            "temperature_deviation": -0.29,
            "temperature_trend_deviation": -0.03,
            "contributors": readiness_contributors([93, 95, 90, 70, 93, 71, 93, 97]),
        },
    ],
    "daily_resilience": [
        {
            "id": "b17f152f",
            "day": date(2024, 11, 11),
            "level": "adequate",
            "contributors": {"sleep_recovery": 46.2, "daytime_recovery": 49.3, "stress": 34.5},
        },
        {
            "id": "87046195",
            "day": date(2024, 11, 12),
            "level": "adequate",
            "contributors": {"sleep_recovery": 46.7, "daytime_recovery": 49.8, "stress": 33.9},
        },
    ],
    "daily_stress": [
        {
            "id": "ec98c864",
            "day": date(2024, 11, 11),
            "stress_high": 1800,
            "recovery_high": 7200,
            "day_summary": "normal",
        },
        {
            "id": "dba37165",
            "day": date(2024, 11, 12),
            "stress_high": 1800,
            "recovery_high": 9900,
            "day_summary": "restored",
        },
    ],
    "daily_activity": [
        {
            "id": "3e8de08b",
            "day": date(2024, 11, 11),
            "score": 95,
            "steps": 15185,
            "active_calories": 1153,
            "total_calories": 3502,
        },
    ],
    "daily_spo2": [
        {
            "id": "spo2-1111",
            "day": date(2024, 11, 11),
            "spo2_percentage": {"average": 97.497},
            "breathing_disturbance_index": 9,
        },
        # Invented: the only document of 2024-11-10; run 2 deletes it.
        {
            "id": "spo2-1110",
            "day": date(2024, 11, 10),
            "spo2_percentage": {"average": 96.5},
            "breathing_disturbance_index": 5,
        },
    ],
    "sleep": [
        # 2024-11-11: long_sleep (sleep__single_document.json) beats a longer nap and a
        # longer deleted session.
        {
            "id": "s-long",
            "day": date(2024, 11, 11),
            "type": "long_sleep",
            "bedtime_start": utc("2024-11-10 23:01:59"),
            "bedtime_end": utc("2024-11-11 07:04:12"),
            "total_sleep_duration": 23220,
            "deep_sleep_duration": 3060,
            "rem_sleep_duration": 3000,
            "light_sleep_duration": 17160,
            "awake_time": 5713,
            "time_in_bed": 28933,
            "efficiency": 80,
            "latency": 930,
            "average_heart_rate": 71.25,
            "lowest_heart_rate": 60,
            "average_hrv": 38,
            "average_breath": 14.5,
        },
        {
            "id": "s-nap",
            "day": date(2024, 11, 11),
            "type": "sleep",
            "bedtime_start": utc("2024-11-11 12:00:00"),
            "bedtime_end": utc("2024-11-11 21:00:00"),
            "total_sleep_duration": 30000,
            "time_in_bed": 32400,
        },
        {
            "id": "s-del",
            "day": date(2024, 11, 11),
            "type": "deleted",
            "total_sleep_duration": 40000,
            "time_in_bed": 41000,
        },
        # 2024-11-12: no long_sleep: the longest session (5100 s) wins; deleted ignored.
        {
            "id": "s-short",
            "day": date(2024, 11, 12),
            "type": "sleep",
            "bedtime_start": utc("2024-11-12 11:47:30"),
            "bedtime_end": utc("2024-11-12 12:43:30"),
            "total_sleep_duration": 2580,
            "deep_sleep_duration": 0,
            "rem_sleep_duration": 300,
            "light_sleep_duration": 2280,
            "awake_time": 780,
            "time_in_bed": 3360,
        },
        {
            "id": "s-longest",
            "day": date(2024, 11, 12),
            "type": "sleep",
            "bedtime_start": utc("2024-11-11 23:00:00"),
            "bedtime_end": utc("2024-11-12 00:54:50"),
            "total_sleep_duration": 5100,
            "deep_sleep_duration": 1200,
            "rem_sleep_duration": 900,
            "light_sleep_duration": 3000,
            "awake_time": 1790,
            "time_in_bed": 6890,
            "efficiency": 74,
            "latency": 300,
            "average_heart_rate": 58.5,
            "lowest_heart_rate": 52,
            "average_hrv": 41,
            "average_breath": 13.75,
        },
        {
            "id": "s-del2",
            "day": date(2024, 11, 12),
            "type": "deleted",
            "total_sleep_duration": 9000,
            "time_in_bed": 9500,
        },
    ],
    "heartrate": [
        # Local day in Europe/Madrid (UTC+1) in the comment.
        {"timestamp": utc("2024-11-11 10:00:00"), "bpm": 70, "source": "awake"},  # 11-11
        {"timestamp": utc("2024-11-11 12:00:00"), "bpm": 50, "source": "rest"},  # 11-11
        {"timestamp": utc("2024-11-11 22:30:00"), "bpm": 80, "source": "awake"},  # 11-11 23:30
        {"timestamp": utc("2024-11-11 23:30:00"), "bpm": 60, "source": "awake"},  # 11-12 00:30
        {"timestamp": utc("2024-11-12 03:00:00"), "bpm": 54, "source": "rest"},  # 11-12
        {"timestamp": utc("2024-11-12 04:00:00"), "bpm": 45, "source": "sleep"},  # not averaged
        {"timestamp": utc("2024-11-12 10:00:00"), "bpm": 150, "source": "workout"},  # not averaged
        # 11-13 00:10 local: no daily document that day yet, so no row in run 1.
        {"timestamp": utc("2024-11-12 23:10:00"), "bpm": 90, "source": "awake"},
    ],
}


# ------------------------------------------------------------------------- helpers
def append(spark, endpoint: str, rows: list[dict[str, Any]], fetched_at: datetime) -> None:
    """Append rows (API field names) to lake.bronze.oura_<endpoint>; absent fields NULL."""
    from spark_jobs.oura.schemas import TABLES

    spec = TABLES[endpoint]
    lineage = {"account": ACCOUNT, "_run_id": f"test-{fetched_at:%d}", "_fetched_at": fetched_at}
    full = [{**lineage, **row} for row in rows]
    spark.createDataFrame(full, spec.schema).writeTo(spec.identifier).append()


def dbt(settings, *args: str) -> None:
    """One in-process dbt command on the local target; fails the test with dbt's errors."""
    from dbt.cli.main import dbtRunner

    work = Path(settings.home) / "dbt-health"
    result = dbtRunner().invoke(
        [
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target",
            "local",
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
            "--vars",
            DBT_VARS,
        ]
    )
    failed = [
        f"{r.node.name}: {(r.message or '').strip()[:500]}"
        for r in (getattr(result.result, "results", None) or [])
        if str(getattr(r.status, "value", r.status)) in ("error", "fail", "runtime error")
    ]
    assert result.success and not failed, (result.exception, failed)


def build(settings) -> None:
    """Models, seeds, data tests and unit tests of the health marts and their parents."""
    dbt(settings, "build", "--select", SELECT)


def rows(spark, table: str) -> dict[date, dict[str, Any]]:
    found = spark.table(f"lake.marts.{table}").where(f"account = '{ACCOUNT}'").collect()
    return {r["day"]: r.asDict(recursive=True) for r in found}


def months(spark) -> dict[tuple[int, int], dict[str, Any]]:
    found = spark.table("lake.marts.agg_monthly_health").where(f"account = '{ACCOUNT}'").collect()
    return {(r["year"], r["month"]): r.asDict(recursive=True) for r in found}


# ------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def dbt_environ(settings) -> Iterator[None]:
    env = {**dbt_env(settings), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    with mock.patch.dict(os.environ, env):
        yield


@pytest.fixture(scope="module")
def first_run(spark, settings, dbt_environ) -> dict[str, Any]:
    from spark_jobs.common.iceberg import ensure_table
    from spark_jobs.oura.schemas import TABLES

    for endpoint in ENDPOINTS:
        ensure_table(spark, TABLES[endpoint])
        assert spark.table(TABLES[endpoint].identifier).count() == 0, "a fresh lakehouse"
    for endpoint, endpoint_rows in RUN_1.items():
        # One commit per row, newest first: the input files are not in day order, so the
        # monthly arrays are ordered by the model, not by the files.
        for row in endpoint_rows:
            append(spark, endpoint, [row], FETCHED_1)
    # The empty marts first (as `lakehouse transform` does): the incremental unit tests
    # read the columns of `this`.
    dbt(
        settings,
        "build",
        "--empty",
        "--select",
        SELECT,
        "--exclude-resource-type",
        "test",
        "--exclude-resource-type",
        "unit_test",
    )
    build(settings)
    return {"daily": rows(spark, "daily_health"), "monthly": months(spark)}


@pytest.fixture(scope="module")
def second_run(spark, settings, first_run) -> dict[str, Any]:
    bronze = "lake.bronze.oura_"
    late = f"timestamp '{FETCHED_2:%Y-%m-%d %H:%M:%S}'"
    # Oura rescored 11-12 (within the window): same document, new score.
    spark.sql(
        f"update {bronze}daily_sleep set score = 90, _fetched_at = {late} where id = 'fd485d19'"
    )
    # An edit of 10-31, before the window (newest day 11-12 minus 7 days = 11-05): the
    # incremental run does not read it, so daily_health keeps 70 (a full refresh would not).
    spark.sql(f"update {bronze}daily_sleep set score = 10 where id = 'ds-1031'")
    # 11-10's only document disappeared: the day leaves the mart.
    spark.sql(f"delete from {bronze}daily_spo2 where id = 'spo2-1110'")
    # A new day, 11-13, whose awake sample (23:10 UTC on 11-12) was already in bronze.
    append(
        spark,
        "daily_sleep",
        [
            {
                "id": "ds-1113",
                "day": date(2024, 11, 13),
                "score": 80,
                "contributors": sleep_contributors([80] * 7),
            }
        ],
        FETCHED_2,
    )
    append(
        spark,
        "daily_readiness",
        [
            {
                "id": "dr-1113",
                "day": date(2024, 11, 13),
                "score": 75,
                "contributors": readiness_contributors([75] * 8),
            }
        ],
        FETCHED_2,
    )
    append(
        spark,
        "heartrate",
        [{"timestamp": utc("2024-11-13 12:00:00"), "bpm": 52, "source": "rest"}],
        FETCHED_2,
    )
    build(settings)
    return {"daily": rows(spark, "daily_health"), "monthly": months(spark)}


# ---------------------------------------------------------------------------- tests
def test_daily_health_maps_every_input(first_run) -> None:
    daily = first_run["daily"]
    assert sorted(daily) == [
        date(2024, 10, 31),
        date(2024, 11, 10),
        date(2024, 11, 11),
        date(2024, 11, 12),
    ]
    d = daily[date(2024, 11, 11)]
    expected = {
        "account": ACCOUNT,
        "year": 2024,
        "month": 11,
        # daily_resilience.level / contributors
        "resilience_level": "adequate",
        "sleep_recovery": 46.2,
        "daytime_recovery": 49.3,
        "stress": 34.5,
        # daily_sleep.score / contributors (scores, not durations)
        "sleep_score": 77.0,
        "deep_sleep": 68.0,
        "efficiency": 93.0,
        "latency": 94.0,
        "rem_sleep": 55.0,
        "restfulness": 66.0,
        "timing": 60.0,
        "total_sleep": 86.0,
        # daily_readiness.score / contributors
        "readiness_score": 86.0,
        "activity_balance": 94.0,
        "body_temperature": 97.0,
        "hrv_balance": 95.0,
        "recovery_index": 64.0,
        "resting_heart_rate": 92.0,
        "sleep_balance": 92.0,
        "previous_day_activity": 91.0,
        "previous_night": 77.0,
        "temperature_deviation": 0.1,
        "temperature_trend_deviation": 0.13,
        # daily_stress, daily_activity, daily_spo2
        "stress_high": 1800.0,
        "recovery_high": 7200.0,
        "day_summary": "normal",
        "activity_score": 95.0,
        "steps": 15185.0,
        "active_calories": 1153.0,
        "total_calories": 3502.0,
        "spo2_average": 97.497,
        "breathing_disturbance_index": 9.0,
    }
    assert {k: d[k] for k in expected} == expected
    # Days with a single endpoint: the rest is NULL, never a made-up zero.
    only_sleep = daily[date(2024, 10, 31)]
    assert only_sleep["sleep_score"] == 70.0 and only_sleep["month"] == 10
    assert only_sleep["readiness_score"] is None and only_sleep["resilience_level"] is None
    assert only_sleep["sleep_sessions"] == 0.0 and only_sleep["main_sleep_type"] is None
    assert daily[date(2024, 11, 10)]["spo2_average"] == 96.5


def test_daily_health_types(spark, first_run) -> None:
    types = dict(spark.table("lake.marts.daily_health").dtypes)
    assert types["day"] == "date" and types["year"] == "int" and types["month"] == "int"
    assert types["resilience_level"] == "string" and types["day_summary"] == "string"
    assert types["main_sleep_bedtime_start"] == "timestamp"
    numeric = {c for c, t in types.items() if t not in ("string", "date", "timestamp", "int")}
    assert {t for c, t in types.items() if c in numeric} == {"double"}
    seed_columns = [
        "year",
        "month",
        "day",
        "resilience_level",
        "sleep_recovery",
        "daytime_recovery",
        "stress",
        "sleep_score",
        "deep_sleep",
        "efficiency",
        "latency",
        "rem_sleep",
        "restfulness",
        "timing",
        "total_sleep",
        "avg_awake_bpm",
        "avg_rest_bpm",
        "readiness_score",
        "activity_balance",
        "body_temperature",
        "hrv_balance",
        "recovery_index",
        "resting_heart_rate",
        "sleep_balance",
    ]
    columns = spark.table("lake.marts.daily_health").columns
    assert columns[: len(seed_columns) + 1] == ["account", *seed_columns]


def test_main_sleep_is_long_sleep_else_the_longest(first_run) -> None:
    daily = first_run["daily"]
    long = daily[date(2024, 11, 11)]  # long_sleep beats the longer nap and deleted session
    assert long["main_sleep_type"] == "long_sleep" and long["sleep_sessions"] == 2.0
    assert (
        long["main_sleep_total_seconds"],
        long["main_sleep_deep_seconds"],
        long["main_sleep_rem_seconds"],
        long["main_sleep_light_seconds"],
        long["main_sleep_awake_seconds"],
        long["main_sleep_time_in_bed_seconds"],
        long["main_sleep_efficiency"],
        long["main_sleep_latency_seconds"],
        long["main_sleep_average_heart_rate"],
        long["main_sleep_lowest_heart_rate"],
        long["main_sleep_average_hrv"],
        long["main_sleep_average_breath"],
    ) == (23220.0, 3060.0, 3000.0, 17160.0, 5713.0, 28933.0, 80.0, 930.0, 71.25, 60.0, 38.0, 14.5)
    assert long["main_sleep_bedtime_start"] == datetime(2024, 11, 10, 23, 1, 59)
    assert long["main_sleep_bedtime_end"] == datetime(2024, 11, 11, 7, 4, 12)
    # No long_sleep on 11-12: 5100 s beats 2580 s; the deleted 9000 s session is ignored.
    longest = daily[date(2024, 11, 12)]
    assert longest["main_sleep_type"] == "sleep" and longest["sleep_sessions"] == 2.0
    assert longest["main_sleep_total_seconds"] == 5100.0
    assert longest["main_sleep_time_in_bed_seconds"] == 6890.0
    assert longest["main_sleep_average_hrv"] == 41.0


def test_average_bpm_over_the_local_day(first_run) -> None:
    daily = first_run["daily"]
    # 11-11 local: awake 70 and 80 (22:30 UTC = 23:30 Madrid), rest 50. In UTC the 23:30
    # sample (60) would have joined them: (70 + 80 + 60) / 3 = 70.
    assert daily[date(2024, 11, 11)]["avg_awake_bpm"] == pytest.approx(75.0)
    assert daily[date(2024, 11, 11)]["avg_rest_bpm"] == pytest.approx(50.0)
    # 11-12 local: awake 60 (00:30 Madrid), rest 54; sleep and workout samples not counted.
    assert daily[date(2024, 11, 12)]["avg_awake_bpm"] == pytest.approx(60.0)
    assert daily[date(2024, 11, 12)]["avg_rest_bpm"] == pytest.approx(54.0)
    assert daily[date(2024, 11, 10)]["avg_awake_bpm"] is None


def test_monthly_rows_and_ordered_details(first_run) -> None:
    monthly = first_run["monthly"]
    assert sorted(monthly) == [(2024, 10), (2024, 11)]
    nov = monthly[(2024, 11)]
    assert nov["total_days"] == 3 and nov["last_day"] == date(2024, 11, 12)
    assert nov["avg_sleep_score"] == pytest.approx((77 + 83) / 2)  # 11-10 has no score
    assert nov["avg_readiness_score"] == pytest.approx((86 + 87) / 2)
    assert nov["avg_stress"] == pytest.approx((34.5 + 33.9) / 2)
    assert nov["avg_awake_bpm"] == pytest.approx((75 + 60) / 2)
    assert nov["avg_rest_bpm"] == pytest.approx((50 + 54) / 2)
    details = nov["daily_details"]
    assert [d["day"] for d in details] == [
        date(2024, 11, 10),
        date(2024, 11, 11),
        date(2024, 11, 12),
    ]
    # Each struct is that day's daily_health row, every column but the key.
    day_row = dict(first_run["daily"][date(2024, 11, 11)])
    for key in ("account", "year", "month"):
        day_row.pop(key)
    assert details[1] == day_row
    assert monthly[(2024, 10)]["avg_sleep_score"] == 70.0


def test_incremental_run_follows_bronze(second_run) -> None:
    daily = second_run["daily"]
    # 11-10 lost its only document; 11-13 arrived.
    assert sorted(daily) == [
        date(2024, 10, 31),
        date(2024, 11, 11),
        date(2024, 11, 12),
        date(2024, 11, 13),
    ]
    assert daily[date(2024, 11, 12)]["sleep_score"] == 90.0  # rescored in the window
    assert daily[date(2024, 10, 31)]["sleep_score"] == 70.0  # before the window: not re-read
    new = daily[date(2024, 11, 13)]
    assert new["sleep_score"] == 80.0 and new["readiness_score"] == 75.0
    # The sample at 23:10 UTC on 11-12 (Madrid 00:10 on 11-13) now has its day.
    assert new["avg_awake_bpm"] == pytest.approx(90.0) and new["avg_rest_bpm"] == 52.0
    # Unchanged days keep their values.
    assert daily[date(2024, 11, 11)]["avg_awake_bpm"] == pytest.approx(75.0)
    assert daily[date(2024, 11, 11)]["main_sleep_type"] == "long_sleep"


def test_incremental_run_updates_the_current_month(second_run) -> None:
    nov = second_run["monthly"][(2024, 11)]
    assert nov["total_days"] == 3 and nov["last_day"] == date(2024, 11, 13)
    assert [d["day"] for d in nov["daily_details"]] == [
        date(2024, 11, 11),
        date(2024, 11, 12),
        date(2024, 11, 13),
    ]
    assert [d["sleep_score"] for d in nov["daily_details"]] == [77.0, 90.0, 80.0]
    assert nov["avg_sleep_score"] == pytest.approx((77 + 90 + 80) / 3)
    assert nov["avg_readiness_score"] == pytest.approx((86 + 87 + 75) / 3)
    assert nov["avg_awake_bpm"] == pytest.approx((75 + 60 + 90) / 3)
    assert nov["avg_rest_bpm"] == pytest.approx((50 + 54 + 52) / 3)
    assert second_run["monthly"][(2024, 10)]["avg_sleep_score"] == 70.0
