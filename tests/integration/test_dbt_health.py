"""dbt health marts on the `local` target: hand-written Oura and WHOOP bronze rows -> dbt
-> values.

The bronze tables are created from `spark_jobs.{oura,whoop}.schemas.TABLES` and filled with
a few rows written here by hand. The daily documents of 2024-11-11/12 copy the real recordings in
the shared Oura responses (`daily_{sleep,readiness,resilience,stress,activity}__2024-11-11_
2024-11-12.json`); the long_sleep session copies `sleep__single_document.json` (moved to
2024-11-11, its +02:00 bedtimes written as UTC); everything else is invented to hit one
rule each (a longer nap, deleted sessions, heart-rate samples either side of midnight in
Europe/Madrid). Expected values are worked out by hand in the comments, not recomputed
with the models' logic. The WHOOP rows (no real recordings exist) follow the v2 spec's
shapes; the same person wears both devices for part of the time, so fct_daily_health has
days from Oura alone, WHOOP alone and both.

dbt runs in process on the test session's Spark (dbt-spark session mode), straight into
`lake.marts` (no WAP wrapper: `lakehouse transform` is tested in test_dbt_chess.py). A
second, incremental run rescores a day, adds one, deletes a day's only document and
edits a day outside the lookback window, WHOOP scores a pending sleep and deletes one, and
the person's health_accounts row (written into a copy of the dbt project) now prefers
WHOOP; the marts follow exactly as documented.
"""

from __future__ import annotations

import os
import shutil
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
SELECT = "+daily_health+ +fct_daily_health+ +fct_sleep_sessions+"
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


# ------------------------------------------------------------- WHOOP bronze rows, run 1
def stages(in_bed: int, awake: int, light: int, deep: int, rem: int) -> dict[str, Any]:
    """A scored WHOOP sleep's `score` (milliseconds)."""
    return {
        "stage_summary": {
            "total_in_bed_time_milli": in_bed,
            "total_awake_time_milli": awake,
            "total_no_data_time_milli": 0,
            "total_light_sleep_time_milli": light,
            "total_slow_wave_sleep_time_milli": deep,
            "total_rem_sleep_time_milli": rem,
        }
    }


def vitals(score: float, rhr: float, hrv: float, spo2: float, skin: float) -> dict[str, Any]:
    """A scored WHOOP recovery's `score`."""
    return {
        "user_calibrating": False,
        "recovery_score": score,
        "resting_heart_rate": rhr,
        "hrv_rmssd_milli": hrv,
        "spo2_percentage": spo2,
        "skin_temp_celsius": skin,
    }


