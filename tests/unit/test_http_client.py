"""Retry rules of the shared HTTP client, against a scripted local server."""

from __future__ import annotations

import email.utils
import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from spark_jobs.common.http import ApiError, HttpClient, RetryPolicy, parse_retry_after


class _Script:
    """Responses to serve in order: (status, headers, body) or 'reset'."""

    def __init__(self) -> None:
        self.steps: list = []
        self.seen: list[dict[str, str]] = []


@pytest.fixture
def scripted() -> Iterator[tuple[str, _Script]]:
    script = _Script()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            script.seen.append(dict(self.headers))
            step = script.steps.pop(0) if script.steps else (200, {}, b"{}")
            if step == "reset":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, headers, body = step
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", script
    server.shutdown()


def _client(url: str, sleeps: list[float], attempts: int = 4) -> HttpClient:
    return HttpClient(
        url,
        policy=RetryPolicy(max_attempts=attempts, backoff_base=0.5, backoff_max=4),
        sleep=sleeps.append,
        seed=1,
    )


def test_429_honours_retry_after(scripted) -> None:
    url, script = scripted
    script.steps = [(429, {"Retry-After": "7"}, b"slow down"), (200, {"ETag": 'W/"x"'}, b"ok")]
    sleeps: list[float] = []
    resp = _client(url, sleeps).get("/a")
    assert resp.status == 200 and resp.body == b"ok" and resp.etag == 'W/"x"'
    assert sleeps == [7.0]
    assert resp.attempts == 2


def test_429_wait_from_another_header_and_pacing_before_the_next_request(scripted) -> None:
    """WHOOP: no Retry-After, the wait is X-RateLimit-Reset; and a `pace` callback slows
    the client down before the next request when the quota is nearly spent."""
    url, script = scripted
    script.steps = [
        (429, {"X-RateLimit-Reset": "12", "X-RateLimit-Remaining": "0"}, b""),
        (200, {"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "30"}, b"ok"),
        (200, {"X-RateLimit-Remaining": "50", "X-RateLimit-Reset": "30"}, b"next"),
    ]
    sleeps: list[float] = []
    paced: list[str | None] = []

    def pace(headers) -> float:
        paced.append(headers.get("X-RateLimit-Remaining"))
        return 30.0 if headers.get("X-RateLimit-Remaining") == "1" else 0.0

    client = HttpClient(
        url,
        policy=RetryPolicy(max_attempts=3, backoff_base=0.5, backoff_max=4),
        pace=pace,
        retry_after_headers=("Retry-After", "X-RateLimit-Reset"),
        sleep=sleeps.append,
    )
    assert client.get("/a").body == b"ok"
    assert sleeps == [12.0]  # the 429 waited X-RateLimit-Reset, not a jittered backoff
    assert client.get("/b").body == b"next"
    assert len(sleeps) == 2 and 29 < sleeps[1] <= 30  # paused before asking again
    assert paced == ["0", "1", "50"]


def test_5xx_storm_gives_up_with_a_clear_error(scripted) -> None:
    url, script = scripted
    script.steps = [(503, {}, b"")] * 4
    sleeps: list[float] = []
    client = _client(url, sleeps)
    with pytest.raises(ApiError, match=r"failed after 4 attempts \(HTTP 503\)"):
        client.get("/a")
    # Exponential backoff with full jitter: each wait within its ceiling.
    assert len(sleeps) == 3
    for i, wait in enumerate(sleeps, 1):
        assert 0 <= wait <= min(4, 0.5 * 2 ** (i - 1))
    assert client.stats.requests == 4 and client.stats.retries == 3


def test_connection_reset_is_retried(scripted) -> None:
    url, script = scripted
    script.steps = ["reset", (200, {}, b"fine")]
    resp = _client(url, []).get("/a")
    assert resp.body == b"fine"


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_other_4xx_are_not_retried(scripted, status: int) -> None:
    url, script = scripted
    script.steps = [(status, {}, b"no")]
    sleeps: list[float] = []
    resp = _client(url, sleeps).get("/a")
    assert resp.status == status and sleeps == []
    assert len(script.seen) == 1


def test_conditional_request_headers_and_304(scripted) -> None:
    url, script = scripted
    script.steps = [(304, {"ETag": 'W/"abc"'}, b"")]
    client = _client(url, [])
    resp = client.get("/a", etag='W/"abc"', last_modified="Thu, 17 Oct 2024 22:34:57 GMT")
    assert resp.not_modified
    assert script.seen[0]["If-None-Match"] == 'W/"abc"'
    assert script.seen[0]["If-Modified-Since"] == "Thu, 17 Oct 2024 22:34:57 GMT"
    assert client.stats.not_modified == 1 and client.stats.bytes_received == 0


def test_401_refreshes_auth_once(scripted) -> None:
    url, script = scripted
    script.steps = [(401, {}, b""), (200, {}, b"ok")]
    tokens = iter(["old", "new"])
    current = {"token": next(tokens)}
    client = HttpClient(
        url,
        auth=lambda: {"Authorization": f"Bearer {current['token']}"},
        on_unauthorized=lambda: current.update(token=next(tokens)),
        sleep=lambda s: None,
    )
    assert client.get("/a").status == 200
    assert [s["Authorization"] for s in script.seen] == ["Bearer old", "Bearer new"]


def test_parse_retry_after() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    later = email.utils.format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(later, now) == pytest.approx(30.0)
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None
