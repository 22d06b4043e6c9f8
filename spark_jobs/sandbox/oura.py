"""The Oura API v2 (https://api.ouraring.com) and its OAuth2 server as a sandbox source app.

Mounted by the server as "oura", so clients use the base `http://127.0.0.1:PORT/oura` and
paths arrive as the real ones:

    GET  /oauth/authorize?response_type=code&client_id=..&redirect_uri=..&scope=..&state=..
         auto-approves: 302 to redirect_uri?code=..&state=..
    POST /oauth/token      grant_type=authorization_code | refresh_token (form; client
                           credentials in the form or HTTP Basic); refresh tokens rotate
    POST /oauth/revoke?access_token=..
    GET  /v2/usercollection/personal_info
    GET  /v2/usercollection/{endpoint}?start_date=..&end_date=..&next_token=..
    GET  /v2/usercollection/heartrate?start_datetime=..&end_datetime=..&next_token=..
    GET  /v2/usercollection/{endpoint}/{document_id}

    store = OuraStore.with_generated_person("demo_player", date(2024, 1, 1), date(2024, 6, 30))
    server.mount("oura", OuraApp(store))
    access, refresh = store.issue_token("demo_player")      # or the OAuth flow, or "sandbox-pat"

Contract edges, as recorded or specified (the spec's `{"detail": ...}` error bodies):
401 for a missing, unknown or expired bearer token; 403 `{"detail": "Forbidden"}` when the
token lacks the endpoint's scope (`ENDPOINT_SCOPES`); 422 HTTPValidationError for unparsable
dates or a start after the end; 400 for a heart-rate window over 30 days or a `next_token`
that does not belong to the query; 404 `{"detail": "Document not found."}`; 429 with
Retry-After past 5,000 requests in 5 minutes per user (and through `Fault`s as for any mount).

Date windows follow the genuine recordings, per endpoint (`DAY_WINDOWS`): the daily scores,
enhanced tags and rest mode periods include both `start_date` and `end_date`; `daily_activity`,
`workout` and `session` exclude `end_date`; `sleep` and `sleep_time` exclude both (a
10-09..11-03 call returned days 10-10..11-02 although both edge days existed). A missing
`end_date` is today, a missing `start_date` is the day before `end_date` (heart rate: the
24 hours before `end_datetime`, default now). Heart-rate samples are served for
`start_datetime <= timestamp < end_datetime`. `OuraApp(edges="inclusive")` makes every day
window inclusive instead.
"""

from __future__ import annotations

import base64
import bisect
import copy
import hashlib
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from spark_jobs.sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

__all__ = [
    "ALL_SCOPES",
    "COLLECTIONS",
    "DAY_WINDOWS",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_PAT",
    "ENDPOINT_SCOPES",
    "RECORDINGS_DIR",
    "OuraApp",
    "OuraStore",
]

DEFAULT_CLIENT_ID = "sandbox-client"
DEFAULT_CLIENT_SECRET = "sandbox-secret"
DEFAULT_PAT = "sandbox-pat"
RECORDINGS_DIR = Path(__file__).parent / "data" / "oura"

ALL_SCOPES = frozenset(
    {
        "email",
        "personal",
        "daily",
        "heartrate",
        "workout",
        "tag",
        "session",
        "spo2Daily",
        "stress",
        "heart_health",
        "ring_configuration",
    }
)
"""Every scope the authorize endpoint grants (the spec's eight plus the newer three)."""

ENDPOINT_SCOPES: dict[str, str] = {
    "daily_activity": "daily",
    "daily_readiness": "daily",
    "daily_sleep": "daily",
    "daily_spo2": "spo2Daily",
    "daily_stress": "stress",
    "daily_resilience": "stress",
    "daily_cardiovascular_age": "heart_health",
    "vO2_max": "heart_health",
    "heartrate": "heartrate",
    "workout": "workout",
    "session": "session",
    "tag": "tag",
    "enhanced_tag": "tag",
    "sleep": "daily",
    "sleep_time": "daily",
    "rest_mode_period": "daily",
    "ring_configuration": "ring_configuration",
}
"""The scope each collection needs. `personal_info` needs none: the spec says its `id` is
readable "with any access token"; `age`/`weight`/`height`/`biological_sex` are null without
`personal` and `email` is null without `email`."""

COLLECTIONS = tuple(name for name in ENDPOINT_SCOPES if name != "heartrate")
"""Document collections (everything but the `heartrate` time series and `personal_info`)."""

DAY_WINDOWS: dict[str, tuple[bool, bool]] = {
    "daily_sleep": (True, True),
    "daily_readiness": (True, True),
    "daily_resilience": (True, True),
    "daily_stress": (True, True),
    "daily_spo2": (True, True),
    "daily_cardiovascular_age": (True, True),
    "vO2_max": (True, True),
    "tag": (True, True),
    "enhanced_tag": (True, True),
    "rest_mode_period": (True, True),
    "daily_activity": (True, False),
    "workout": (True, False),
    "session": (True, False),
    "sleep": (False, False),
    "sleep_time": (False, False),
}
"""(start_date included, end_date included) per windowed collection, from the recordings."""

