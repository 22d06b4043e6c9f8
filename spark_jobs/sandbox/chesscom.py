"""The chess.com Published-Data API (https://api.chess.com/pub) as a sandbox source app.

Serves, under the mount (the server puts it at `/chesscom`, so clients use
`http://127.0.0.1:PORT/chesscom/pub`):

    GET /pub/player/{username}                       profile
    GET /pub/player/{username}/games/archives        {"archives": [absolute month URLs]}
    GET /pub/player/{username}/games/{YYYY}/{MM}     {"games": [...]} sorted by end_time
    GET /pub/player/{username}/games/{YYYY}/{MM}/pgn multi-game PGN

with the real contract's edges: case-insensitive usernames, 404 `{"code": 0, "message": ...}`,
403 for a User-Agent without contact info, weak ETags / Last-Modified and 304 revalidation.

    store = ChessComStore.with_generated_player("sandbox_sam", "2024-01", "2024-06")
    server.mount("chesscom", ChessComApp(store))
    store.add_games("sandbox_sam", "2024-06", [new_game])   # the month's ETag changes
"""

from __future__ import annotations

import copy
import hashlib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import orjson

from spark_jobs.sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

__all__ = ["ChessComApp", "ChessComStore", "normalize_month"]

_JSON = "application/json; charset=utf-8"
_PGN = "application/x-chess-pgn"
_DEFAULT_JOINED = 1_577_836_800  # 2020-01-01: profile "joined" of a player without games
_MONTH_RE = re.compile(r"^(\d{4})[-/](\d{1,2})$")
_CONTACT_RE = re.compile(r"[^\s@]+@[^\s@]+|https?://\S+", re.IGNORECASE)
_ROUTES = (
    ("profile", re.compile(r"^/pub/player/([^/]+)/?$")),
    ("archives", re.compile(r"^/pub/player/([^/]+)/games/archives/?$")),
    ("month", re.compile(r"^/pub/player/([^/]+)/games/(\d{4})/(\d{2})/?$")),
    ("pgn", re.compile(r"^/pub/player/([^/]+)/games/(\d{4})/(\d{2})/pgn/?$")),
)


