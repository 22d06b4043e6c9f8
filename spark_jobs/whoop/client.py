"""WHOOP API v2 client (https://developer.whoop.com/api): one HttpClient, every resource.

Collections answer `{"records": [...], "next_token": ...}`, newest first, at most 25 per
page (`limit`), for `start` (inclusive) .. `end` (exclusive); the next page is asked for
with `nextToken`. `RESOURCES` declares each resource once:

    client = WhoopClient(settings, WhoopAuth(settings, "me"))
    for page in client.pages("sleep", "2024-11"):
        check_collection_body("sleep", page.body)

Rate limits (100 requests a minute, 10,000 a day per app) come back on every response as
`X-RateLimit-Limit` / `-Remaining` / `-Reset` (seconds). The client pauses for `-Reset`
seconds when fewer than `RESERVE` requests remain, so it slows down before a 429 rather
than after; a 429 is waited out for `-Reset` seconds too (WHOOP sends no Retry-After). A
pause longer than `MAX_PAUSE_S` (the daily quota) stops the run with a message instead.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import orjson

from spark_jobs.common.http import ApiError, ApiResponse, HttpClient, RequestStats, RetryPolicy
from spark_jobs.common.periods import month_end, month_start

PAGE_LIMIT = 25  # the API's maximum `limit`
RESERVE = 2  # requests kept in hand when the API says how many remain
MAX_PAUSE_S = 300.0  # longer than this is the daily quota: stop, say when to rerun


@dataclass(frozen=True)
class Resource:
    """One WHOOP resource.

    Attributes:
        name: the name used everywhere (raw `resource`, table `whoop_<name>`).
        path: URL path under WHOOP_API_BASE.
        scope: the OAuth2 scope it needs (named in 403 messages).
        key: the record's natural key within an account (the table key is `account` + it).
        collection: a paged `records` collection read by month; else one document.
    """

    name: str
    path: str
    scope: str
    key: tuple[str, ...]
    collection: bool = True


RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        Resource("cycle", "/v2/cycle", "read:cycles", ("id",)),
        # One recovery per cycle; its `sleep_id` names the sleep that scored it.
        Resource("recovery", "/v2/recovery", "read:recovery", ("cycle_id",)),
        Resource("sleep", "/v2/activity/sleep", "read:sleep", ("id",)),
        Resource("workout", "/v2/activity/workout", "read:workout", ("id",)),
        Resource("profile", "/v2/user/profile/basic", "read:profile", (), collection=False),
        Resource(
            "body_measurement",
            "/v2/user/measurement/body",
            "read:body_measurement",
            (),
            collection=False,
        ),
    )
}
"""Every resource the pipeline reads, by name."""

COLLECTIONS = tuple(name for name, r in RESOURCES.items() if r.collection)

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
UUID_RE = re.compile(UUID_PATTERN)


def _instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def month_params(period: str) -> dict[str, str | int]:
    """The query of one month (YYYY-MM, UTC): [first day 00:00, next month's 00:00)."""
    lo = month_start(period)
    return {
        "limit": PAGE_LIMIT,
        "start": f"{lo.isoformat()}T00:00:00.000Z",
        "end": _instant(month_end(period)),
    }


def rate_limit_pause(headers: Mapping[str, str]) -> float:
    """Seconds to wait before the next request, from WHOOP's X-RateLimit-* headers: the
    reset time when fewer than RESERVE requests remain, else 0.

    Raises:
        ApiError: the wait is longer than MAX_PAUSE_S (the daily quota is spent).
    """
    remaining, reset = headers.get("X-RateLimit-Remaining"), headers.get("X-RateLimit-Reset")
    if remaining is None or reset is None:
        return 0.0
    try:
        left, wait = int(str(remaining).split(",")[0]), float(str(reset).split(",")[0])
    except ValueError:
        return 0.0
    if left >= RESERVE:
        return 0.0
    if wait > MAX_PAUSE_S:
        raise ApiError(
            f"WHOOP's request quota is used up for {wait / 60:.0f} min (X-RateLimit-Reset); "
            "rerun after that (completed work is kept)"
        )
    return wait + 0.5


class TokenProvider(Protocol):
    """What the client needs from auth (see `spark_jobs.whoop.auth.WhoopAuth`)."""

    def headers(self) -> Mapping[str, str]: ...

    def on_unauthorized(self) -> None: ...


class WhoopClient:
    """Serial access to the WHOOP API v2 with bearer auth, retries and the rate limits.

    Args:
        settings: the WHOOP settings (`api_base` is where requests go).
        auth: provides the bearer header and refreshes it once on a 401.
        policy: retry rules (tests shrink the waits).
        sleep: injectable for tests.
    """

    def __init__(
        self,
        settings,
        auth: TokenProvider,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.http = HttpClient(
            settings.api_base,
            headers={"Accept": "application/json"},
            policy=policy or RetryPolicy(retry_after_max=MAX_PAUSE_S),
            auth=auth.headers,
            on_unauthorized=auth.on_unauthorized,
            pace=rate_limit_pause,
            retry_after_headers=("Retry-After", "X-RateLimit-Reset"),
            page_token_param="nextToken",
            sleep=sleep,
        )

    @property
    def stats(self) -> RequestStats:
        return self.http.stats

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> WhoopClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pages(self, name: str, period: str | None = None) -> Iterator[ApiResponse]:
        """Every page of a collection for one month, or the one response of a document.
        Non-200 pages are yielded too and end the walk: pass them to `explain_status`."""
        resource = RESOURCES[name]
        if not resource.collection:
            yield self.http.get(resource.path)
            return
        if period is None:
            raise ValueError(f"{name} is a collection: name the month to read")
        yield from self.http.get_pages(resource.path, params=month_params(period))


def explain_status(resp: ApiResponse, name: str, account: str) -> str | None:
    """The error message for a final response, or None when it is a success (2xx)."""
    if 200 <= resp.status < 300:
        return None
    where = f"WHOOP {name} for account {account!r}"
    fix = f"`lakehouse auth whoop --account {account}`"
    if resp.status == 401:
        return (
            f"{where}: the access token was refused (expired or revoked, and a refresh did "
            f"not help): run {fix}"
        )
    if resp.status == 403:
        scope = RESOURCES[name].scope if name in RESOURCES else "?"
        return f"{where}: forbidden: the grant lacks scope {scope}; grant it with {fix}"
    if resp.status == 404:
        return (
            f"{where}: not found ({resp.url}); check WHOOP_API_BASE (the v2 base is "
            "https://api.prod.whoop.com/developer)"
        )
    if resp.status == 400:
        try:
            detail = orjson.loads(resp.body)
            detail = detail.get("error_description") or detail.get("error") or detail
        except (orjson.JSONDecodeError, AttributeError):
            detail = "no detail given"
        return f"{where}: the API refused the request ({detail}) at {resp.url}"
    return f"{where}: HTTP {resp.status} from {resp.url}"


def check_collection_body(name: str, body: bytes) -> tuple[int, int]:
    """(records, records still PENDING_SCORE) of a collection page; ValueError when the
    body is not one, or holds v1-shaped records.

    A truncated or malformed body must never be parsed as "no records". A sleep or
    workout whose `id` is not a UUID is a v1 record (integer ids): the v1 API is gone and
    its ids are not v2's, so the page is refused, not mixed into bronze.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON (truncated?): {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("records"), list):
        raise ValueError("not a WHOOP collection: no `records` list")
    records = doc["records"]
    if any(not isinstance(r, dict) for r in records):
        raise ValueError("not a WHOOP collection: `records` holds non-objects")
    if name in ("sleep", "workout"):
        for r in records:
            rid = r.get("id")
            if not (isinstance(rid, str) and UUID_RE.match(rid)):
                raise ValueError(
                    f"{name} id {rid!r} is a WHOOP v1 id, not a v2 UUID: the v1 API is gone; "
                    "point WHOOP_API_BASE at the v2 API (https://api.prod.whoop.com/developer)"
                )
    pending = sum(1 for r in records if r.get("score_state") == "PENDING_SCORE")
    return len(records), pending