_DAY_FIELD = {"enhanced_tag": "start_day", "rest_mode_period": "start_day"}
_TIME_FIELD = {
    "sleep": "bedtime_start",
    "workout": "start_datetime",
    "session": "start_datetime",
    "enhanced_tag": "start_time",
    "rest_mode_period": "start_time",
    "tag": "timestamp",
    "vO2_max": "timestamp",
}
_SOURCES = ("awake", "rest", "sleep", "session", "live", "workout")
_HEARTRATE_MAX_WINDOW = timedelta(days=30)
_CODE_TTL = 600.0  # authorization codes live 10 minutes (the spec's troubleshooting notes)
_JSON = "application/json"
_PREFIX = "/v2/usercollection/"


def _doc_key(doc: Mapping[str, Any]) -> str:
    """A document's natural key: `id`, or `day` for the id-less cardiovascular age."""
    key = doc.get("id") or doc.get("day")
    if not isinstance(key, str) or not key:
        raise ValueError(f"document has neither an id nor a day: {dict(doc)!r}"[:200])
    return key


def _epoch(text: Any) -> float:
    if not isinstance(text, str):
        return 0.0
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _sort_key(endpoint: str, doc: Mapping[str, Any]) -> tuple[str, float, str]:
    day = doc.get(_DAY_FIELD.get(endpoint, "day")) or ""
    return (str(day), _epoch(doc.get(_TIME_FIELD.get(endpoint, ""))), _doc_key(doc))


@dataclass
class _Heartrate:
    """One account's samples keyed by (epoch seconds, source); rows rebuilt after changes."""

    samples: dict[tuple[int, str], int] = field(default_factory=dict)
    keys: list[tuple[int, str]] | None = None

    def sorted_keys(self) -> list[tuple[int, str]]:
        if self.keys is None:
            self.keys = sorted(self.samples)
        return self.keys


@dataclass
class _Account:
    name: str
    personal_info: dict[str, Any] | None = None
    documents: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    ordered: dict[str, list[tuple[tuple[str, float, str], dict[str, Any]]]] = field(
        default_factory=dict
    )
    heartrate: _Heartrate = field(default_factory=_Heartrate)
    membership_active: bool = True


@dataclass
class _Client:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] | None  # None: any redirect URI is accepted


@dataclass
class _Grant:
    account: str
    scopes: frozenset[str]
    client_id: str | None
    expires_at: float | None  # None: never (personal access tokens)
    redirect_uri: str | None = None
    used: bool = False


