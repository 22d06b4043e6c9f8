"""Which chess.com archive months a DAG run's data interval covers.

Pure functions without Airflow imports, so the main venv's tests import them directly and
the DAGs use them as Jinja macros (`{{ chesscom_months(data_interval_start,
data_interval_end) }}`). chess.com archives are UTC calendar months of a game's end time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"data interval bounds must be timezone-aware, got {moment!r}")
    u = moment.astimezone(UTC)
    # A plain datetime: pendulum's DateTime (what Airflow passes) loses its UTC zone in
    # `DateTime - timedelta` and then cannot be compared with an aware datetime.
    return datetime(u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond, UTC)


def months_in_interval(start: datetime, end: datetime) -> tuple[str, str]:
    """First and last archive month ("YYYY-MM") touched by the interval [start, end).

    `end` is exclusive: a daily interval [2024-01-31, 2024-02-01) touches only January.
    An empty interval (start == end, e.g. a manual run of a timetable without intervals)
    touches the month of `start`.

    Args:
        start: data_interval_start (timezone-aware).
        end: data_interval_end (timezone-aware, not before `start`).

    Returns:
        (month_from, month_to) for `--from` / `--to` of the ingestion job.

    Raises:
        ValueError: naive datetimes, or `end` before `start`.
    """
    first, after = _utc(start), _utc(end)
    if after < first:
        raise ValueError(f"data interval ends before it starts: [{start}, {end})")
    # The last instant inside [start, end); chess.com's end_time has second resolution.
    last = max(first, after - timedelta(microseconds=1))
    return f"{first:%Y-%m}", f"{last:%Y-%m}"


def month_from(start: datetime, end: datetime) -> str:
    """`months_in_interval(start, end)[0]`: the `--from` month (a Jinja macro)."""
    return months_in_interval(start, end)[0]


def month_to(start: datetime, end: datetime) -> str:
    """`months_in_interval(start, end)[1]`: the `--to` month (a Jinja macro)."""
    return months_in_interval(start, end)[1]


CHESSCOM_FINAL_GRACE = timedelta(days=1)
"""How long after a month's end chess.com's archive of it is final.

Mirrors FINAL_GRACE in spark_jobs/chesscom/ingest.py (`is_month_final`): a month fetched
this long after it ended is stored as final and never requested again. The DAGs cannot
import spark_jobs (it needs pyspark, which lives in the main venv); a unit test keeps the
two equal.
"""