def normalize_month(month: str) -> str:
    """ "2024-1", "2024/01" or "2024-01" -> "2024-01".

    Raises:
        ValueError: Not a year and month.
    """
    match = _MONTH_RE.match(month.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    return f"{match.group(1)}-{int(match.group(2)):02d}"


def _sorted_games(games: Iterable[dict]) -> list[dict]:
    # Stable sort: games with equal end_time keep their insertion order.
    return sorted((copy.deepcopy(g) for g in games), key=lambda g: int(g.get("end_time", 0)))


def _max_end_time(games: list[dict]) -> int | None:
    times = [int(g["end_time"]) for g in games if "end_time" in g]
    return max(times) if times else None


@dataclass
class _Month:
    games: list[dict]
    modified: int
    body: bytes | None = None  # serialised {"games": [...]}, rebuilt after a change


@dataclass
class _Player:
    username: str
    profile: dict | None = None
    months: dict[str, _Month] = field(default_factory=dict)


class ChessComStore:
    """In-memory chess.com data, keyed by lower-cased username and "YYYY-MM"; thread-safe.

    A month's Last-Modified is deterministic: the max end_time of its games, bumped by at least
    one second on every change (so conditional requests see the change), or whatever
    `set_modified` says. Games are stored as deep copies, sorted by end_time.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._players: dict[str, _Player] = {}

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def with_generated_player(
        cls, username: str, start: str, end: str, seed: int = 7
    ) -> ChessComStore:
        """A store holding one fictional player's deterministic history.

        Args:
            username: The player.
            start: First month, "YYYY-MM".
            end: Last month, "YYYY-MM" (inclusive).
            seed: Generator seed.
        """
        from spark_jobs.sandbox.chesscom_generator import generate_history

        store = cls()
        store.add_player(username, generate_history(username, start, end, seed=seed))
        return store

    def add_player(
        self,
        username: str,
        archives: dict[str, list[dict]] | None = None,
        profile: dict | None = None,
    ) -> None:
        """Create a player (or update one): months in `archives` replace existing ones.

        Args:
            username: Any case; stored lower-cased.
            archives: "YYYY-MM" -> games (chess.com archive game dicts).
            profile: The exact profile JSON to serve; default: one derived from the games.
        """
        key = username.lower()
        with self._lock:
            player = self._players.setdefault(key, _Player(key))
            if profile is not None:
                player.profile = copy.deepcopy(profile)
        for month, games in (archives or {}).items():
            self.replace_month(username, month, games)

    def add_games(self, username: str, month: str, games: list[dict]) -> None:
        """Append games to a month (created if missing); bumps its Last-Modified and ETag.

        Raises:
            KeyError: Unknown player.
        """
        month = normalize_month(month)
        with self._lock:
            player = self._player(username)
            current = player.months.get(month)
            existing = current.games if current else []
            merged = _sorted_games([*existing, *games])
            previous = current.modified if current else None
            player.months[month] = _Month(merged, self._next_modified(month, merged, previous))

    def replace_month(self, username: str, month: str, games: list[dict]) -> None:
        """Replace a month's games (created if missing; the player too).

        Raises:
            ValueError: Malformed month.
        """
        month = normalize_month(month)
        key = username.lower()
        with self._lock:
            player = self._players.setdefault(key, _Player(key))
            current = player.months.get(month)
            ordered = _sorted_games(games)
            previous = current.modified if current else None
            player.months[month] = _Month(ordered, self._next_modified(month, ordered, previous))

    def set_modified(self, username: str, month: str, when: int | float | datetime) -> None:
        """Force a month's Last-Modified (epoch seconds or an aware datetime).

        Raises:
            KeyError: Unknown player or month.
        """
        month = normalize_month(month)
        stamp = int(when.timestamp()) if isinstance(when, datetime) else int(when)
        with self._lock:
            self._player(username).months[month].modified = stamp

    def load_recorded(self, path: str | Path, username: str, month: str | None = None) -> int:
        """Load a recorded monthly archive file (`{"games": [...]}`) as one month.

        Args:
            path: JSON file as returned by `/pub/player/{u}/games/{YYYY}/{MM}`.
            username: Player to file it under (created if missing).
            month: "YYYY-MM"; default: the month of the games' latest end_time.

        Returns:
            Number of games loaded.

        Raises:
            ValueError: The file is not an archive, or `month` is missing and cannot be inferred.
        """
        data = orjson.loads(Path(path).read_bytes())
        if not isinstance(data, dict) or not isinstance(data.get("games"), list):
            raise ValueError(f"{path}: expected a JSON object with a 'games' list")
        games = data["games"]
        if month is None:
            latest = _max_end_time(games)
            if latest is None:
                raise ValueError(f"{path}: no end_time to infer the month from; pass month=")
            month = datetime.fromtimestamp(latest, tz=UTC).strftime("%Y-%m")
        self.replace_month(username, month, games)
        return len(games)

    # -- reads ---------------------------------------------------------------------------------

    def players(self) -> list[str]:
        """All usernames (lower case), sorted."""
        with self._lock:
            return sorted(self._players)

    def months(self, username: str) -> list[str]:
        """The player's archive months, ascending.

        Raises:
            KeyError: Unknown player.
        """
        with self._lock:
            return sorted(self._player(username).months)

    def games(self, username: str, month: str) -> list[dict]:
        """A deep copy of one month's games, sorted by end_time ([] if the month is absent).

        Raises:
            KeyError: Unknown player.
        """
        month = normalize_month(month)
        with self._lock:
            entry = self._player(username).months.get(month)
            return copy.deepcopy(entry.games) if entry else []

    def has_player(self, username: str) -> bool:
        """Whether the player exists."""
        with self._lock:
            return username.lower() in self._players

    def modified(self, username: str, month: str) -> int:
        """A month's Last-Modified in epoch seconds.

        Raises:
            KeyError: Unknown player or month.
        """
        with self._lock:
            return self._player(username).months[normalize_month(month)].modified

    # -- used by the app -----------------------------------------------------------------------

    def month_body(self, username: str, month: str) -> tuple[bytes, int] | None:
        """Serialised `{"games": [...]}` and Last-Modified of a month, or None if absent."""
        with self._lock:
            player = self._players.get(username.lower())
            entry = player.months.get(month) if player else None
            if entry is None:
                return None
            if entry.body is None:
                entry.body = orjson.dumps({"games": entry.games})
            return entry.body, entry.modified

    def month_pgn(self, username: str, month: str) -> tuple[bytes, int] | None:
        """The month's games as one multi-game PGN and its Last-Modified, or None if absent."""
        with self._lock:
            player = self._players.get(username.lower())
            entry = player.months.get(month) if player else None
            if entry is None:
                return None
            pgns = [g["pgn"].rstrip("\n") + "\n" for g in entry.games if g.get("pgn")]
            return "\n".join(pgns).encode("utf-8"), entry.modified

    def profile(self, username: str) -> tuple[dict, int] | None:
        """Profile JSON and its Last-Modified, or None for an unknown player."""
        with self._lock:
            player = self._players.get(username.lower())
            if player is None:
                return None
            modified = max((m.modified for m in player.months.values()), default=_DEFAULT_JOINED)
            if player.profile is not None:
                return copy.deepcopy(player.profile), modified
            return self._default_profile(player), modified

    def archive_months(self, username: str) -> tuple[list[str], int] | None:
        """Months (ascending) and the newest Last-Modified among them, or None if unknown."""
        with self._lock:
            player = self._players.get(username.lower())
            if player is None:
                return None
            modified = max((m.modified for m in player.months.values()), default=_DEFAULT_JOINED)
            return sorted(player.months), modified

    # -- internals -----------------------------------------------------------------------------

    def _player(self, username: str) -> _Player:
        try:
            return self._players[username.lower()]
        except KeyError:
            raise KeyError(f"unknown chess.com player {username!r}") from None

    @staticmethod
    def _next_modified(month: str, games: list[dict], previous: int | None) -> int:
        from spark_jobs.sandbox.chesscom_generator import month_bounds

        latest = _max_end_time(games)
        stamp = latest if latest is not None else month_bounds(month)[0]
        # Every change must move Last-Modified forward, or If-Modified-Since would hide it.
        return stamp if previous is None else max(stamp, previous + 1)

    @staticmethod
    def _default_profile(player: _Player) -> dict:
        games = [g for m in player.months.values() for g in m.games]
        ends = [int(g["end_time"]) for g in games if "end_time" in g]
        starts = [int(g.get("start_time", g["end_time"])) for g in games if "end_time" in g]
        joined = min(starts) - 30 * 86400 if starts else _DEFAULT_JOINED
        digest = hashlib.md5(player.username.encode("utf-8")).hexdigest()
        return {
            "@id": f"https://api.chess.com/pub/player/{player.username}",
            "url": f"https://www.chess.com/member/{player.username}",
            "username": player.username,
            "player_id": int(digest[:8], 16) % 400_000_000 + 1_000_000,
            "followers": int(digest[8:10], 16),
            "country": "https://api.chess.com/pub/country/XX",
            "last_online": max(ends) if ends else joined,
            "joined": joined,
            "status": "basic",
            "is_streamer": False,
            "verified": False,
            "league": "Wood",
            "streaming_platforms": [],
        }


def _http_date(epoch: int) -> str:
    return formatdate(epoch, usegmt=True)


def _etag(body: bytes) -> str:
    return f'W/"{hashlib.md5(body).hexdigest()}"'


def _not_found(message: str) -> SandboxResponse:
    return SandboxResponse.from_json({"code": 0, "message": message}, status=404)


def _etag_matches(header: str, etag: str) -> bool:
    # Weak comparison (RFC 7232 §2.3.2): opaque tags equal once any W/ prefix is dropped.
    if header.strip() == "*":
        return True
    mine = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == mine for tag in header.split(","))


