"""chess.com Published-Data API client (https://www.chess.com/news/view/published-data-api).

No auth, but chess.com answers 403 to requests without a User-Agent carrying contact info,
so the client refuses to start without one (`CHESSCOM_USER_AGENT`). Requests are serial:
parallel ones may be rate-limited (429). Every archive response carries ETag and
Last-Modified; pass them back to get a 304 for an unchanged month.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from spark_jobs.common.errors import ConfigError
from spark_jobs.common.http import ApiError, ApiResponse, HttpClient, RetryPolicy
from spark_jobs.common.periods import validate_month as validate_month  # re-export

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,49}$")
ARCHIVE_URL_RE = re.compile(r"/games/(\d{4})/(\d{2})/?$")
_CONTACT_RE = re.compile(r"@|https?://", re.IGNORECASE)

USER_AGENT_HELP = (
    "chess.com requires a User-Agent with contact info (it answers 403 without one). "
    "Set CHESSCOM_USER_AGENT, e.g. in .env: "
    'CHESSCOM_USER_AGENT="personal-lakehouse/0.1 (you@example.com)"'
)


def validate_username(name: str) -> str:
    """Return the canonical (lower-case) chess.com username, or raise ConfigError."""
    candidate = (name or "").strip()
    if not USERNAME_RE.match(candidate):
        raise ConfigError(
            f"{name!r} is not a chess.com username: use 2-50 letters, digits, '_' or '-', "
            "starting with a letter or digit (as in chess.com/member/<username>)"
        )
    return candidate.lower()


def validate_user_agent(user_agent: str | None) -> str:
    if not user_agent or not _CONTACT_RE.search(user_agent):
        raise ConfigError(USER_AGENT_HELP)
    return user_agent


def month_of_archive_url(url: str) -> str:
    m = ARCHIVE_URL_RE.search(url)
    if not m:
        raise ApiError(f"unexpected archive URL {url!r} in the archives list", url=url)
    return f"{m.group(1)}-{m.group(2)}"


@dataclass(frozen=True)
class Archive:
    """One monthly archive as listed by /games/archives."""

    period: str
    url: str


class ChessComClient:
    """Serial, polite access to the endpoints the pipeline needs.

    Args:
        base_url: e.g. https://api.chess.com/pub (or the sandbox's URL).
        user_agent: must contain contact info (an e-mail or a URL).
    """

    def __init__(
        self,
        base_url: str,
        user_agent: str | None,
        *,
        policy: RetryPolicy | None = None,
        timeout: tuple[float, float] = (10.0, 60.0),
        sleep=None,
    ) -> None:
        ua = validate_user_agent(user_agent)
        kwargs = {"sleep": sleep} if sleep is not None else {}
        self.http = HttpClient(
            base_url,
            headers={"User-Agent": ua, "Accept": "application/json"},
            timeout=timeout,
            policy=policy,
            **kwargs,
        )

    @property
    def stats(self):
        return self.http.stats

    def close(self) -> None:
        self.http.close()

    def raise_for_status(self, resp: ApiResponse, what: str) -> None:
        if resp.status == 403:
            raise ApiError(
                f"chess.com refused {resp.url} (403). {USER_AGENT_HELP}",
                url=resp.url,
                status=403,
            )
        if resp.status >= 400:
            raise ApiError(
                f"chess.com answered {resp.status} for {what} ({resp.url})",
                url=resp.url,
                status=resp.status,
            )

    def archives(self, username: str) -> ApiResponse:
        """GET the player's list of monthly archives (parse it with `parse_archives`).

        Raises:
            ApiError: unknown player (404) or refused (403).
        """
        resp = self.http.get(f"player/{username}/games/archives")
        if resp.status == 404:
            raise ApiError(
                f"player {username!r} not found on chess.com (404 from {resp.url}); "
                "check the spelling of --player",
                url=resp.url,
                status=404,
            )
        self.raise_for_status(resp, f"the archives of {username!r}")
        return resp

    def archive_month(
        self, archive: Archive, etag: str | None = None, last_modified: str | None = None
    ) -> ApiResponse:
        """GET one monthly archive, conditionally when validators are given.

        Returns 200 (body), 304 (unchanged) or 404 (the caller reports it); raises for
        other errors.
        """
        resp = self.http.get(archive.url, etag=etag, last_modified=last_modified)
        if resp.status not in (200, 304, 404):
            self.raise_for_status(resp, f"archive {archive.period}")
        return resp


def check_archive_body(body: bytes) -> int:
    """Validate a monthly archive body; returns its number of games.

    Raises:
        ValueError: the body is not JSON or has no `games` list.
    """
    doc = orjson.loads(body)
    games = doc.get("games") if isinstance(doc, dict) else None
    if not isinstance(games, list):
        raise ValueError("no 'games' list in the body")
    return len(games)


def parse_archives(resp: ApiResponse) -> list[Archive]:
    """The archives listed in a /games/archives response, oldest first.

    Raises:
        ApiError: the body is not the documented `{"archives": [url, ...]}`.
    """
    try:
        urls = orjson.loads(resp.body)["archives"]
        archives = [Archive(month_of_archive_url(u), u) for u in urls]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ApiError(
            f"malformed archives list from {resp.url} ({exc}); the body is kept in the "
            "raw layer. Rerun later; if it persists the API contract has changed",
            url=resp.url,
        ) from exc
    return sorted(archives, key=lambda a: a.period)
