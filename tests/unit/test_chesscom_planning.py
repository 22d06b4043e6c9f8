"""Which months a chess.com run requests: new, not-final (the current month), never final."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spark_jobs.chesscom.client import (
    Archive,
    ConfigError,
    check_archive_body,
    month_of_archive_url,
    validate_month,
    validate_user_agent,
    validate_username,
)
from spark_jobs.chesscom.ingest import is_month_final, month_end, plan_months
from spark_jobs.common.state import PeriodState


def _state(period: str, checked_at: datetime, etag: str = 'W/"e"') -> PeriodState:
    return PeriodState(
        "chesscom", "p", "games_month", period, None, etag, "lm", 200,
        is_month_final(period, checked_at), checked_at, checked_at, "r",
    )  # fmt: skip


ARCHIVES = [Archive(p, f"https://x/pub/player/p/games/{p.replace('-', '/')}") for p in
            ("2024-10", "2024-11", "2024-12")]  # fmt: skip


def test_month_end_and_finality() -> None:
    assert month_end("2024-12") == datetime(2025, 1, 1, tzinfo=UTC)
    # Fetched on the last evening of the month: games can still arrive.
    assert not is_month_final("2024-11", datetime(2024, 11, 30, 23, 0, tzinfo=UTC))
    # chess.com refreshes within 12 h: a day after the month ended it is final.
    assert not is_month_final("2024-11", datetime(2024, 12, 1, 12, 0, tzinfo=UTC))
    assert is_month_final("2024-11", datetime(2024, 12, 2, 0, 0, tzinfo=UTC))


def test_plan_fresh_player_fetches_everything() -> None:
    plans, skipped = plan_months(ARCHIVES, {})
    assert [p.archive.period for p in plans] == ["2024-10", "2024-11", "2024-12"]
    assert {p.reason for p in plans} == {"new"} and skipped == []


def test_plan_skips_final_and_rechecks_current_with_validators() -> None:
    checked = datetime(2024, 12, 15, tzinfo=UTC)
    state = {p: _state(p, checked, etag=f'W/"{p}"') for p in ("2024-10", "2024-11", "2024-12")}
    plans, skipped = plan_months(ARCHIVES, state)
    assert skipped == ["2024-10", "2024-11"]
    assert [(p.archive.period, p.etag, p.reason) for p in plans] == [
        ("2024-12", 'W/"2024-12"', "not-final")
    ]


def test_plan_range_and_refresh() -> None:
    checked = datetime(2025, 1, 15, tzinfo=UTC)
    state = {p: _state(p, checked) for p in ("2024-10", "2024-11", "2024-12")}
    plans, _ = plan_months(ARCHIVES, state, month_from="2024-11", month_to="2024-11")
    assert plans == []
    plans, _ = plan_months(ARCHIVES, state, month_from="2024-11", refresh=True)
    assert [(p.archive.period, p.etag) for p in plans] == [("2024-11", None), ("2024-12", None)]


@pytest.mark.parametrize(
    "name",
    [
        "",  # empty
        "a",  # too short
        "bad name",  # space
        "../etc/passwd",  # path traversal
        "name?x=1",  # query injection
        "é" * 5,  # non-ASCII
        "-leading",  # must start with a letter or digit
    ],
)
def test_invalid_usernames(name: str) -> None:
    with pytest.raises(ConfigError, match=r"not a chess\.com username"):
        validate_username(name)


def test_valid_usernames_are_lower_cased() -> None:
    assert validate_username(" MagnusCarlsen ") == "magnuscarlsen"
    assert validate_username("ham_sammy") == "ham_sammy"
    assert validate_username("dima-orel86") == "dima-orel86"


@pytest.mark.parametrize("value", ["2024-13", "2024-1", "24-01", "2024/01", "jan"])
def test_invalid_months(value: str) -> None:
    with pytest.raises(ConfigError, match="YYYY-MM"):
        validate_month(value)


@pytest.mark.parametrize("ua", [None, "", "python-requests/2.32", "my-bot/1.0"])
def test_user_agent_needs_contact_info(ua: str | None) -> None:
    with pytest.raises(ConfigError, match="CHESSCOM_USER_AGENT"):
        validate_user_agent(ua)


def test_user_agent_with_contact() -> None:
    assert validate_user_agent("lake/0.1 (me@example.com)")
    assert validate_user_agent("lake/0.1 (+https://example.com/contact)")


def test_archive_url_and_body_checks() -> None:
    assert month_of_archive_url("https://api.chess.com/pub/player/x/games/2016/08") == "2016-08"
    assert check_archive_body(b'{"games": [{}, {}]}') == 2
    for bad in (b"<html>oops</html>", b'{"games": [', b'{"archives": []}', b"[]"):
        with pytest.raises(ValueError):
            check_archive_body(bad)
