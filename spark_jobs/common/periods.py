"""Date and month helpers every source shares (validation, month bounds, windows).

validate_month("2024-03", "--from")      -> "2024-03"
validate_date("2024-03-01", "--from")    -> date(2024, 3, 1)
month_windows(date(2024, 1, 20), date(2024, 3, 2))
    -> [(2024-01-20, 2024-01-31), (2024-02-01, 2024-02-29), (2024-03-01, 2024-03-02)]
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from spark_jobs.common.errors import ConfigError

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
DATE_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def validate_month(value: str, option: str = "--from/--to") -> str:
    """Check a 'YYYY-MM' month; returns it unchanged, or raises ConfigError naming `option`."""
    m = MONTH_RE.match(value or "")
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ConfigError(f"{option} {value!r} is not a month: use YYYY-MM, e.g. 2024-03")
    return value


def validate_date(value: str, option: str = "--from/--to") -> date:
    """Parse a 'YYYY-MM-DD' date, or raise ConfigError naming `option`."""
    if DATE_RE.match(value or ""):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{option} {value!r} is not a date: use YYYY-MM-DD, e.g. 2024-03-01")


def check_order(first: object | None, last: object | None, names: str = "--from/--to") -> None:
    """Raise ConfigError when both bounds are given and the first is after the last."""
    if first is not None and last is not None and first > last:  # type: ignore[operator]
        lo, hi = names.split("/")
        raise ConfigError(f"{lo} {first} is after {hi} {last}: swap them")


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_start(period: str) -> date:
    year, month = (int(p) for p in period.split("-"))
    return date(year, month, 1)


def next_month_start(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def month_end(period: str) -> datetime:
    """First instant (UTC) after the month 'YYYY-MM'."""
    nxt = next_month_start(month_start(period))
    return datetime(nxt.year, nxt.month, 1, tzinfo=UTC)


def month_last_day(period: str) -> date:
    return next_month_start(month_start(period)) - timedelta(days=1)


def month_windows(
    first: date, last: date, max_days: int | None = None
) -> Iterator[tuple[date, date]]:
    """Inclusive (start, end) windows covering first..last, split at month starts, and at
    most `max_days` long (windows then split each month into equal-start chunks)."""
    day = first
    while day <= last:
        end = min(last, next_month_start(day) - timedelta(days=1))
        if max_days is not None:
            end = min(end, day + timedelta(days=max_days - 1))
        yield day, end
        day = end + timedelta(days=1)
