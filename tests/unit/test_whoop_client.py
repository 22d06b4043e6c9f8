"""WHOOP client pieces that need no server: month queries, rate-limit pacing, body checks,
error messages, settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from spark_jobs.common.errors import ConfigError
from spark_jobs.common.http import ApiError, ApiResponse
from spark_jobs.whoop.client import (
    MAX_PAUSE_S,
    RESOURCES,
    check_collection_body,
    explain_status,
    month_params,
    rate_limit_pause,
)
from spark_jobs.whoop.ingest import months
from spark_jobs.whoop.settings import load_whoop_settings

FIXTURES = Path(__file__).parents[1] / "fixtures" / "whoop"


def test_a_month_is_start_inclusive_end_exclusive_at_utc_midnight() -> None:
    assert month_params("2024-02") == {
        "limit": 25,
        "start": "2024-02-01T00:00:00.000Z",
        "end": "2024-03-01T00:00:00.000Z",
    }
    assert month_params("2024-12")["end"] == "2025-01-01T00:00:00.000Z"
    assert months("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]


@pytest.mark.parametrize(
    ("remaining", "reset", "wait"),
    [("57", "40", 0.0), ("2", "40", 0.0), ("1", "40", 40.5), ("0", "3", 3.5), (None, "9", 0.0)],
)
def test_the_client_slows_down_before_the_quota_is_spent(remaining, reset, wait) -> None:
    headers = {"X-RateLimit-Limit": "100, 100;window=60, 10000;window=86400"}
    if remaining is not None:
        headers |= {"X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": reset}
    assert rate_limit_pause(headers) == wait


def test_a_spent_daily_quota_stops_the_run_with_when_to_rerun() -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(MAX_PAUSE_S) * 40)}
    with pytest.raises(ApiError, match=r"quota is used up for 200 min .* rerun after that"):
        rate_limit_pause(headers)


def _page(records: list[dict]) -> bytes:
    return orjson.dumps({"records": records, "next_token": None})


def test_collection_checks_count_records_and_pending_scores() -> None:
    for name in ("cycle", "recovery", "sleep", "workout"):
        body = (FIXTURES / f"{name}.json").read_bytes()
        doc = orjson.loads(body)
        total, pending = check_collection_body(name, body)
        assert total == len(doc["records"]) > 0
        assert pending == sum(r["score_state"] == "PENDING_SCORE" for r in doc["records"])
    assert check_collection_body("cycle", _page([])) == (0, 0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"records": [{"id": 1', "not JSON"),
        (b"<html>502</html>", "not JSON"),
        (b'{"error": "nope"}', "no `records` list"),
        (b'{"records": [1, 2]}', "non-objects"),
    ],
)
def test_malformed_bodies_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_collection_body("cycle", body)


def test_v1_integer_ids_are_refused_with_what_to_fix() -> None:
    body = (FIXTURES / "v1_sleep.json").read_bytes()
    with pytest.raises(ValueError, match=r"sleep id \d+ is a WHOOP v1 id.*WHOOP_API_BASE"):
        check_collection_body("sleep", body)


def _resp(status: int, body: bytes = b"") -> ApiResponse:
    return ApiResponse(
        url="https://api.prod.whoop.com/developer/v2/activity/sleep?limit=25",
        status=status,
        body=body,
        headers={},
        fetched_at=datetime.now(UTC),
        attempts=1,
    )


def test_error_messages_name_the_fix() -> None:
    assert explain_status(_resp(200), "sleep", "me") is None
    assert "`lakehouse auth whoop --account me`" in explain_status(_resp(401), "sleep", "me")
    forbidden = explain_status(_resp(403), "sleep", "me")
    assert RESOURCES["sleep"].scope in forbidden and "lakehouse auth whoop" in forbidden
    assert "WHOOP_API_BASE" in explain_status(_resp(404), "sleep", "me")
    refused = explain_status(_resp(400, b'{"error": "limit must be <= 25"}'), "sleep", "me")
    assert "limit must be <= 25" in refused


def test_settings_defaults_and_bad_values(tmp_path: Path) -> None:
    s = load_whoop_settings({}, tmp_path)
    assert s.api_base == "https://api.prod.whoop.com/developer"
    assert s.authorize_url == "https://api.prod.whoop.com/oauth/oauth2/auth"
    assert s.token_url == "https://api.prod.whoop.com/oauth/oauth2/token"
    assert s.token_path("me") == tmp_path / "secrets" / "whoop_me.json"
    assert "offline" in s.scopes.split()
    shown = load_whoop_settings({"WHOOP_CLIENT_SECRET": "s3cret"}, tmp_path).redacted()
    assert shown["WHOOP_CLIENT_SECRET"] == "***" and "s3cret" not in str(shown)
    for env, name in [
        ({"WHOOP_API_BASE": "api.prod.whoop.com"}, "WHOOP_API_BASE"),
        ({"WHOOP_OVERLAP_DAYS": "a week"}, "WHOOP_OVERLAP_DAYS"),
        ({"WHOOP_HISTORY_START": "2020-13"}, "WHOOP_HISTORY_START"),
        ({"WHOOP_REDIRECT_URI": "http://localhost/callback"}, "WHOOP_REDIRECT_URI"),
    ]:
        with pytest.raises(ConfigError, match=name):
            load_whoop_settings(env, tmp_path)
