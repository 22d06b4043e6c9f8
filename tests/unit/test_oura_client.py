"""The Oura client against a local HTTP server: windows, pagination, auth, error messages."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from spark_jobs.common.http import ApiResponse, RetryPolicy
from spark_jobs.oura.client import (
    DATETIME_MAX_WINDOW,
    ENDPOINTS,
    MIN_INTERVAL_S,
    OuraClient,
    check_collection_body,
    explain_status,
    window_params,
)
from spark_jobs.oura.settings import load_oura_settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "oura"


class _Server(http.server.ThreadingHTTPServer):
    """Answers GETs from `routes[path]`: a list of (status, body) served in turn."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, list[tuple[int, bytes]]] = {}
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.server.requests.append((parts.path, query, dict(self.headers)))
        queue = self.server.routes.get(parts.path)
        status, body = queue.pop(0) if queue and len(queue) > 1 else (queue or [(404, b"")])[0]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


class _FakeAuth:
    """Token provider: hands out `tokens` in turn, one more per on_unauthorized call."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.refreshes = 0

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[min(self.refreshes, len(self.tokens) - 1)]}"}

    def on_unauthorized(self) -> None:
        self.refreshes += 1


def _client(server: _Server, auth: _FakeAuth, tmp_path: Path) -> OuraClient:
    settings = load_oura_settings({"OURA_API_BASE": server.base + "/"}, tmp_path)
    return OuraClient(
        settings, auth, policy=RetryPolicy(max_attempts=2, backoff_base=0.0), sleep=lambda s: None
    )


def _response(status: int, body: bytes, url: str = "https://api.ouraring.com/x") -> ApiResponse:
    return ApiResponse(url=url, status=status, body=body, headers={}, fetched_at=datetime.now(UTC))


# ------------------------------------------------------------------------------ windows
def test_date_window_is_widened_by_a_day_each_side() -> None:
    params = window_params(ENDPOINTS["daily_sleep"], date(2024, 11, 11), date(2024, 11, 12))
    assert params == [{"start_date": "2024-11-10", "end_date": "2024-11-13"}]


def test_datetime_window_is_cut_into_30_day_calls() -> None:
    params = window_params(ENDPOINTS["heartrate"], date(2024, 1, 1), date(2024, 3, 15))
    starts = [datetime.fromisoformat(p["start_datetime"]) for p in params]
    ends = [datetime.fromisoformat(p["end_datetime"]) for p in params]
    assert starts[0] == datetime(2023, 12, 31, tzinfo=UTC)  # start - 1 day
    assert ends[-1] == datetime(2024, 3, 17, tzinfo=UTC)  # end + 2 days (exclusive end)
    assert all(e - s <= DATETIME_MAX_WINDOW for s, e in zip(starts, ends, strict=True))
    assert starts[1:] == ends[:-1]  # contiguous, no gap, no overlap
    assert len(params) == 3
    assert params[0]["start_datetime"] == "2023-12-31T00:00:00+00:00"


def test_one_day_datetime_window_is_one_call() -> None:
    params = window_params(ENDPOINTS["heartrate"], date(2024, 12, 13), date(2024, 12, 13))
    assert params == [
        {
            "start_datetime": "2024-12-12T00:00:00+00:00",
            "end_datetime": "2024-12-15T00:00:00+00:00",
        }
    ]


def test_window_end_before_start_is_refused() -> None:
    with pytest.raises(ValueError, match="before its start"):
        window_params(ENDPOINTS["daily_sleep"], date(2024, 2, 2), date(2024, 2, 1))


def test_endpoint_table_covers_the_api() -> None:
    assert ENDPOINTS["vO2_max"].path == "/v2/usercollection/vO2_max"
    assert ENDPOINTS["ring_configuration"].params == "none"
    assert ENDPOINTS["personal_info"].paginated is False
    assert ENDPOINTS["daily_cardiovascular_age"].key == ("day",)
    assert ENDPOINTS["heartrate"].key == ("timestamp", "source")
    assert ENDPOINTS["tag"].deprecated
    # 5,000 requests per 5 minutes can never be exceeded
    assert 300 / MIN_INTERVAL_S <= 5000


# ------------------------------------------------------------------ against a server
def test_pages_follow_next_token_and_send_the_window(server: _Server, tmp_path: Path) -> None:
    page1 = json.dumps({"data": [{"id": "a", "day": "2024-11-11"}], "next_token": "t1"})
    page2 = (FIXTURES / "daily_sleep.json").read_bytes()
    server.routes["/v2/usercollection/daily_sleep"] = [(200, page1.encode()), (200, page2)]
    with _client(server, _FakeAuth("tok"), tmp_path) as client:
        pages = list(client.pages("daily_sleep", date(2024, 10, 15), date(2024, 11, 2)))
        assert client.stats.requests == 2
    assert [check_collection_body(p.body) for p in pages] == [1, 19]
    (_, q1, h1), (_, q2, _) = server.requests
    assert q1 == {"start_date": "2024-10-14", "end_date": "2024-11-03"}
    assert q2 == {**q1, "next_token": "t1"}
    assert h1["Authorization"] == "Bearer tok"
    assert h1["Accept"] == "application/json"


def test_heartrate_pages_one_walk_per_30_days(server: _Server, tmp_path: Path) -> None:
    server.routes["/v2/usercollection/heartrate"] = [
        (200, (FIXTURES / "heartrate.json").read_bytes())
    ]
    with _client(server, _FakeAuth("tok"), tmp_path) as client:
        pages = list(client.pages("heartrate", date(2024, 11, 1), date(2024, 12, 31)))
    assert len(pages) == 3  # 2024-10-31 .. 2025-01-02: 63 days
    assert [q["start_datetime"] for _, q, _ in server.requests] == [
        "2024-10-31T00:00:00+00:00",
        "2024-11-30T00:00:00+00:00",
        "2024-12-30T00:00:00+00:00",
    ]


def test_personal_info_takes_no_parameters(server: _Server, tmp_path: Path) -> None:
    server.routes["/v2/usercollection/personal_info"] = [
        (200, (FIXTURES / "personal_info.json").read_bytes())
    ]
    with _client(server, _FakeAuth("tok"), tmp_path) as client:
        resp = client.personal_info()
        (page,) = list(client.pages("personal_info", date(2024, 1, 1), date(2024, 1, 2)))
    assert resp.status == 200 and page.status == 200
    assert all(q == {} for _, q, _ in server.requests)


def test_a_401_refreshes_once_and_retries(server: _Server, tmp_path: Path) -> None:
    server.routes["/v2/usercollection/daily_stress"] = [
        (401, b'{"detail":"Unauthorized"}'),
        (200, (FIXTURES / "daily_stress.json").read_bytes()),
    ]
    auth = _FakeAuth("old", "new")
    with _client(server, auth, tmp_path) as client:
        (page,) = list(client.pages("daily_stress", date(2024, 10, 15), date(2024, 10, 20)))
    assert page.status == 200 and auth.refreshes == 1
    assert [h["Authorization"] for _, _, h in server.requests] == ["Bearer old", "Bearer new"]


def test_a_403_page_ends_the_walk_and_is_explained(server: _Server, tmp_path: Path) -> None:
    server.routes["/v2/usercollection/daily_spo2"] = [
        (403, (FIXTURES / "error_403.json").read_bytes())
    ]
    with _client(server, _FakeAuth("tok"), tmp_path) as client:
        (page,) = list(client.pages("daily_spo2", date(2024, 10, 15), date(2024, 10, 20)))
    message = explain_status(page, "daily_spo2", "me")
    assert message is not None
    assert "missing scope spo2Daily or lapsed Oura membership" in message


# ---------------------------------------------------------------------- explain_status
def test_explain_401_names_the_auth_command() -> None:
    message = explain_status(_response(401, b"{}"), "daily_sleep", "me")
    assert message is not None and "`lakehouse auth oura --account me`" in message


def test_explain_403_names_the_endpoints_scope() -> None:
    message = explain_status(_response(403, b'{"detail":"Forbidden"}'), "heartrate", "me")
    assert message is not None and "missing scope heartrate or lapsed Oura membership" in message


def test_explain_422_quotes_the_detail_and_the_dates() -> None:
    url = (
        "https://api.ouraring.com/v2/usercollection/sleep?start_date=2025-01-15&end_date=2025-01-10"
    )
    resp = _response(422, (FIXTURES / "error_422.json").read_bytes(), url)
    message = explain_status(resp, "sleep", "me")
    assert message is not None
    assert "Start date must be before end date" in message
    assert "start_date=2025-01-15" in message and "end_date=2025-01-10" in message


def test_explain_404_and_success() -> None:
    message = explain_status(
        _response(404, (FIXTURES / "error_404.json").read_bytes()), "tag", "me"
    )
    assert message is not None and "not found" in message
    assert explain_status(_response(200, b'{"data":[]}'), "tag", "me") is None


# ------------------------------------------------------------------ collection bodies
@pytest.mark.parametrize(
    "body",
    [
        (FIXTURES / "daily_sleep.json").read_bytes()[:-200],  # truncated mid-document
        b"",  # empty body
        b'{"detail":"Forbidden"}',  # an error object, no data list
        b'{"data": {"id": "x"}}',  # data is not a list
        b'[{"id": "x"}]',  # not an object
    ],
)
def test_check_collection_body_refuses_malformed_bodies(body: bytes) -> None:
    with pytest.raises(ValueError):
        check_collection_body(body)


def test_check_collection_body_counts_records() -> None:
    assert check_collection_body((FIXTURES / "heartrate.json").read_bytes()) == 240
    assert check_collection_body(b'{"data": [], "next_token": null}') == 0


def test_fixture_window_dates_are_what_the_tests_assume() -> None:
    days = [r["day"] for r in json.loads((FIXTURES / "daily_sleep.json").read_text())["data"]]
    assert min(days) == "2024-10-14" and max(days) == "2024-11-03"
    assert date.fromisoformat(max(days)) - date.fromisoformat(min(days)) == timedelta(days=20)