WHOOP_RUN_1: dict[str, list[dict[str, Any]]] = {
    "sleep": [
        # 11-11 (ends 06:30 UTC = 07:30 at +01:00): the night, and a nap the same day.
        {
            "id": "w-1111",
            "cycle_id": 1001,
            "start": utc("2024-11-10 22:40:00"),
            "end": utc("2024-11-11 06:30:00"),
            "timezone_offset": "+01:00",
            "nap": False,
            "score_state": "SCORED",
            "score": {
                **stages(28_200_000, 2_400_400, 14_000_600, 6_000_000, 5_799_499),
                "respiratory_rate": 15.2,
                "sleep_performance_percentage": 88.0,
                "sleep_efficiency_percentage": 91.5,
            },
        },
        {
            "id": "w-nap",
            "cycle_id": 1001,
            "start": utc("2024-11-11 13:00:00"),
            "end": utc("2024-11-11 13:40:00"),
            "timezone_offset": "+01:00",
            "nap": True,
            "score_state": "SCORED",
            "score": stages(2_400_000, 300_000, 1_500_000, 600_000, 0),
        },
        # 11-12: two non-nap sleeps; the longer is the main one. Run 2 deletes the short.
        {
            "id": "w-1112",
            "cycle_id": 1002,
            "start": utc("2024-11-11 23:30:00"),
            "end": utc("2024-11-12 05:55:00"),
            "timezone_offset": "+01:00",
            "nap": False,
            "score_state": "SCORED",
            "score": {
                **stages(23_100_000, 1_500_000, 12_000_000, 5_000_000, 4_600_000),
                "respiratory_rate": 14.8,
                "sleep_performance_percentage": 70.0,
                "sleep_efficiency_percentage": 93.5,
            },
        },
        {
            "id": "w-1112-short",
            "cycle_id": 1002,
            "start": utc("2024-11-11 21:00:00"),
            "end": utc("2024-11-11 23:10:00"),
            "timezone_offset": "+01:00",
            "nap": False,
            "score_state": "SCORED",
            "score": stages(7_800_000, 800_000, 4_000_000, 2_000_000, 1_000_000),
        },
        # Ends 23:30 UTC on 11-09, 01:30 on 11-10 at +02:00 (abroad): its day is 11-10.
        {
            "id": "w-1110",
            "cycle_id": 1000,
            "start": utc("2024-11-09 16:00:00"),
            "end": utc("2024-11-09 23:30:00"),
            "timezone_offset": "+02:00",
            "nap": False,
            "score_state": "SCORED",
            "score": {
                **stages(27_000_000, 1_000_000, 15_000_000, 6_000_000, 5_000_000),
                "respiratory_rate": 16.0,
                "sleep_performance_percentage": 95.0,
                "sleep_efficiency_percentage": 96.0,
            },
        },
        # 11-08: not scored yet (run 2 scores it).
        {
            "id": "w-1108",
            "cycle_id": 999,
            "start": utc("2024-11-07 23:00:00"),
            "end": utc("2024-11-08 06:00:00"),
            "timezone_offset": "+01:00",
            "nap": False,
            "score_state": "PENDING_SCORE",
        },
    ],
    "recovery": [
        {
            "cycle_id": 1001,
            "sleep_id": "w-1111",
            "score_state": "SCORED",
            "score": vitals(66.0, 55.0, 48.5, 96.2, 33.9),
        },
        {
            "cycle_id": 1002,
            "sleep_id": "w-1112",
            "score_state": "SCORED",
            "score": vitals(40.0, 58.0, 35.0, 95.0, 34.1),
        },
        {
            "cycle_id": 1000,
            "sleep_id": "w-1110",
            "score_state": "SCORED",
            "score": vitals(75.0, 50.0, 60.0, 97.0, 33.5),
        },
        {"cycle_id": 999, "sleep_id": "w-1108", "score_state": "PENDING_SCORE"},
    ],
    "cycle": [
        # kJ / 4.184 = kcal: 8368 -> 2000, 6276 -> 1500, 10460 -> 2500, 4184 -> 1000.
        {
            "id": 1001,
            "start": utc("2024-11-10 22:40:00"),
            "end": utc("2024-11-11 23:30:00"),
            "timezone_offset": "+01:00",
            "score_state": "SCORED",
            "score": {"strain": 12.5, "kilojoule": 8368.0},
        },
        {
            "id": 1002,
            "start": utc("2024-11-11 23:30:00"),
            "end": None,
            "timezone_offset": "+01:00",
            "score_state": "SCORED",
            "score": {"strain": 8.0, "kilojoule": 6276.0},
        },
        {
            "id": 1000,
            "start": utc("2024-11-09 16:00:00"),
            "end": utc("2024-11-10 22:40:00"),
            "timezone_offset": "+02:00",
            "score_state": "SCORED",
            "score": {"strain": 10.0, "kilojoule": 10460.0},
        },
        {
            "id": 999,
            "start": utc("2024-11-07 23:00:00"),
            "end": utc("2024-11-09 16:00:00"),
            "timezone_offset": "+01:00",
            "score_state": "SCORED",
            "score": {"strain": 5.0, "kilojoule": 4184.0},
        },
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


def append_whoop(spark, resource: str, rows: list[dict[str, Any]], fetched_at: datetime) -> None:
    """Append rows (API field names) to lake.bronze.whoop_<resource>; absent fields NULL."""
    from spark_jobs.whoop.schemas import TABLES

    spec = TABLES[resource]
    lineage = {"account": ACCOUNT, "_run_id": f"whoop-{fetched_at:%d}", "_fetched_at": fetched_at}
    full = [{**lineage, **row} for row in rows]
    spark.createDataFrame(full, spec.schema).writeTo(spec.identifier).append()


def dbt(settings, *args: str, project: Path = DBT_PROJECT_DIR) -> None:
    """One in-process dbt command on the local target; fails the test with dbt's errors."""
    from dbt.cli.main import dbtRunner

    work = Path(settings.home) / "dbt-health"
    result = dbtRunner().invoke(
        [
            *args,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
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


def build(settings, project: Path = DBT_PROJECT_DIR) -> None:
    """Models, seeds, data tests and unit tests of the health marts and their parents."""
    dbt(settings, "build", "--select", SELECT, project=project)


def canonical(spark) -> dict[date, dict[str, Any]]:
    return rows(spark, "fct_daily_health")


def sessions(spark) -> dict[str, dict[str, Any]]:
    found = spark.table("lake.marts.fct_sleep_sessions").where(f"account = '{ACCOUNT}'").collect()
    return {r["sleep_id"]: r.asDict(recursive=True) for r in found}


def published(spark) -> dict[str, Any]:
    """The account's rows of every health mart after a run."""
    return {
        "daily": rows(spark, "daily_health"),
        "monthly": months(spark),
        "canonical": canonical(spark),
        "sessions": sessions(spark),
    }


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
    from spark_jobs.whoop.schemas import TABLES as WHOOP_TABLES

    specs = [TABLES[e] for e in ENDPOINTS] + [WHOOP_TABLES[r] for r in WHOOP_RUN_1]
    for spec in specs:
        ensure_table(spark, spec)
        assert spark.table(spec.identifier).count() == 0, "a fresh lakehouse"
    for endpoint, endpoint_rows in RUN_1.items():
        # One commit per row, newest first: the input files are not in day order, so the
        # monthly arrays are ordered by the model, not by the files.
        for row in endpoint_rows:
            append(spark, endpoint, [row], FETCHED_1)
    for resource, resource_rows in WHOOP_RUN_1.items():
        append_whoop(spark, resource, resource_rows, FETCHED_1)
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
    return published(spark)


@pytest.fixture(scope="module")
def second_run(spark, settings, first_run, tmp_path_factory) -> dict[str, Any]:
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
    # WHOOP scored 11-08's sleep and its recovery, and the short 11-12 sleep was deleted
    # (bronze mirrors the re-read month).
    whoop = "lake.bronze.whoop_"
    spark.sql(f"delete from {whoop}sleep where id in ('w-1108', 'w-1112-short')")
    spark.sql(f"delete from {whoop}recovery where cycle_id = 999")
    (pending,) = [r for r in WHOOP_RUN_1["sleep"] if r["id"] == "w-1108"]
    scored = {
        **stages(25_000_000, 1_000_000, 13_000_000, 6_000_000, 5_000_000),
        "sleep_performance_percentage": 80.0,
    }
    append_whoop(spark, "sleep", [{**pending, "score_state": "SCORED", "score": scored}], FETCHED_2)
    append_whoop(
        spark,
        "recovery",
        [{"cycle_id": 999, "sleep_id": "w-1108", "score_state": "SCORED",
          "score": vitals(81.0, 49.0, 70.0, 98.0, 33.0)}],
        FETCHED_2,
    )  # fmt: skip
    # The person now prefers WHOOP: their row in a copy of the dbt project's seed.
    project = tmp_path_factory.mktemp("dbt-project") / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    (project / "seeds" / "health_accounts.csv").write_text(
        f"account,timezone,preferred_source\n{ACCOUNT},,whoop\n"
    )
    build(settings, project)
    return published(spark)


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


# --------------------------------------------------------- the canonical model (both sources)
SLEEP = ("sleep_source", "sleep_record_id", "total_sleep_s", "time_in_bed_s", "deep_s", "rem_s",
         "light_s", "awake_s", "latency_s", "sleep_efficiency_pct", "resp_rate",
         "sleep_sessions", "nap_count")  # fmt: skip
RECOVERY = ("recovery_source", "recovery_record_id", "resting_hr_bpm", "hrv_rmssd_ms",
            "spo2_pct", "skin_temp_c", "temp_deviation_c")  # fmt: skip
NATIVE = ("oura_sleep_score", "oura_readiness_score", "oura_activity_score",
          "whoop_sleep_performance_pct", "whoop_recovery_score", "whoop_strain")  # fmt: skip


def pick(row: dict[str, Any], names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(row[n] for n in names)


def test_canonical_day_takes_each_group_whole_from_one_source(first_run) -> None:
    days = first_run["canonical"]
    assert sorted(days) == [
        date(2024, 10, 31),
        date(2024, 11, 8),
        date(2024, 11, 10),
        date(2024, 11, 11),
        date(2024, 11, 12),
    ]
    assert [days[d]["sources"] for d in sorted(days)] == [
        "oura", "whoop", "oura,whoop", "oura,whoop", "oura,whoop",
    ]  # fmt: skip
    # 11-11, both devices, no seed preference: var health_source_preference puts Oura first.
    both = days[date(2024, 11, 11)]
    assert pick(both, SLEEP) == (
        "oura", "s-long", 23220, 28933, 3060, 3000, 17160, 5713, 930, 80.0, 14.5, 2, 1,
    )  # fmt: skip
    assert both["sleep_run_id"] == "test-13"
    assert both["sleep_start_utc"] == datetime(2024, 11, 10, 23, 1, 59)
    assert both["sleep_end_utc"] == datetime(2024, 11, 11, 7, 4, 12)
    # Oura's resting HR / HRV are the main sleep's lowest / average; temperature is a deviation.
    assert pick(both, RECOVERY) == ("oura", "93b2a8ec", 60.0, 38.0, 97.497, None, 0.1)
    assert (both["activity_source"], both["activity_record_id"]) == ("oura", "3e8de08b")
    assert (both["energy_kcal"], both["steps"]) == (3502.0, 15185)
    # Each vendor's scores stay in its own columns, whichever source the groups came from.
    assert pick(both, NATIVE) == (77.0, 86.0, 95.0, 88.0, 66.0, 12.5)
    # 11-12: Oura has sleep and readiness but no activity document: activity is WHOOP's
    # cycle (6276 kJ / 4.184 = 1500 kcal; WHOOP counts no steps).
    mixed = days[date(2024, 11, 12)]
    assert pick(mixed, SLEEP)[:3] == ("oura", "s-longest", 5100)
    assert pick(mixed, RECOVERY) == ("oura", "d90a1159", 52.0, 41.0, None, None, -0.29)
    assert (mixed["activity_source"], mixed["activity_record_id"]) == ("whoop", "1002")
    assert mixed["energy_kcal"] == pytest.approx(1500.0) and mixed["steps"] is None
    assert mixed["activity_run_id"] == "whoop-13"
    assert pick(mixed, NATIVE) == (83.0, 87.0, None, 70.0, 40.0, 8.0)
    # 11-10: Oura has only an SpO2 document (no readiness): every group is WHOOP's, Oura's
    # 96.5 % SpO2 is not mixed into WHOOP's recovery.
    abroad = days[date(2024, 11, 10)]
    assert pick(abroad, SLEEP) == (
        "whoop", "w-1110", 26000, 27000, 6000, 5000, 15000, 1000, None, 96.0, 16.0, 1, 0,
    )  # fmt: skip
    assert pick(abroad, RECOVERY) == ("whoop", "1000", 50.0, 60.0, 97.0, 33.5, None)
    assert abroad["energy_kcal"] == pytest.approx(2500.0)
    assert pick(abroad, NATIVE) == (None, None, None, 95.0, 75.0, 10.0)
    # 11-08: WHOOP's sleep and recovery are still PENDING_SCORE: no sleep, no recovery.
    pending = days[date(2024, 11, 8)]
    assert pending["sleep_source"] is None and pending["total_sleep_s"] is None
    assert pending["recovery_source"] is None and pending["whoop_recovery_score"] is None
    assert pending["activity_source"] == "whoop" and pending["whoop_strain"] == 5.0
    # 10-31: a sleep score and nothing else.
    only_score = days[date(2024, 10, 31)]
    assert only_score["oura_sleep_score"] == 70.0 and only_score["sleep_source"] is None


def test_sleep_sessions_of_both_sources(first_run) -> None:
    found = first_run["sessions"]
    assert sorted(found) == [
        "s-long", "s-longest", "s-nap", "s-short",  # s-del, s-del2: deleted by the user
        "w-1108", "w-1110", "w-1111", "w-1112", "w-1112-short", "w-nap",
    ]  # fmt: skip
    flags = {
        i: (r["source"], str(r["day"]), r["is_main_sleep"], r["is_nap"]) for i, r in found.items()
    }
    assert flags == {
        "s-long": ("oura", "2024-11-11", True, False),
        "s-nap": ("oura", "2024-11-11", False, True),  # Oura: any session but the main one
        "s-longest": ("oura", "2024-11-12", True, False),
        "s-short": ("oura", "2024-11-12", False, True),
        # Wake-up day: the sleep's end at its own offset (23:30 UTC at +02:00 is 11-10).
        "w-1110": ("whoop", "2024-11-10", True, False),
        "w-1111": ("whoop", "2024-11-11", True, False),
        "w-nap": ("whoop", "2024-11-11", False, True),
        "w-1112": ("whoop", "2024-11-12", True, False),
        # 23:10 UTC at +01:00 is 00:10 on 11-12; shorter than w-1112, not a nap either.
        "w-1112-short": ("whoop", "2024-11-12", False, False),
        "w-1108": ("whoop", "2024-11-08", True, False),
    }
    night = found["w-1111"]
    # Milliseconds to seconds, rounded: 14000.6 -> 14001, 5799.499 -> 5799, 2400.4 -> 2400;
    # total = (14000600 + 6000000 + 5799499) ms = 25800.099 s -> 25800.
    assert (
        night["time_in_bed_s"], night["total_sleep_s"], night["light_s"], night["deep_s"],
        night["rem_s"], night["awake_s"],
    ) == (28200, 25800, 14001, 6000, 5799, 2400)  # fmt: skip
    # WHOOP's vitals come from the recovery measured in this sleep.
    assert (night["resting_hr_bpm"], night["hrv_rmssd_ms"], night["recovery_record_id"]) == (
        55.0,
        48.5,
        "1001",
    )
    assert night["score_state"] == "SCORED" and night["whoop_cycle_id"] == 1001
    assert found["w-1108"]["score_state"] == "PENDING_SCORE"
    assert found["w-1108"]["total_sleep_s"] is None
    assert found["s-long"]["avg_hr_bpm"] == 71.25 and found["s-long"]["score_state"] is None


def test_canonical_day_follows_preference_scores_and_deletions(second_run) -> None:
    days = second_run["canonical"]
    # 11-10 lost Oura's only document (SpO2); 11-13 is Oura's alone.
    assert [(str(d), days[d]["sources"]) for d in sorted(days)] == [
        ("2024-10-31", "oura"),
        ("2024-11-08", "whoop"),
        ("2024-11-10", "whoop"),
        ("2024-11-11", "oura,whoop"),
        ("2024-11-12", "oura,whoop"),
        ("2024-11-13", "oura"),
    ]
    # The seed now prefers WHOOP for this person: 11-11's groups are all WHOOP's.
    both = days[date(2024, 11, 11)]
    assert pick(both, SLEEP) == (
        "whoop", "w-1111", 25800, 28200, 6000, 5799, 14001, 2400, None, 91.5, 15.2, 2, 1,
    )  # fmt: skip
    assert pick(both, RECOVERY) == ("whoop", "1001", 55.0, 48.5, 96.2, 33.9, None)
    assert both["activity_source"] == "whoop" and both["energy_kcal"] == pytest.approx(2000.0)
    assert pick(both, NATIVE) == (77.0, 86.0, 95.0, 88.0, 66.0, 12.5)  # unchanged
    # 11-12: the deleted short sleep is gone from the day's count.
    assert pick(days[date(2024, 11, 12)], SLEEP)[:3] == ("whoop", "w-1112", 21600)
    assert days[date(2024, 11, 12)]["sleep_sessions"] == 1
    # 11-08's pending sleep and recovery were scored: the day now has both.
    scored = days[date(2024, 11, 8)]
    assert pick(scored, SLEEP)[:4] == ("whoop", "w-1108", 24000, 25000)
    assert pick(scored, RECOVERY)[:4] == ("whoop", "999", 49.0, 70.0)
    assert scored["sleep_run_id"] == "whoop-14" and scored["whoop_recovery_score"] == 81.0
    # WHOOP measured nothing on 11-13: Oura's readiness is the recovery, with no main sleep
    # (no resting HR or HRV that day).
    assert pick(days[date(2024, 11, 13)], RECOVERY) == (
        "oura", "dr-1113", None, None, None, None, None,
    )  # fmt: skip
    # 10-31 is before the window: not re-read (its bronze score was edited to 10).
    assert days[date(2024, 10, 31)]["oura_sleep_score"] == 70.0
    found = second_run["sessions"]
    assert "w-1112-short" not in found and found["w-1108"]["score_state"] == "SCORED"


def test_a_source_new_to_the_marts_widens_their_window_to_all_its_rows(spark, second_run) -> None:
    """`lakehouse transform` widens health_lookback_days for bronze rows older than the
    marts' window. A bronze table with no watermark stored on a mart (a WHOOP added to a
    lakehouse whose marts were built on Oura alone) has every row new to that mart."""
    from spark_jobs.transform import _bronze_watermarks, _set_properties, _watermark_updates

    marks, lookbacks = _bronze_watermarks(spark, {})
    # Nothing stored yet (dbt ran without a publish): the oldest Oura day, 10-31, to the
    # newest day in the marts, 11-13, is 13 days, + 2 of margin.
    assert lookbacks.get("health_lookback_days") == 15
    oura = {(mart, table): v for (mart, table), v in marks.items() if "oura_" in table}
    _set_properties(spark, _watermark_updates(oura))
    _, lookbacks = _bronze_watermarks(spark, {})
    # Oura's rows are all behind their watermarks now; WHOOP's sleeps have none on
    # fct_daily_health: from the first of the oldest sleep's month (11-07 23:00 UTC, a
    # mirrored month) to 11-13 is 12 days, + 2.
    assert lookbacks.get("health_lookback_days") == 14
    _set_properties(spark, _watermark_updates(marks))
    _, lookbacks = _bronze_watermarks(spark, {})
    assert "health_lookback_days" not in lookbacks
