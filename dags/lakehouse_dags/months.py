"""Which months (chess.com) or days (Oura) a DAG run's data interval covers.

Pure functions without Airflow imports, so the main venv's tests import them directly and
the DAGs use them as Jinja macros (`{{ month_from(data_interval_start, data_interval_end)
}}`, `{{ day_from(data_interval_start, data_interval_end, 7) }}`). chess.com archives are
UTC calendar months of a game's end time; daily sources ingest UTC calendar days.
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


def month_from(start: datetime, end: datetime, overlap: int = 0) -> str:
    """`months_in_interval(start, end)[0]`: the `--from` month (a Jinja macro); with
    `overlap`, the month `overlap` days before the interval starts (WHOOP re-reads a week)."""
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0 days, got {overlap}")
    return months_in_interval(_utc(start) - timedelta(days=overlap), end)[0]


def month_to(start: datetime, end: datetime) -> str:
    """`months_in_interval(start, end)[1]`: the `--to` month (a Jinja macro)."""
    return months_in_interval(start, end)[1]


def days_in_interval(start: datetime, end: datetime, overlap: int = 0) -> tuple[str, str]:
    """First and last day ("YYYY-MM-DD") to ingest for the interval [start, end).

    `end` is exclusive: the daily interval [2024-03-01, 2024-03-02) is 1 March only. Sources
    that sync late and rescore past days (Oura) re-read `overlap` days before the interval:
    with `overlap=7` that run reads 23 February to 1 March (the ingestion MERGEs, so
    re-reading is idempotent). An empty interval (start == end) is the day of `start`.

    Args:
        start: data_interval_start (timezone-aware).
        end: data_interval_end (timezone-aware, not before `start`).
        overlap: days before the interval's first day to re-read (0 or more).

    Returns:
        (day_from, day_to) for `--from` / `--to` of the ingestion job.

    Raises:
        ValueError: naive datetimes, `end` before `start`, or a negative overlap.
    """
    if overlap < 0:
        raise ValueError(f"overlap must be 0 or more days, got {overlap}")
    first, after = _utc(start), _utc(end)
    if after < first:
        raise ValueError(f"data interval ends before it starts: [{start}, {end})")
    last = max(first, after - timedelta(microseconds=1))
    return f"{first.date() - timedelta(days=overlap)}", f"{last.date()}"


def day_from(start: datetime, end: datetime, overlap: int = 0) -> str:
    """`days_in_interval(start, end, overlap)[0]`: the `--from` day (a Jinja macro)."""
    return days_in_interval(start, end, overlap)[0]


def day_to(start: datetime, end: datetime) -> str:
    """`days_in_interval(start, end)[1]`: the `--to` day, the interval's last (a Jinja macro)."""
    return days_in_interval(start, end)[1]


CHESSCOM_FINAL_GRACE = timedelta(days=1)
"""How long after a month's end chess.com's archive of it is final.

Mirrors FINAL_GRACE in spark_jobs/chesscom/ingest.py (`is_month_final`): a month fetched
this long after it ended is stored as final and never requested again. The DAGs cannot
import spark_jobs (it needs pyspark, which lives in the main venv); a unit test keeps the
two equal.
"""