class OuraStore:
    """In-memory Oura accounts, their documents and the OAuth2 state; thread-safe.

    One account per person; every token belongs to one account and sees only its data.
    Documents are stored by natural key (`id`, or `day` for cardiovascular age), as deep
    copies, and served sorted by day (then start time, then key).

    Args:
        access_token_ttl: Seconds an OAuth2 access token lives (`expires_in`).
        clock: Wall-clock seconds (tests can pass a fake one).
        client_id: The registered OAuth2 application (`register_client` adds more).
        client_secret: Its secret.
        pat: A personal access token (all scopes) for the first account added; None: none.
    """

    def __init__(
        self,
        *,
        access_token_ttl: int = 86400,
        clock: Callable[[], float] = time.time,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        pat: str | None = DEFAULT_PAT,
    ) -> None:
        self._lock = threading.RLock()
        self._accounts: dict[str, _Account] = {}
        self._clients: dict[str, _Client] = {}
        self._codes: dict[str, _Grant] = {}
        self._access: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}
        self._pending_pat = pat
        self.access_token_ttl = access_token_ttl
        self.clock = clock
        self.register_client(client_id, client_secret)

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def with_generated_person(
        cls,
        account: str,
        start: date,
        end: date,
        *,
        seed: int = 7,
        tz: str = "Europe/Madrid",
        **kwargs: Any,
    ) -> OuraStore:
        """A store holding one fictional person (see `oura_generator.generate_person`).

        Args:
            account: The account (and person) name.
            start: First day.
            end: Last day, inclusive (the demo passes today).
            seed: Generator seed.
            tz: The person's IANA time zone.
            **kwargs: `OuraStore` constructor arguments.
        """
        store = cls(**kwargs)
        store.add_generated_person(account, start, end, seed=seed, tz=tz)
        return store

    @classmethod
    def with_recordings(cls, account: str = "recorded", **kwargs: Any) -> OuraStore:
        """A store serving the stripped real recordings in `RECORDINGS_DIR` as `account`."""
        store = cls(**kwargs)
        store.add_recordings(account)
        return store

    def add_generated_person(
        self, account: str, start: date, end: date, *, seed: int = 7, tz: str = "Europe/Madrid"
    ) -> None:
        """Add (or extend) an account with a generated person's data for start..end."""
        from spark_jobs.sandbox.oura_generator import generate_person

        person = generate_person(account, start, end, seed=seed, tz=tz, compact_heartrate=True)
        self.add_account(account, personal_info=person.pop("personal_info"))
        self.add_heartrate(account, person.pop("heartrate"))
        for endpoint, docs in person.items():
            self._add(account, endpoint, docs, copy_docs=False)  # fresh objects: no copy needed

    def add_recordings(self, account: str, directory: str | Path = RECORDINGS_DIR) -> None:
        """Load every `<endpoint>.json` collection body (and `personal_info.json`) of a folder."""
        folder = Path(directory)
        info = folder / "personal_info.json"
        self.add_account(
            account, personal_info=orjson.loads(info.read_bytes()) if info.exists() else None
        )
        for path in sorted(folder.glob("*.json")):
            name = path.stem
            if name == "personal_info":
                continue
            body = orjson.loads(path.read_bytes())
            rows = body["data"] if isinstance(body, dict) else body
            if name == "heartrate":
                self.add_heartrate(account, rows)
            elif name in COLLECTIONS:
                self.add_documents(account, name, rows)

    def add_account(self, account: str, personal_info: Mapping[str, Any] | None = None) -> None:
        """Create an account (idempotent); `personal_info` replaces the served document."""
        with self._lock:
            entry = self._accounts.setdefault(account, _Account(account))
            if personal_info is not None:
                entry.personal_info = copy.deepcopy(dict(personal_info))
            if self._pending_pat is not None:
                self.register_pat(self._pending_pat, account)
                self._pending_pat = None

    # -- documents -----------------------------------------------------------------------------

    def add_documents(self, account: str, endpoint: str, docs: Iterable[Mapping[str, Any]]) -> int:
        """Insert or replace documents by natural key (late sync, rescoring); returns count.

        Raises:
            KeyError: Unknown endpoint.
        """
        return self._add(account, endpoint, docs, copy_docs=True)

    def _add(
        self, account: str, endpoint: str, docs: Iterable[Mapping[str, Any]], copy_docs: bool
    ) -> int:
        endpoint = self._collection(endpoint)
        count = 0
        with self._lock:
            entry = self._accounts.setdefault(account, _Account(account))
            bucket = entry.documents.setdefault(endpoint, {})
            for doc in docs:
                bucket[_doc_key(doc)] = copy.deepcopy(dict(doc)) if copy_docs else dict(doc)
                count += 1
            entry.ordered.pop(endpoint, None)
        return count

    def replace_documents(
        self, account: str, endpoint: str, docs: Iterable[Mapping[str, Any]]
    ) -> int:
        """Replace a whole collection (documents not in `docs` disappear); returns count."""
        endpoint = self._collection(endpoint)
        with self._lock:
            entry = self._accounts.setdefault(account, _Account(account))
            entry.documents[endpoint] = {}
            entry.ordered.pop(endpoint, None)
        return self.add_documents(account, endpoint, docs)

    def update_document(
        self, account: str, endpoint: str, key: str, **changes: Any
    ) -> dict[str, Any]:
        """Change fields of one document (e.g. `score=` or `type="deleted"`); returns it.

        Raises:
            KeyError: Unknown account, endpoint or document.
        """
        endpoint = self._collection(endpoint)
        with self._lock:
            entry = self._account(account)
            doc = entry.documents.get(endpoint, {})[key]
            doc.update(copy.deepcopy(changes))
            entry.ordered.pop(endpoint, None)
            return copy.deepcopy(doc)

    def delete_document(self, account: str, endpoint: str, key: str) -> bool:
        """Remove one document (it vanishes from the API); whether it existed."""
        endpoint = self._collection(endpoint)
        with self._lock:
            entry = self._account(account)
            found = entry.documents.get(endpoint, {}).pop(key, None) is not None
            entry.ordered.pop(endpoint, None)
            return found

    def documents(self, account: str, endpoint: str) -> list[dict[str, Any]]:
        """A deep copy of a collection in API order ([] when empty).

        Raises:
            KeyError: Unknown account or endpoint.
        """
        endpoint = self._collection(endpoint)
        with self._lock:
            return [
                copy.deepcopy(doc) for _, doc in self._ordered(self._account(account), endpoint)
            ]

    def document(self, account: str, endpoint: str, key: str) -> dict[str, Any] | None:
        """One document by natural key, or None."""
        endpoint = self._collection(endpoint)
        with self._lock:
            doc = self._account(account).documents.get(endpoint, {}).get(key)
            return copy.deepcopy(doc) if doc is not None else None

    def set_personal_info(self, account: str, info: Mapping[str, Any]) -> None:
        """Replace the account's `personal_info` document."""
        self.add_account(account, personal_info=info)

    def personal_info(self, account: str) -> dict[str, Any]:
        """The account's `personal_info` (a stable fictional id when none was set)."""
        with self._lock:
            entry = self._account(account)
            if entry.personal_info is not None:
                return copy.deepcopy(entry.personal_info)
        digest = hashlib.sha256(account.encode("utf-8")).hexdigest()
        return {
            "id": f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-{digest[20:32]}",
            "age": None,
            "weight": None,
            "height": None,
            "biological_sex": None,
            "email": None,
        }

    def set_membership_active(self, account: str, active: bool) -> None:
        """A lapsed Oura membership makes every data request of the account a 403."""
        with self._lock:
            self._account(account).membership_active = active

    def membership_active(self, account: str) -> bool:
        """Whether the account's membership is active."""
        with self._lock:
            return self._account(account).membership_active

    def accounts(self) -> list[str]:
        """Every account name, sorted."""
        with self._lock:
            return sorted(self._accounts)

    # -- heart rate ----------------------------------------------------------------------------

    def add_heartrate(self, account: str, samples: Iterable[Any]) -> int:
        """Add samples (API rows or `(epoch, bpm, source)` tuples); same (time, source) replaces.

        Raises:
            ValueError: An unknown `source`.
        """
        count = 0
        with self._lock:
            entry = self._accounts.setdefault(account, _Account(account))
            bucket = entry.heartrate.samples
            for sample in samples:
                if isinstance(sample, Mapping):
                    epoch = int(_epoch(sample["timestamp"]))
                    bpm, source = int(sample["bpm"]), str(sample["source"])
                else:
                    epoch, bpm, source = int(sample[0]), int(sample[1]), str(sample[2])
                if source not in _SOURCES:
                    raise ValueError(f"unknown heart-rate source {source!r}")
                bucket[(epoch, source)] = bpm
                count += 1
            entry.heartrate.keys = None
        return count

    def delete_heartrate(self, account: str, start: datetime, end: datetime) -> int:
        """Remove the samples in [start, end); returns how many."""
        lo, hi = math.ceil(start.timestamp()), int(end.timestamp())
        with self._lock:
            series = self._account(account).heartrate
            doomed = [key for key in series.samples if lo <= key[0] < hi]
            for key in doomed:
                del series.samples[key]
            series.keys = None
            return len(doomed)

    def heartrate(
        self, account: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The account's samples in [start, end) as API rows, oldest first."""
        lo = int(start.timestamp()) if start else None
        hi = int(end.timestamp()) if end else None
        with self._lock:
            return [
                _heartrate_row(key, bpm)
                for key, bpm in self.heartrate_slice(account, lo, hi, None, None)
            ]

    def heartrate_slice(
        self,
        account: str,
        lo: int | None,
        hi: int | None,
        after: tuple[int, str] | None,
        limit: int | None,
    ) -> list[tuple[tuple[int, str], int]]:
        """Samples with lo <= epoch < hi, strictly after key `after`, at most `limit` of them."""
        with self._lock:
            series = self._account(account).heartrate
            keys = series.sorted_keys()
            begin = bisect.bisect_left(keys, (lo, "")) if lo is not None else 0
            if after is not None:
                begin = max(begin, bisect.bisect_right(keys, after))
            stop = bisect.bisect_left(keys, (hi, "")) if hi is not None else len(keys)
            if limit is not None:
                stop = min(stop, begin + limit)
            return [(key, series.samples[key]) for key in keys[begin:stop]]

    # -- OAuth2 --------------------------------------------------------------------------------

    def register_client(
        self,
        client_id: str,
        client_secret: str,
        redirect_uris: Iterable[str] | None = None,
    ) -> None:
        """Register an OAuth2 application; `redirect_uris` None accepts any redirect URI."""
        uris = tuple(redirect_uris) if redirect_uris is not None else None
        with self._lock:
            self._clients[client_id] = _Client(client_id, client_secret, uris)

    def register_pat(self, token: str, account: str, scopes: Iterable[str] = ALL_SCOPES) -> None:
        """A legacy personal access token: never expires, belongs to `account`."""
        with self._lock:
            self._accounts.setdefault(account, _Account(account))
            self._access[token] = _Grant(account, frozenset(scopes), None, None)

    def issue_token(
        self,
        account: str,
        scopes: Iterable[str] = ALL_SCOPES,
        client_id: str = DEFAULT_CLIENT_ID,
    ) -> tuple[str, str]:
        """Issue an OAuth2 access and refresh token pair, as the token endpoint would.

        Raises:
            KeyError: Unknown account.
        """
        with self._lock:
            self._account(account)
            return self._issue(account, frozenset(scopes), client_id)

    def expire_access_tokens(self, account: str | None = None) -> int:
        """Make every OAuth2 access token (of one account) expired now; returns how many.

        Personal access tokens never expire. Refresh tokens stay usable.
        """
        now = self.clock()
        count = 0
        with self._lock:
            for grant in self._access.values():
                if grant.expires_at is not None and (account is None or grant.account == account):
                    grant.expires_at = now - 1
                    count += 1
        return count

    def revoke(self, token: str) -> bool:
        """Revoke an access or refresh token; whether it existed."""
        with self._lock:
            return (self._access.pop(token, None) or self._refresh.pop(token, None)) is not None

    def client(self, client_id: str) -> _Client | None:
        """A registered application, or None."""
        with self._lock:
            return self._clients.get(client_id)

    def create_code(
        self, account: str, scopes: frozenset[str], client_id: str, redirect_uri: str | None
    ) -> str:
        """A single-use authorization code (valid 10 minutes)."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Grant(
                account, scopes, client_id, self.clock() + _CODE_TTL, redirect_uri
            )
        return code

    def exchange_code(
        self, code: str, client_id: str, redirect_uri: str | None
    ) -> tuple[str, str, _Grant] | str:
        """Trade a code for tokens, or return the OAuth2 error code ("invalid_grant")."""
        with self._lock:
            grant = self._codes.get(code)
            if grant is None or grant.client_id != client_id:
                return "invalid_grant"
            if grant.used:
                # RFC 6749 §4.1.2: a replayed code is refused (and must never work again).
                return "invalid_grant"
            if grant.expires_at is not None and grant.expires_at < self.clock():
                return "invalid_grant"
            if grant.redirect_uri is not None and grant.redirect_uri != redirect_uri:
                return "invalid_grant"
            grant.used = True
            access, refresh = self._issue(grant.account, grant.scopes, client_id)
            return access, refresh, grant

    def rotate_refresh(self, refresh: str, client_id: str) -> tuple[str, str, _Grant] | str:
        """Trade a refresh token for a new pair; the old refresh token stops working."""
        with self._lock:
            grant = self._refresh.get(refresh)
            if grant is None or grant.client_id != client_id:
                return "invalid_grant"
            del self._refresh[refresh]
            access, new_refresh = self._issue(grant.account, grant.scopes, client_id)
            return access, new_refresh, grant

    def resolve(self, token: str) -> _Grant | str:
        """The grant behind an access token, or "invalid" / "expired"."""
        with self._lock:
            grant = self._access.get(token)
            if grant is None:
                return "invalid"
            if grant.expires_at is not None and grant.expires_at <= self.clock():
                return "expired"
            return grant

    # -- internals -----------------------------------------------------------------------------

    def _issue(
        self, account: str, scopes: frozenset[str], client_id: str | None
    ) -> tuple[str, str]:
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        expires = self.clock() + self.access_token_ttl
        self._access[access] = _Grant(account, scopes, client_id, expires)
        self._refresh[refresh] = _Grant(account, scopes, client_id, None)
        return access, refresh

    def _account(self, account: str) -> _Account:
        try:
            return self._accounts[account]
        except KeyError:
            raise KeyError(f"unknown Oura account {account!r}") from None

    @staticmethod
    def _collection(endpoint: str) -> str:
        if endpoint not in COLLECTIONS:
            raise KeyError(f"unknown Oura collection {endpoint!r}; expected one of {COLLECTIONS}")
        return endpoint

    def _ordered(
        self, entry: _Account, endpoint: str
    ) -> list[tuple[tuple[str, float, str], dict[str, Any]]]:
        cached = entry.ordered.get(endpoint)
        if cached is None:
            docs = entry.documents.get(endpoint, {}).values()
            cached = sorted(((_sort_key(endpoint, d), d) for d in docs), key=lambda x: x[0])
            entry.ordered[endpoint] = cached
        return cached

    def page(
        self,
        account: str,
        endpoint: str,
        select: Callable[[dict[str, Any]], bool],
        after: tuple[str, float, str] | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], tuple[str, float, str] | None]:
        """Up to `limit` selected documents after sort key `after`, and the last key if more."""
        with self._lock:
            rows = self._ordered(self._account(account), endpoint)
            start = 0
            if after is not None:
                start = bisect.bisect_right([key for key, _ in rows], after)
            out: list[dict[str, Any]] = []
            last: tuple[str, float, str] | None = None
            for key, doc in rows[start:]:
                if not select(doc):
                    continue
                if len(out) == limit:
                    return out, last
                out.append(copy.deepcopy(doc))
                last = key
            return out, None


def _heartrate_row(key: tuple[int, str], bpm: int) -> dict[str, Any]:
    return {
        "bpm": bpm,
        "source": key[1],
        "timestamp": datetime.fromtimestamp(key[0], UTC).isoformat(),
    }


# ---------------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------------


class _Problem(Exception):
    def __init__(self, response: SandboxResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _json(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> SandboxResponse:
    # The real API sends a bare application/json and no-cache on every answer.
    merged = {"Content-Type": _JSON, "Cache-Control": "no-cache", **(headers or {})}
    return SandboxResponse(status=status, headers=merged, body=orjson.dumps(payload))


def _detail(message: str, status: int, headers: Mapping[str, str] | None = None) -> _Problem:
    return _Problem(_json({"detail": message}, status, headers))


def _validation(name: str, raw: str, message: str, where: str = "query") -> _Problem:
    return _Problem(
        _json(
            {
                "detail": [
                    {"type": "value_error", "loc": [where, name], "msg": message, "input": raw}
                ]
            },
            422,
        )
    )


def _parse_moment(name: str, raw: str) -> datetime | date:
    """A query value as pydantic reads `datetime | date` in lax mode (or a 422)."""
    text = raw.strip()
    try:
        if text and text.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(text), UTC)  # numbers are Unix seconds
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise _validation(name, raw, "Input should be a valid datetime or date") from None


def _as_date(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _as_datetime(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class OuraApp:
    """Source app for the Oura API v2 and its OAuth2 endpoints, backed by an `OuraStore`.

    Args:
        store: The data and OAuth2 state; default: an empty store.
        page_size: Documents per page of a collection.
        heartrate_page_size: Samples per heart-rate page.
        rate_limit: Requests per user per `rate_window` seconds before 429 (None: no limit).
        rate_window: The rate-limit window in seconds.
        edges: "recorded" (per-endpoint date edges, `DAY_WINDOWS`) or "inclusive".
        auto_approve: Approve every authorization; False answers `error=access_denied`.
        today: The server's "today" for default windows (default: the UTC date now).
        now: The server's "now" for the default heart-rate window (default: UTC now).
    """

    base_path = ""

    def __init__(
        self,
        store: OuraStore | None = None,
        *,
        page_size: int = 50,
        heartrate_page_size: int = 1000,
        rate_limit: int | None = 5000,
        rate_window: float = 300.0,
        edges: str = "recorded",
        auto_approve: bool = True,
        today: Callable[[], date] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        if edges not in ("recorded", "inclusive"):
            raise ValueError("edges must be 'recorded' or 'inclusive'")
        if page_size < 1 or heartrate_page_size < 1:
            raise ValueError("page sizes must be >= 1")
        self.store = store if store is not None else OuraStore()
        self.page_size = page_size
        self.heartrate_page_size = heartrate_page_size
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.edges = edges
        self.auto_approve = auto_approve
        self._now = now or (lambda: datetime.now(UTC))
        self._today = today or (lambda: self._now().date())
        self._hits: dict[str, deque[float]] = {}
        self._hits_lock = threading.Lock()
        self._secret = secrets.token_bytes(16)  # signs next_token values

    # -- dispatch ------------------------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request (path relative to the mount, e.g. `/v2/usercollection/sleep`)."""
        try:
            path = request.path.rstrip("/") or "/"
            if path == "/oauth/authorize":
                return self._authorize(request)
            if path == "/oauth/token":
                return self._token(request)
            if path == "/oauth/revoke":
                return self._revoke(request)
            if path.startswith(_PREFIX):
                if request.method not in ("GET", "HEAD"):
                    raise _detail("Method Not Allowed", 405, {"Allow": "GET"})
                return self._data(request, path[len(_PREFIX) :].split("/"))
            raise _detail("Not Found", 404)
        except _Problem as problem:
            return problem.response

    # -- OAuth2 --------------------------------------------------------------------------------

    def _authorize(self, request: SandboxRequest) -> SandboxResponse:
        query = request.query
        client = self.store.client(query.get("client_id", ""))
        redirect_uri = query.get("redirect_uri")
        # RFC 6749 §4.1.2.1: with an unknown client or redirect URI nothing is redirected.
        if client is None:
            return _json(
                {"error": "invalid_client", "error_description": "Unknown client_id."}, 400
            )
        if redirect_uri is None:
            if not client.redirect_uris:
                return _json(
                    {"error": "invalid_request", "error_description": "redirect_uri is required."},
                    400,
                )
            target = client.redirect_uris[0]
        elif client.redirect_uris is not None and redirect_uri not in client.redirect_uris:
            return _json(
                {"error": "invalid_request", "error_description": "Invalid redirect_uri."}, 400
            )
        else:
            target = redirect_uri
        state = query.get("state")

        def back(**params: str) -> SandboxResponse:
            if state is not None:
                params["state"] = state
            parts = urlsplit(target)
            merged = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
            location = urlunsplit((parts.scheme, parts.netloc, parts.path, merged, ""))
            return SandboxResponse(302, {"Location": location, "Cache-Control": "no-store"})

        if query.get("response_type") != "code":
            return back(
                error="unsupported_response_type",
                error_description="Only response_type=code is supported.",
            )
        requested = frozenset(query.get("scope", "").replace("+", " ").split())
        unknown = requested - ALL_SCOPES
        if unknown:
            return back(
                error="invalid_scope", error_description=f"Unknown scope: {sorted(unknown)[0]}"
            )
        if not self.auto_approve:
            return back(error="access_denied", error_description="The user denied access.")
        accounts = self.store.accounts()
        # Sandbox-only: `account=` picks who logs in (default: the first account).
        account = query.get("account") or (accounts[0] if accounts else None)
        if account is None or account not in accounts:
            return back(error="access_denied", error_description="No such sandbox account.")
        code = self.store.create_code(
            account, requested or ALL_SCOPES, client.client_id, redirect_uri
        )
        return back(code=code)

    def _client_credentials(self, request: SandboxRequest, form: dict[str, str]) -> str:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.header("Authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                client_id, _, secret = _unb64(auth[6:].strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = secret = None
        client = self.store.client(client_id or "")
        if client is None or not secrets.compare_digest(client.client_secret, secret or ""):
            raise _Problem(_json({"error": "invalid_client"}, 401, {"Cache-Control": "no-store"}))
        return client.client_id

    def _token(self, request: SandboxRequest) -> SandboxResponse:
        if request.method != "POST":
            raise _detail("Method Not Allowed", 405, {"Allow": "POST"})
        form = request.form()
        client_id = self._client_credentials(request, form)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            if not form.get("code"):
                return self._token_error("invalid_request", "code is required.")
            result = self.store.exchange_code(form["code"], client_id, form.get("redirect_uri"))
        elif grant_type == "refresh_token":
            if not form.get("refresh_token"):
                return self._token_error("invalid_request", "refresh_token is required.")
            result = self.store.rotate_refresh(form["refresh_token"], client_id)
        else:
            return self._token_error("unsupported_grant_type", f"grant_type {grant_type!r}.")
        if isinstance(result, str):
            return self._token_error(result, "The grant is invalid, expired or already used.")
        access, refresh, grant = result
        return _json(
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": self.store.access_token_ttl,
                "refresh_token": refresh,
                "scope": " ".join(sorted(grant.scopes)),
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    @staticmethod
    def _token_error(error: str, description: str) -> SandboxResponse:
        return _json(
            {"error": error, "error_description": description},
            400,
            {"Cache-Control": "no-store"},
        )

    def _revoke(self, request: SandboxRequest) -> SandboxResponse:
        token = request.query.get("access_token") or request.form().get("token", "")
        self.store.revoke(token)
        return _json({})

    # -- data ----------------------------------------------------------------------------------

    def _bearer(self, request: SandboxRequest) -> Any:
        auth = request.header("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        challenge = {"WWW-Authenticate": "Bearer"}
        if scheme.lower() != "bearer" or not token.strip():
            raise _detail("Not authenticated", 401, challenge)
        grant = self.store.resolve(token.strip())
        if grant == "expired":
            raise _detail("Access token has expired.", 401, challenge)
        if isinstance(grant, str):
            raise _detail("Invalid access token.", 401, challenge)
        return grant

    def _count(self, account: str) -> None:
        if self.rate_limit is None:
            return
        now = time.monotonic()
        with self._hits_lock:
            hits = self._hits.setdefault(account, deque())
            while hits and hits[0] <= now - self.rate_window:
                hits.popleft()
            if len(hits) >= self.rate_limit:
                wait = max(1, int(hits[0] + self.rate_window - now + 0.999))
                raise _detail("Rate limit exceeded.", 429, {"Retry-After": str(wait)})
            hits.append(now)

    def _data(self, request: SandboxRequest, parts: list[str]) -> SandboxResponse:
        grant = self._bearer(request)
        self._count(grant.account)
        endpoint = parts[0]
        if endpoint == "personal_info" and len(parts) == 1:
            return self._personal_info(grant)
        if (
            endpoint not in ENDPOINT_SCOPES
            or len(parts) > 2
            or (len(parts) == 2 and endpoint == "heartrate")
        ):
            raise _detail("Not Found", 404)
        if ENDPOINT_SCOPES[endpoint] not in grant.scopes:
            raise _detail("Forbidden", 403)
        if not self.store.membership_active(grant.account):
            raise _detail("Forbidden", 403)
        if len(parts) == 2:
            doc = self.store.document(grant.account, endpoint, parts[1])
            if doc is None:
                raise _detail("Document not found.", 404)
            return _json(doc)
        if endpoint == "heartrate":
            return self._heartrate(request, grant.account)
        return self._collection(request, grant.account, endpoint)

    def _personal_info(self, grant: Any) -> SandboxResponse:
        info = self.store.personal_info(grant.account)
        if "personal" not in grant.scopes:
            for name in ("age", "weight", "height", "biological_sex"):
                info[name] = None
        if "email" not in grant.scopes:
            info["email"] = None
        return _json(info)

    def _next_token(self, request: SandboxRequest) -> str | None:
        token = request.query.get("next_token")
        return token or None  # the recorded clients send `next_token=` on the first page

    def _encode_token(self, bound: dict[str, Any], last: Any) -> str:
        payload = orjson.dumps({**bound, "k": last})
        mac = hashlib.blake2b(payload, key=self._secret, digest_size=8).digest()
        return _b64(mac + payload)

    def _decode_token(self, token: str, bound: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
        """The page key in a next_token; 400 if it is not ours or belongs to another query."""
        try:
            raw = _unb64(token)
            mac, payload = raw[:8], raw[8:]
            expected = hashlib.blake2b(payload, key=self._secret, digest_size=8).digest()
            if not secrets.compare_digest(mac, expected):
                raise ValueError("bad signature")
            data = orjson.loads(payload)
        except (ValueError, orjson.JSONDecodeError):
            raise _detail("Invalid next_token.", 400) from None
        if any(data.get(k) != bound.get(k) for k in keys):
            raise _detail("next_token does not belong to this query.", 400)
        return data

    def _collection(self, request: SandboxRequest, account: str, endpoint: str) -> SandboxResponse:
        token = self._next_token(request)
        bound: dict[str, Any] = {"a": account, "e": endpoint}
        window: tuple[str, str, bool, bool] | None = None
        if endpoint != "ring_configuration":
            query = request.query
            start_raw, end_raw = query.get("start_date"), query.get("end_date")
            start = (
                _as_date(_parse_moment("start_date", start_raw)) if start_raw is not None else None
            )
            end = _as_date(_parse_moment("end_date", end_raw)) if end_raw is not None else None
            if token is not None and start is None and end is None:
                # A bare next_token continues the query it came from.
                data = self._decode_token(token, bound, ("a", "e"))
                start, end = date.fromisoformat(data["s"]), date.fromisoformat(data["t"])
            if end is None:
                end = self._today()
            if start is None:
                start = end - timedelta(days=1)
            if start > end:
                raise _validation(
                    "start_date",
                    start_raw or start.isoformat(),
                    "Start date must be before end date",
                )
            bound.update(s=start.isoformat(), t=end.isoformat())
            low_in, high_in = DAY_WINDOWS[endpoint] if self.edges == "recorded" else (True, True)
            window = (start.isoformat(), end.isoformat(), low_in, high_in)
        field_name = _DAY_FIELD.get(endpoint, "day")

        def select(doc: dict[str, Any]) -> bool:
            if window is None:
                return True
            lo, hi, low_in, high_in = window
            day = str(doc.get(field_name) or "")
            return (day >= lo if low_in else day > lo) and (day <= hi if high_in else day < hi)

        after = None
        if token is not None:
            data = self._decode_token(token, bound, tuple(bound))
            after = tuple(data["k"])
        docs, last = self.store.page(account, endpoint, select, after, self.page_size)  # type: ignore[arg-type]
        next_token = self._encode_token(bound, list(last)) if last is not None else None
        return _json({"data": docs, "next_token": next_token})

    def _heartrate(self, request: SandboxRequest, account: str) -> SandboxResponse:
        query = request.query
        token = self._next_token(request)
        bound: dict[str, Any] = {"a": account, "e": "heartrate"}
        start_raw, end_raw = query.get("start_datetime"), query.get("end_datetime")
        start = (
            _as_datetime(_parse_moment("start_datetime", start_raw))
            if start_raw is not None
            else None
        )
        end = _as_datetime(_parse_moment("end_datetime", end_raw)) if end_raw is not None else None
        if token is not None and start is None and end is None:
            data = self._decode_token(token, bound, ("a", "e"))
            start = datetime.fromtimestamp(data["s"], UTC)
            end = datetime.fromtimestamp(data["t"], UTC)
        if end is None:
            end = self._now()
        if start is None:
            start = end - timedelta(days=1)
        if start > end:
            raise _validation(
                "start_datetime",
                start_raw or start.isoformat(),
                "Start datetime must be before end datetime",
            )
        if end - start > _HEARTRATE_MAX_WINDOW:
            raise _detail("Start and end datetime must be at most 30 days apart.", 400)
        lo, hi = math.ceil(start.timestamp()), int(end.timestamp())
        if hi < end.timestamp():
            hi += 1  # [start, end): a fractional end still includes the whole second before it
        bound.update(s=lo, t=hi)
        after = None
        if token is not None:
            data = self._decode_token(token, bound, tuple(bound))
            after = (int(data["k"][0]), str(data["k"][1]))
        rows = self.store.heartrate_slice(account, lo, hi, after, self.heartrate_page_size + 1)
        more = len(rows) > self.heartrate_page_size
        rows = rows[: self.heartrate_page_size]
        next_token = self._encode_token(bound, list(rows[-1][0])) if more else None
        return _json(
            {"data": [_heartrate_row(k, bpm) for k, bpm in rows], "next_token": next_token}
        )


def mount_demo(
    server: SandboxServer, accounts: list[str], since: str, now: datetime
) -> dict[str, str]:
    """Mount Oura with a generated person per account from `since` (YYYY-MM; at most
    `DEMO_DAYS` back) to `now`; returns the environment that points the pipeline at it.

    Each account gets an OAuth token pair issued by the sandbox, in a token directory of
    its own (removed when this process exits), so the pipeline reads through the same
    token files, refreshes and rotation as with the real API; `lakehouse auth oura` works
    against the sandbox's client too.
    """
    import atexit
    import shutil
    import tempfile

    from spark_jobs.oura.auth import TokenPair, TokenStore
    from spark_jobs.oura.source import SOURCE

    first = date.fromisoformat(SOURCE.demo_start(since, now))
    store = OuraStore()
    token_dir = Path(tempfile.mkdtemp(prefix="lakehouse-sandbox-oura-"))
    atexit.register(shutil.rmtree, token_dir, ignore_errors=True)
    for account in accounts:
        store.add_generated_person(account, first, now.date())
        access, refresh = store.issue_token(account)
        TokenStore(token_dir / f"oura_{account}.json", account).save(
            TokenPair(
                access, refresh, datetime.now(UTC) + timedelta(hours=23), " ".join(ALL_SCOPES)
            )
        )
    server.mount("oura", OuraApp(store))
    base = server.base_url("oura")
    return {
        "OURA_API_BASE": base,
        "OURA_AUTHORIZE_URL": f"{base}/oauth/authorize",
        "OURA_TOKEN_URL": f"{base}/oauth/token",
        "OURA_CLIENT_ID": DEFAULT_CLIENT_ID,
        "OURA_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "OURA_TOKEN_DIR": str(token_dir),
        "OURA_PERSONAL_ACCESS_TOKEN": "",  # a real token in .env would be refused here
        "OURA_ACCOUNTS": ",".join(accounts),
    }