def _not_modified_since(header: str, modified: int) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False  # an unparsable date is ignored, as RFC 7232 asks
    if since is None:
        return False
    return modified <= int(since.timestamp())


class ChessComApp:
    """Source app for the chess.com Published-Data API, backed by a `ChessComStore`.

    Args:
        store: The data; default: an empty store.
        require_contact_user_agent: Enforce the real API's rule that the User-Agent carries an
            e-mail address or URL (403 otherwise).
        max_age: Seconds for `Cache-Control: public, max-age=N`.
    """

    base_path = "/pub"

    def __init__(
        self,
        store: ChessComStore | None = None,
        *,
        require_contact_user_agent: bool = True,
        max_age: int = 5,
    ) -> None:
        self.store = store if store is not None else ChessComStore()
        self.require_contact_user_agent = require_contact_user_agent
        self.max_age = max_age

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request (path relative to the mount, e.g. `/pub/player/x`)."""
        if request.method not in ("GET", "HEAD"):
            return SandboxResponse.from_json(
                {"code": 0, "message": f"Method {request.method} is not allowed."},
                status=405,
                headers={"Allow": "GET, HEAD"},
            )
        if self.require_contact_user_agent:
            agent = request.header("User-Agent") or ""
            if not _CONTACT_RE.search(agent):
                return SandboxResponse.from_json(
                    {
                        "code": 0,
                        "message": "A User-Agent header with contact information (an e-mail "
                        "address or a URL) is required to use the Published-Data API.",
                    },
                    status=403,
                )
        for route, pattern in _ROUTES:
            match = pattern.match(request.path)
            if match:
                return getattr(self, f"_{route}")(request, *match.groups())
        return _not_found(f"Endpoint {request.path!r} not found.")

    # -- endpoints -----------------------------------------------------------------------------

    def _profile(self, request: SandboxRequest, username: str) -> SandboxResponse:
        found = self.store.profile(username)
        if found is None:
            return _not_found(f'User "{username}" not found.')
        profile, modified = found
        return self._cacheable(request, orjson.dumps(profile), modified, _JSON)

    def _archives(self, request: SandboxRequest, username: str) -> SandboxResponse:
        found = self.store.archive_months(username)
        if found is None:
            return _not_found(f'User "{username}" not found.')
        months, modified = found
        # Absolute URLs pointing back at this sandbox, as the real API points at itself.
        base = f"{request.mount_url}{self.base_path}/player/{username.lower()}/games"
        archives = [f"{base}/{month.replace('-', '/')}" for month in months]
        return self._cacheable(request, orjson.dumps({"archives": archives}), modified, _JSON)

    def _month(
        self, request: SandboxRequest, username: str, year: str, month: str
    ) -> SandboxResponse:
        missing = self._month_missing(username, year, month)
        if missing is not None:
            return missing
        found = self.store.month_body(username, f"{year}-{month}")
        if found is None:
            return _not_found(f"No games archive for {username.lower()} in {year}-{month}.")
        body, modified = found
        return self._cacheable(request, body, modified, _JSON)

    def _pgn(
        self, request: SandboxRequest, username: str, year: str, month: str
    ) -> SandboxResponse:
        missing = self._month_missing(username, year, month)
        if missing is not None:
            return missing
        found = self.store.month_pgn(username, f"{year}-{month}")
        if found is None:
            return _not_found(f"No games archive for {username.lower()} in {year}-{month}.")
        body, modified = found
        response = self._cacheable(request, body, modified, _PGN)
        response.headers["Content-Disposition"] = (
            f'attachment; filename="ChessCom_{username.lower()}_{year}{month}.pgn"'
        )
        return response

    # -- helpers -------------------------------------------------------------------------------

    def _month_missing(self, username: str, year: str, month: str) -> SandboxResponse | None:
        if not 1 <= int(month) <= 12:
            return _not_found(f"Invalid month {year}/{month}.")
        if not self.store.has_player(username):
            return _not_found(f'User "{username}" not found.')
        return None

    def _cacheable(
        self, request: SandboxRequest, body: bytes, modified: int, content_type: str
    ) -> SandboxResponse:
        """A 200 with validators, or a 304 when the client's copy is still current."""
        etag = _etag(body)
        headers = {
            "ETag": etag,
            "Last-Modified": _http_date(modified),
            "Cache-Control": f"public, max-age={self.max_age}",
        }
        if_none_match = request.header("If-None-Match")
        if_modified_since = request.header("If-Modified-Since")
        if if_none_match is not None:
            fresh = _etag_matches(if_none_match, etag)
        elif if_modified_since is not None:
            fresh = _not_modified_since(if_modified_since, modified)
        else:
            fresh = False
        if fresh:
            return SandboxResponse(status=304, headers=headers, body=b"")
        headers["Content-Type"] = content_type
        return SandboxResponse(status=200, headers=headers, body=body)


def mount_demo(
    server: SandboxServer, accounts: list[str], since: str, now: datetime
) -> dict[str, str]:
    """Mount chess.com with generated players from `since` (YYYY-MM) to `now`; returns the
    environment that points the pipeline at it (the sandbox's and the demo's hook)."""
    from spark_jobs.sandbox.chesscom_generator import generate_history_until

    store = ChessComStore()
    for name in accounts:
        store.add_player(name.lower(), generate_history_until(name.lower(), since, now))
    server.mount("chesscom", ChessComApp(store))
    return {
        "CHESSCOM_API_BASE": server.base_url("chesscom"),
        "CHESSCOM_USER_AGENT": "personal-lakehouse-demo/0.1 (demo@localhost)",
    }
