"""Oura API v2 client (https://cloud.ouraring.com/v2/docs): one HttpClient, every endpoint.

Every collection endpoint answers `{"data": [...], "next_token": ...}`; HttpClient.get_pages
follows the cursor, so callers only ever see pages. `ENDPOINTS` declares each endpoint
once (path, how its window is passed, natural key, the OAuth2 scope it needs):

    client = OuraClient(settings, OuraAuth(settings, "me"))
    for page in client.pages("daily_sleep", date(2024, 11, 1), date(2024, 11, 30)):
        check_collection_body(page.body)

Windows are fuzzy at the edges (a 2024-11-11..12 call returned only 11-11 for
daily_activity; `/sleep` for 10-09..11-03 returned 10-10..11-02), so `pages` widens every
window by a day on each side and the transforms keep what belongs to the window by `day`
(`records_in_window`). The API allows 5,000 requests per 5 minutes; the client spaces its
requests so that it can never exceed that, even when running flat out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Literal, Protocol

import orjson

from spark_jobs.common.http import ApiResponse, HttpClient, RequestStats, RetryPolicy
from spark_jobs.oura.settings import OuraSettings

ParamKind = Literal["date", "datetime", "none"]

RATE_LIMIT_REQUESTS = 5000
RATE_LIMIT_WINDOW_S = 300.0
# 300 s / 5,000 = 0.06 s; a hair more so clock jitter never tips a burst over the limit.
MIN_INTERVAL_S = RATE_LIMIT_WINDOW_S / RATE_LIMIT_REQUESTS * 1.05

DATETIME_MAX_WINDOW = timedelta(days=30)
"""`heartrate` refuses start/end datetimes more than 30 days apart."""


@dataclass(frozen=True)
class Endpoint:
    """One Oura collection (or document) endpoint.

    Attributes:
        name: the name used everywhere (raw `resource`, table `oura_<name.lower()>`).
        path: URL path under the API base.
        params: how a window is passed: "date" (start_date/end_date, inclusive days),
            "datetime" (start_datetime/end_datetime, at most 30 days apart) or "none".
        key: the record's natural key (the table key is `account` + this).
        scope: the OAuth2 scope the endpoint needs (named in 403 messages).
        day_field: the record field that places it in a window (None: not windowed).
        paginated: whether the body is a `{"data": [...], "next_token"}` collection.
        deprecated: still served, superseded by another endpoint.
    """

    name: str
    path: str
    params: ParamKind
    key: tuple[str, ...]
    scope: str
    day_field: str | None = "day"
    paginated: bool = True
    deprecated: bool = False


def _ep(name: str, params: ParamKind, scope: str, **kw: object) -> Endpoint:
    kw.setdefault("key", ("id",))
    return Endpoint(name=name, path=f"/v2/usercollection/{name}", params=params, scope=scope, **kw)  # type: ignore[arg-type]


ENDPOINTS: dict[str, Endpoint] = {
    ep.name: ep
    for ep in (
        _ep("daily_activity", "date", "daily"),
        _ep("daily_readiness", "date", "daily"),
        _ep("daily_sleep", "date", "daily"),
        _ep("daily_resilience", "date", "daily"),
        _ep("daily_stress", "date", "stress"),
        _ep("daily_spo2", "date", "spo2Daily"),
        # Genuine recordings carry no `id` (spec 1.29 adds one): one document per day.
        _ep("daily_cardiovascular_age", "date", "heart_health", key=("day",)),
        _ep("sleep", "date", "daily"),
        _ep("sleep_time", "date", "daily"),
        # Samples have no id; the same instant can appear once per source.
        _ep(
            "heartrate",
            "datetime",
            "heartrate",
            key=("timestamp", "source"),
            day_field="timestamp",
        ),
        _ep("workout", "date", "workout"),
        _ep("session", "date", "session"),
        _ep("enhanced_tag", "date", "tag", day_field="start_day"),
        _ep("tag", "date", "tag", deprecated=True),  # superseded by enhanced_tag
        _ep("vO2_max", "date", "heart_health"),
        _ep("rest_mode_period", "date", "daily", day_field="start_day"),
        # Takes no window (only next_token): the ring list is small and read whole.
        _ep("ring_configuration", "none", "ring_configuration", day_field=None),
        # A single object, no parameters, no pagination; the id needs no scope, the rest
        # needs `personal` (and `email`).
        _ep("personal_info", "none", "personal", day_field=None, paginated=False),
    )
}
"""Every endpoint the pipeline reads, by name."""


def endpoint(name: str) -> Endpoint:
    """The endpoint called `name`, or ValueError listing the known ones."""
    try:
        return ENDPOINTS[name]
    except KeyError:
        raise ValueError(f"unknown Oura endpoint {name!r}; known: {', '.join(ENDPOINTS)}") from None


def _iso_utc(day: date) -> str:
    return datetime.combine(day, dtime(0), tzinfo=UTC).isoformat()


def window_params(ep: Endpoint, start: date, end: date) -> list[dict[str, str]]:
    """The query parameters of the calls that cover the days [start, end], widened.

    "date" endpoints get one call for [start - 1 day, end + 1 day] (both inclusive): the
    API's edges are fuzzy (see the module docstring), the widened window catches documents
    the API files a day off, and the transforms filter on `day`.

    "datetime" endpoints (heartrate) get [start - 1 day 00:00 UTC, end + 2 days 00:00 UTC),
    cut into calls of at most 30 days. The window a run owns is [start 00:00 UTC,
    end + 1 day 00:00 UTC); `end_datetime` must name the first instant *after* it (end + 1
    day), and one more day on each side covers the same fuzzy edges as the daily
    endpoints (and a local day in a far-east/far-west zone spilling past UTC midnight).
    """
    if end < start:
        raise ValueError(f"window end {end} is before its start {start}")
    if ep.params == "none":
        return [{}]
    if ep.params == "date":
        return [
            {
                "start_date": (start - timedelta(days=1)).isoformat(),
                "end_date": (end + timedelta(days=1)).isoformat(),
            }
        ]
    lo, hi = start - timedelta(days=1), end + timedelta(days=2)
    calls = []
    while lo < hi:
        upper = min(hi, lo + DATETIME_MAX_WINDOW)
        calls.append({"start_datetime": _iso_utc(lo), "end_datetime": _iso_utc(upper)})
        lo = upper
    return calls


class TokenProvider(Protocol):
    """What the client needs from auth (see `spark_jobs.oura.auth.OuraAuth`)."""

    def headers(self) -> Mapping[str, str]: ...

    def on_unauthorized(self) -> None: ...


class OuraClient:
    """Serial access to the Oura API v2 with bearer auth, retries and the rate limit.

    Args:
        settings: the Oura settings (its `api_base` is where requests go: tests point it
            at a local server).
        auth: provides the bearer header and refreshes it once on a 401.
        policy: retry rules (tests shrink the waits).
        sleep: injectable for tests.
    """

    def __init__(
        self,
        settings: OuraSettings,
        auth: TokenProvider,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.http = HttpClient(
            settings.api_base,
            headers={"Accept": "application/json"},
            policy=policy,
            auth=auth.headers,
            on_unauthorized=auth.on_unauthorized,
            min_interval=MIN_INTERVAL_S,
            sleep=sleep,
        )

    @property
    def stats(self) -> RequestStats:
        return self.http.stats

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> OuraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pages(self, name: str, start: date, end: date) -> Iterator[ApiResponse]:
        """Every page of endpoint `name` for the days [start, end] (widened, see
        :func:`window_params`). Non-200 pages are yielded too and end their walk: pass
        them to :func:`explain_status`.
        """
        ep = endpoint(name)
        if not ep.paginated:
            yield self.http.get(ep.path)
            return
        for params in window_params(ep, start, end):
            yield from self.http.get_pages(ep.path, params=params)

    def personal_info(self) -> ApiResponse:
        """The single personal_info document (no parameters, not paginated)."""
        return self.http.get(ENDPOINTS["personal_info"].path)


def _detail_messages(body: bytes) -> list[str]:
    try:
        detail = orjson.loads(body).get("detail")
    except (orjson.JSONDecodeError, AttributeError):
        return []
    if isinstance(detail, str):
        return [detail]
    if isinstance(detail, list):
        return [str(d.get("msg")) for d in detail if isinstance(d, dict) and d.get("msg")]
    return []


def explain_status(resp: ApiResponse, name: str, account: str) -> str | None:
    """The error message for a final response, or None when it is a success (2xx).

    429 and 5xx never get here: HttpClient retries them until it gives up with ApiError.
    """
    if 200 <= resp.status < 300:
        return None
    ep = ENDPOINTS.get(name)
    scope = ep.scope if ep else "?"
    where = f"Oura {name} for account {account!r}"
    auth_cmd = f"`lakehouse auth oura --account {account}`"
    if resp.status == 401:
        return (
            f"{where}: the access token was refused (expired or revoked, and a refresh did "
            f"not help): run {auth_cmd}"
        )
    if resp.status == 403:
        return (
            f"{where}: forbidden: missing scope {scope} or lapsed Oura membership; grant the "
            f"scope with {auth_cmd}, or renew the membership"
        )
    if resp.status == 404:
        return f"{where}: not found ({resp.url}); check OURA_API_BASE and the endpoint path"
    if resp.status == 422:
        msgs = "; ".join(_detail_messages(resp.body)) or "no detail given"
        params = ", ".join(
            f"{p}={v}"
            for p, v in _query_params(resp.url).items()
            if p.startswith(("start_", "end_"))
        )
        return f"{where}: the API refused the request ({msgs}) for {params or 'no dates'}"
    return f"{where}: HTTP {resp.status} from {resp.url}"


def _query_params(url: str) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(url).query))


def check_collection_body(body: bytes) -> int:
    """Number of records in a collection page; ValueError when the body is not one.

    A truncated or malformed body (not JSON, not an object, no `data` list) must never
    be parsed as "no records": it would look like a day without data.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON (truncated?): {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ValueError("not an Oura collection: no `data` list")
    if any(not isinstance(r, dict) for r in doc["data"]):
        raise ValueError("not an Oura collection: `data` holds non-objects")
    return len(doc["data"])
