"""Oura's plan: windows per endpoint, the overlap that keeps recent windows open, scopes."""

from __future__ import annotations

from datetime import UTC, date, datetime

from spark_jobs.common.ingest import Fetch
from spark_jobs.oura.ingest import OuraIngest, _scope, parse_window, window_key, windows


def test_daily_windows_are_months_and_heartrate_halves():
    assert windows("daily_sleep", date(2024, 1, 10), date(2024, 2, 3)) == [
        (date(2024, 1, 10), date(2024, 1, 31)),
        (date(2024, 2, 1), date(2024, 2, 3)),
    ]
    hr = windows("heartrate", date(2024, 1, 1), date(2024, 2, 29))
    assert hr == [
        (date(2024, 1, 1), date(2024, 1, 16)),
        (date(2024, 1, 17), date(2024, 1, 31)),
        (date(2024, 2, 1), date(2024, 2, 16)),
        (date(2024, 2, 17), date(2024, 2, 29)),
    ]
    # Widened by a day before and two after, a heart-rate request stays within 30 days.
    assert max((hi - lo).days + 3 for lo, hi in hr) <= 30


def test_a_window_is_final_only_after_the_overlap():
    decl = OuraIngest(client=None, overlap_days=7)  # type: ignore[arg-type]
    fetch = Fetch("daily_sleep", window_key(date(2024, 1, 1), date(2024, 1, 31)), "/x")
    assert not decl.is_final(fetch, datetime(2024, 2, 7, 23, 0, tzinfo=UTC))
    assert decl.is_final(fetch, datetime(2024, 2, 8, 0, 1, tzinfo=UTC))
    assert not decl.is_final(Fetch("personal_info", "all", "/x"), datetime(2030, 1, 1, tzinfo=UTC))


def test_scope_mirrors_only_the_windows_read():
    periods = [window_key(date(2024, 1, 1), date(2024, 1, 31))]
    assert _scope("daily_sleep", "ana", periods) == (
        "account = 'ana' AND ((`day` BETWEEN DATE '2024-01-01' AND DATE '2024-01-31'))"
    )
    hr = _scope("heartrate", "ana", [window_key(date(2024, 1, 17), date(2024, 1, 31))])
    assert "`timestamp` < TIMESTAMP '2024-02-01 00:00:00'" in hr
    assert _scope("ring_configuration", "ana", ["all"]) == "account = 'ana'"
    assert parse_window("2024-01-17..2024-01-31") == (date(2024, 1, 17), date(2024, 1, 31))
