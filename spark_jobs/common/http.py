"""An HTTP client with the retry rules every source shares.

- one `requests.Session` per client, a timeout on every call;
- 429, 5xx and connection errors are retried with exponential backoff and full jitter,
  honouring `Retry-After` (seconds or an HTTP date), up to `max_attempts`;
- other 4xx are never retried: they come back to the caller, which knows what they mean;
- conditional GETs: pass the ETag / Last-Modified you stored, get a 304 for free;
- every request is counted (requests, bytes) so runs can report what they cost;
- cursor pagination (`get_pages`): follow a `next_token`-style field until it is null.

Sources wrap it in their own client (see `spark_jobs/chesscom/client.py`).
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ApiError(RuntimeError):
    """A request failed for good. The message names the URL and what to do about it."""

    def __init__(self, message: str, url: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


@dataclass(frozen=True)
class ApiResponse:
    """One final HTTP response (after retries)."""

    url: str
    status: int
    body: bytes
    headers: Mapping[str, str]
    fetched_at: datetime
    attempts: int = 1

    @property
    def etag(self) -> str | None:
        return self.headers.get("ETag") or self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("Last-Modified") or self.headers.get("last-modified")

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass
class RequestStats:
    """Counters for one client; thread-safe increments."""

    requests: int = 0  # every HTTP call made, retries included
    retries: int = 0
    not_modified: int = 0
    bytes_received: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, attempts: int = 1, nbytes: int = 0, not_modified: bool = False) -> None:
        with self._lock:
            self.requests += attempts
            self.retries += attempts - 1
            self.bytes_received += nbytes
            self.not_modified += int(not_modified)

    def as_dict(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "not_modified": self.not_modified,
            "bytes_received": self.bytes_received,
        }


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Defaults suit public APIs; tests shrink the waits."""

    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    retry_after_max: float = 300.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff for the given 1-based attempt."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return rng.uniform(0, ceiling)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class HttpClient:
    """GET with retries, conditional requests and counters.

    Args:
        base_url: prefix for relative paths; absolute URLs are used as given.
        headers: sent with every request (User-Agent, Accept, ...).
        timeout: (connect, read) seconds for every call.
        policy: retry rules.
        auth: optional callable returning extra headers per request (OAuth bearer tokens);
            `on_unauthorized` is called once on a 401 and the request is retried.
        min_interval: minimum seconds between two requests (a simple rate limit).
        pace: optional callable given each response's headers, returning seconds to wait
            before the next request (an API that announces its remaining quota, WHOOP's
            X-RateLimit-*, is slowed down before it answers 429).
        retry_after_headers: the headers a 429/503 names its wait in, first found wins.
        page_token_param: the query parameter that asks for the next page (`get_pages`).
        sleep: injectable for tests.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        policy: RetryPolicy | None = None,
        auth: Callable[[], Mapping[str, str]] | None = None,
        on_unauthorized: Callable[[], None] | None = None,
        min_interval: float = 0.0,
        pace: Callable[[Mapping[str, str]], float] | None = None,
        retry_after_headers: tuple[str, ...] = ("Retry-After",),
        page_token_param: str = "next_token",
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update(headers or {})
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.auth = auth
        self.on_unauthorized = on_unauthorized
        self.min_interval = min_interval
        self.pace = pace
        self.retry_after_headers = retry_after_headers
        self.page_token_param = page_token_param
        self.sleep = sleep
        self.rng = random.Random(seed)
        self.stats = RequestStats()
        self._last_request = 0.0
        self._paused_until = 0.0

    def url_for(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _throttle(self) -> None:
        if self.min_interval <= 0 and self._paused_until <= 0:
            return
        now = time.monotonic()
        wait = max(self._last_request + self.min_interval, self._paused_until) - now
        if wait > 0:
            if wait >= 1:
                log.info("pausing %.0f s for the API's rate limit", wait)
            self.sleep(wait)
        self._paused_until = 0.0
        self._last_request = time.monotonic()

    def _paced(self, headers: Mapping[str, str]) -> None:
        if self.pace is not None:
            wait = self.pace(headers)
            if wait > 0:
                self._paused_until = time.monotonic() + wait

    def get(
        self,
        path_or_url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> ApiResponse:
        """GET a resource; returns the final response (2xx, 304 or a non-retryable 4xx).

        Raises:
            ApiError: retries were exhausted on 429/5xx/connection errors.
        """
        url = self.url_for(path_or_url)
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempt = 0
        refreshed_auth = False
        last_problem = ""
        while True:
            attempt += 1
            if self.auth is not None:
                headers.update(self.auth())
            self._throttle()
            try:
                resp = self.session.get(url, params=params, headers=headers, timeout=self.timeout)
                body = resp.content  # reads the whole body: short reads raise here
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = f"connection error: {type(exc).__name__}: {exc}"
                wait = self.policy.backoff(attempt, self.rng)
            else:
                status = resp.status_code
                self._paced(resp.headers)
                if status == 401 and self.on_unauthorized is not None and not refreshed_auth:
                    refreshed_auth = True
                    self.on_unauthorized()
                    attempt -= 1
                    continue
                if status not in RETRY_STATUSES:
                    self.stats.add(attempts=attempt, nbytes=len(body), not_modified=status == 304)
                    return ApiResponse(
                        url=resp.url,
                        status=status,
                        body=body,
                        headers=dict(resp.headers),
                        fetched_at=datetime.now(UTC),
                        attempts=attempt,
                    )
                last_problem = f"HTTP {status}"
                named = (resp.headers.get(h) for h in self.retry_after_headers)
                retry_after = parse_retry_after(next((v for v in named if v), None))
                if retry_after is not None:
                    wait = min(retry_after, self.policy.retry_after_max)
                else:
                    wait = self.policy.backoff(attempt, self.rng)
            if attempt >= self.policy.max_attempts:
                self.stats.add(attempts=attempt)
                raise ApiError(
                    f"GET {url} failed after {attempt} attempts ({last_problem}); the service "
                    "may be down or rate-limiting: rerun later (completed work is kept)",
                    url=url,
                )
            log.warning(
                "GET %s: %s, retry %d/%d in %.1fs",
                url,
                last_problem,
                attempt,
                self.policy.max_attempts - 1,
                wait,
            )
            self.sleep(wait)

    def get_pages(
        self,
        path_or_url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        token_param: str | None = None,
        token_field: str = "next_token",
        max_pages: int = 10_000,
    ) -> Iterator[ApiResponse]:
        """GET every page of a cursor-paginated collection, one response per page.

        The next page is requested with the same `params` plus `token_param` (default: the
        client's `page_token_param`) set to the previous body's `token_field`, until that
        field is null or absent. A page that is not a 200 with a JSON object body is yielded
        and ends the walk: the caller decides what it means (it is kept in raw like every
        other response).

        Raises:
            ApiError: retries were exhausted, or the API returned the same cursor twice.
        """
        base = dict(params or {})
        token_param = token_param or self.page_token_param
        token: str | None = None
        seen: set[str] = set()
        for _ in range(max_pages):
            resp = self.get(path_or_url, params={**base, token_param: token} if token else base)
            yield resp
            if resp.status != 200:
                return
            try:
                body = json.loads(resp.body)
            except ValueError:
                return
            token = body.get(token_field) if isinstance(body, dict) else None
            if not token:
                return
            if token in seen:
                raise ApiError(
                    f"GET {resp.url} returned the {token_field} it was given: the API is "
                    "looping; rerun later (completed work is kept)",
                    url=resp.url,
                )
            seen.add(token)
        raise ApiError(f"GET {path_or_url}: more than {max_pages} pages; narrow --from/--to")
