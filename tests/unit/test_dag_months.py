"""The months a DAG run ingests follow from its data interval [start, end)."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

_MODULE = Path(__file__).resolve().parents[2] / "dags" / "lakehouse_dags" / "months.py"


def _load_months():
    # dags/ is Airflow's folder, not an installed package: load the Airflow-free module by path.
    spec = importlib.util.spec_from_file_location("lakehouse_dags_months", _MODULE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


months = _load_months()


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # A daily interval inside a month.
        (_utc(2024, 5, 14), _utc(2024, 5, 15), ("2024-05", "2024-05")),
        # The last day of a month: end is exclusive, so the next month is not touched.
        (_utc(2024, 1, 31), _utc(2024, 2, 1), ("2024-01", "2024-01")),
        # The first day of a month.
        (_utc(2024, 2, 1), _utc(2024, 2, 2), ("2024-02", "2024-02")),
        # 29 February of a leap year.
        (_utc(2024, 2, 29), _utc(2024, 3, 1), ("2024-02", "2024-02")),
        # Year boundary: New Year's Eve is December only...
        (_utc(2024, 12, 31), _utc(2025, 1, 1), ("2024-12", "2024-12")),
        # ...and an interval across midnight of New Year touches both years.
        (_utc(2024, 12, 31, 12), _utc(2025, 1, 1, 12), ("2024-12", "2025-01")),
        # The monthly DAG's interval: exactly one calendar month.
        (_utc(2024, 10, 1), _utc(2024, 11, 1), ("2024-10", "2024-10")),
        # Multi-month intervals (a hand-made backfill range, a paused DAG catching up).
        (_utc(2024, 10, 15), _utc(2025, 2, 3), ("2024-10", "2025-02")),
        (_utc(2024, 11, 1), _utc(2025, 1, 1), ("2024-11", "2024-12")),
        # An empty interval (manual run without a data interval) is its start's month.
        (_utc(2024, 7, 1), _utc(2024, 7, 1), ("2024-07", "2024-07")),
        # One second into the next month touches it.
        (_utc(2024, 6, 30), _utc(2024, 7, 1, 0, 0, 1), ("2024-06", "2024-07")),
    ],
)
def test_months_in_interval(start: datetime, end: datetime, expected: tuple[str, str]) -> None:
    assert months.months_in_interval(start, end) == expected
    assert (months.month_from(start, end), months.month_to(start, end)) == expected


def test_month_from_with_an_overlap_reaches_into_the_month_before() -> None:
    # whoop_daily: the interval 3 January re-reads the week before it, so December too.
    assert months.month_from(_utc(2025, 1, 3), _utc(2025, 1, 4), 7) == "2024-12"
    assert months.month_from(_utc(2025, 1, 9), _utc(2025, 1, 10), 7) == "2025-01"
    assert months.month_from(_utc(2025, 1, 3), _utc(2025, 1, 4)) == "2025-01"
    with pytest.raises(ValueError, match="overlap"):
        months.month_from(_utc(2025, 1, 3), _utc(2025, 1, 4), -1)


def test_months_are_utc_months() -> None:
    # 2024-03-01 01:00 in UTC+02:00 is still February in UTC (chess.com archives are UTC).
    plus_two = timezone(timedelta(hours=2))
    start = datetime(2024, 2, 29, 1, tzinfo=plus_two)
    end = datetime(2024, 3, 1, 1, tzinfo=plus_two)
    assert months.months_in_interval(start, end) == ("2024-02", "2024-02")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        # Naive datetimes would silently be read in the machine's zone.
        (datetime(2024, 1, 1), datetime(2024, 1, 2)),
        # A reversed interval is a bug upstream, not "no months".
        (_utc(2024, 1, 2), _utc(2024, 1, 1)),
    ],
)
def test_months_in_interval_rejects_bad_intervals(start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError):
        months.months_in_interval(start, end)


@pytest.mark.parametrize(
    ("start", "end", "overlap", "expected"),
    [
        # oura_daily's interval [day, day + 1) with the default overlap of 7 days.
        (_utc(2024, 5, 15), _utc(2024, 5, 16), 7, ("2024-05-08", "2024-05-15")),
        # End exclusive: the interval of 29 February (leap year), overlap into the week before.
        (_utc(2024, 2, 29), _utc(2024, 3, 1), 7, ("2024-02-22", "2024-02-29")),
        # The overlap crosses a year boundary.
        (_utc(2025, 1, 3), _utc(2025, 1, 4), 7, ("2024-12-27", "2025-01-03")),
        # No overlap: exactly the interval's day.
        (_utc(2024, 12, 31), _utc(2025, 1, 1), 0, ("2024-12-31", "2024-12-31")),
        # A multi-day interval (a paused DAG catching up, a hand-made backfill range).
        (_utc(2024, 6, 1), _utc(2024, 6, 11), 2, ("2024-05-30", "2024-06-10")),
        # An empty interval (manual run without a data interval) is its start's day.
        (_utc(2024, 7, 1), _utc(2024, 7, 1), 1, ("2024-06-30", "2024-07-01")),
        # One second into the next day touches it.
        (_utc(2024, 6, 30), _utc(2024, 7, 1, 0, 0, 1), 0, ("2024-06-30", "2024-07-01")),
    ],
)
def test_days_in_interval(
    start: datetime, end: datetime, overlap: int, expected: tuple[str, str]
) -> None:
    assert months.days_in_interval(start, end, overlap) == expected
    assert (months.day_from(start, end, overlap), months.day_to(start, end)) == expected


def test_days_are_utc_days() -> None:
    # 1 March 01:00 in UTC+02:00 is still 29 February in UTC.
    plus_two = timezone(timedelta(hours=2))
    start = datetime(2024, 2, 29, 2, tzinfo=plus_two)
    end = datetime(2024, 3, 1, 1, tzinfo=plus_two)
    assert months.days_in_interval(start, end) == ("2024-02-29", "2024-02-29")


@pytest.mark.parametrize(
    ("start", "end", "overlap"),
    [
        (datetime(2024, 1, 1), datetime(2024, 1, 2), 0),
        (_utc(2024, 1, 2), _utc(2024, 1, 1), 0),
        (_utc(2024, 1, 1), _utc(2024, 1, 2), -1),
    ],
)
def test_days_in_interval_rejects_bad_input(start: datetime, end: datetime, overlap: int) -> None:
    with pytest.raises(ValueError):
        months.days_in_interval(start, end, overlap)
