"""The WHOOP developer API v2 and its OAuth2 server (Ory Hydra) as a sandbox source app.

Mounted by the server as "whoop" (`base_path` ""), so the client's bases are
`http://127.0.0.1:PORT/whoop/developer` (API) and `http://127.0.0.1:PORT/whoop/oauth/oauth2`
(OAuth2), and paths arrive as the real ones:

    GET    /oauth/oauth2/auth?response_type=code&client_id=..&redirect_uri=..&scope=..&state=..
           auto-approves: 302 to redirect_uri?code=..&scope=..&state=..
    POST   /oauth/oauth2/token    grant_type=authorization_code | refresh_token (form; client
                                  credentials in the form or HTTP Basic)
    POST   /oauth/oauth2/revoke   token=.. (RFC 7009)
    GET    /developer/v2/cycle, /cycle/{cycleId}, /cycle/{cycleId}/sleep, /cycle/{cycleId}/recovery
    GET    /developer/v2/recovery
    GET    /developer/v2/activity/sleep, /activity/sleep/{sleepId}
    GET    /developer/v2/activity/workout, /activity/workout/{workoutId}
    GET    /developer/v2/user/profile/basic, /developer/v2/user/measurement/body
    DELETE /developer/v2/user/access               revokes the token's grant (204)
    GET    /developer/v1/activity-mapping/{v1Id}   v1 activity id -> v2 UUID (still in the spec)
    *      /developer/v1/...                       404: the v1 API is no longer supported

    store = WhoopStore.with_generated_person("demo_player", date(2025, 1, 1), date(2025, 6, 30))
    server.mount("whoop", WhoopApp(store))
    access, refresh = store.issue_token("demo_player")      # or the OAuth2 flow

What is known of the real service is WHOOP's published OpenAPI v2 spec and its developer
docs (developer.whoop.com); where they are silent the sandbox makes a choice and says so here.

Collections take `limit` (1..25, default 10), `start` (inclusive), `end` (exclusive, default
now) and `nextToken`; a record is in range when its `start` is (a recovery: its cycle's);
records come newest first (`start` descending, ties by id descending) as
`{"records": [...], "next_token": ...}`, `next_token` null on the last page. A next token is
signed and bound to its account, collection, `start` and `end`: sent with other values
(or forged) it is a 400; sent without `start` and `end` it continues its own query.
Unknown query parameters are ignored (as a real HTTP API would), so a client that sends
`next_token=` instead of `nextToken=` sees the first page again.

Errors of the API are `{"error": code, "message": text}` (WHOOP documents only
`{"error": "deactivated_user"}`): 400 for a bad `limit`, date-time or next token (or a
non-integer cycle id); 401 with `WWW-Authenticate: Bearer` for a missing, unknown, expired
or revoked token; 403 when the token lacks the path's scope (`PATH_SCOPES`); 404 for unknown
ids (a sleep or workout id that is not a UUID, e.g. a v1 integer, is unknown) and for v1.

Rate limits are per client app: `rate_limit_minute` per sliding 60 s and `rate_limit_day`
per 86,400 s. Every `/developer` response carries `X-RateLimit-Limit` (e.g.
`100, 100;window=60, 10000;window=86400`; the first number is the limit of the window
closest to running out), `X-RateLimit-Remaining` (requests left in that window) and
`X-RateLimit-Reset` (whole seconds until it frees a request); over a limit: 429 with those
headers and no Retry-After (WHOOP documents none). Refused requests are not counted;
requests without a known token count against an anonymous bucket.

OAuth2 follows Hydra: `state` must have at least 8 characters (`error=invalid_state`);
codes are single-use and live 10 minutes (a replayed code revokes what it issued); a
refresh token is issued only with the `offline` scope; refresh tokens rotate and a refresh
also revokes the grant's previous access tokens; presenting a used refresh token again
revokes the whole grant (its newest refresh token and access tokens), which is how two
processes refreshing at once log an account out.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import copy
import hashlib
import math
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from spark_jobs.sandbox.server import SandboxRequest, SandboxResponse, SandboxServer
from spark_jobs.sandbox.whoop_generator import RESOURCES, iso_ms, user_id

__all__ = [
    "ALL_SCOPES",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEMO_DAYS",
    "MAX_LIMIT",
    "PATH_SCOPES",
    "RESOURCES",
    "WhoopApp",
    "WhoopStore",
    "mount_demo",
]

DEFAULT_CLIENT_ID = "sandbox-whoop-client"
DEFAULT_CLIENT_SECRET = "sandbox-whoop-secret"
DEMO_DAYS = 150
MAX_LIMIT = 25
DEFAULT_LIMIT = 10

ALL_SCOPES = (
    "offline",
    "read:profile",
    "read:body_measurement",
    "read:cycles",
    "read:sleep",
    "read:recovery",
    "read:workout",
)
"""Every scope the authorize endpoint grants; `offline` is what gets a refresh token."""

PATH_SCOPES: dict[str, str] = {
    "cycle": "read:cycles",
    "cycle/{id}": "read:cycles",
    "cycle/{id}/sleep": "read:sleep",
    "cycle/{id}/recovery": "read:recovery",
    "recovery": "read:recovery",
    "activity/sleep": "read:sleep",
    "activity/sleep/{id}": "read:sleep",
    "activity/workout": "read:workout",
    "activity/workout/{id}": "read:workout",
    "user/profile/basic": "read:profile",
    "user/measurement/body": "read:body_measurement",
}
"""The scope each `/developer/v2/...` route needs (`user/access` needs none)."""

_COLLECTION_PATHS = {
    "cycle": "cycle",
    "recovery": "recovery",
    "activity/sleep": "sleep",
    "activity/workout": "workout",
}
_KEY_FIELD = {"cycle": "id", "recovery": "cycle_id", "sleep": "id", "workout": "id"}
_CODE_TTL = 600.0  # Hydra's default authorization code lifespan
_JSON = "application/json"
_ANONYMOUS = "\x00anonymous"  # rate-limit bucket of requests without a known token


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _epoch_ms(text: Any) -> int:
    """Milliseconds since the epoch of an API timestamp (`...Z`)."""
    moment = datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ---------------------------------------------------------------------------------------------
# The store
# ---------------------------------------------------------------------------------------------


@dataclass
class _Account:
    name: str
    profile: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    records: dict[str, dict[Any, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in RESOURCES}
    )
    ordered: dict[str, list[tuple[tuple[int, Any], Any, Any]]] = field(default_factory=dict)
    pending: dict[tuple[str, Any], int] = field(default_factory=dict)
    requests: int = 0


@dataclass
class _Client:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...] | None  # None: any redirect URI is accepted


@dataclass
class _Grant:
    """One authorization (a code exchange or `issue_token`) and every token it issued."""

    grant_id: str
    account: str
    scopes: frozenset[str]
    client_id: str
    access: dict[str, float] = field(default_factory=dict)  # token -> expires at
    refresh: str | None = None  # the live refresh token
    used_refresh: set[str] = field(default_factory=set)
    revoked: bool = False


@dataclass
class _Code:
    account: str
    scopes: frozenset[str]
    client_id: str
    redirect_uri: str | None
    expires_at: float
    grant_id: str | None = None  # set once exchanged


class WhoopStore:
    """In-memory WHOOP members, their records and the OAuth2 state; thread-safe.

    Records are kept per account and resource (`cycle`, `recovery`, `sleep`, `workout`) by
    their key (`id`; a recovery's `cycle_id`) as deep copies, and served newest first.

    Args:
        access_token_ttl: Seconds an access token lives (`expires_in`).
        clock: Wall-clock seconds, for token expiry and rescoring times (tests can fake it).
        client_id: The pre-registered OAuth2 application (`register_client` adds more).
        client_secret: Its secret.
        redirect_uris: Its registered redirect URIs (None: any is accepted).
    """

    def __init__(
        self,
        *,
        access_token_ttl: int = 3600,
        clock: Callable[[], float] = time.time,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        redirect_uris: Iterable[str] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._accounts: dict[str, _Account] = {}
        self._clients: dict[str, _Client] = {}
        self._codes: dict[str, _Code] = {}
        self._grants: dict[str, _Grant] = {}
        self._access: dict[str, str] = {}  # access token -> grant id
        self._refresh: dict[str, str] = {}  # live or used refresh token -> grant id
        self.access_token_ttl = access_token_ttl
        self.clock = clock
        self.register_client(client_id, client_secret, redirect_uris)

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def with_generated_person(
        cls,
        account: str,
        first: date,
        last: date,
        *,
        seed: int = 7,
        until: datetime | None = None,
        **kwargs: Any,
    ) -> WhoopStore:
        """A store holding one fictional member (see `whoop_generator.generate_person`).

        Args:
            account: The account (and person) name.
            first: First day.
            last: Last day, inclusive.
            seed: Generator seed.
            until: Leave out what would not be uploaded yet at this instant.
            **kwargs: `WhoopStore` constructor arguments.
        """
        store = cls(**kwargs)
        store.add_generated_person(account, first, last, seed=seed, until=until)
        return store

    def add_generated_person(
        self,
        account: str,
        first: date,
        last: date,
        *,
        seed: int = 7,
        until: datetime | None = None,
    ) -> None:
        """Add (or extend) an account with a generated member's records for first..last.

        The newest main sleep and its recovery are PENDING_SCORE on their first read.
        """
        from spark_jobs.sandbox.whoop_generator import generate_person

        person = generate_person(account, first, last, seed=seed, until=until)
        with self._lock:
            self.add_account(
                account, profile=person["profile"], body_measurement=person["body_measurement"]
            )
            for resource in RESOURCES:
                self._add(account, resource, person[resource], copy_records=False)
            for resource, key in person["pending"]:
                self.set_pending(account, resource, key)

    def add_fixtures(self, account: str, directory: str | Path) -> None:
        """Load collection bodies `<resource>.json` (`{"records": [...]}`) of a folder, and
        `profile_basic.json` / `body_measurement.json` when present."""
        folder = Path(directory)

        def load(name: str) -> Any:
            path = folder / name
            return orjson.loads(path.read_bytes()) if path.exists() else None

        self.add_account(
            account,
            profile=load("profile_basic.json"),
            body_measurement=load("body_measurement.json"),
        )
        for resource in RESOURCES:
            body = load(f"{resource}.json")
            if body is not None:
                self.add_records(account, resource, body["records"])

    def add_account(
        self,
        account: str,
        profile: Mapping[str, Any] | None = None,
        body_measurement: Mapping[str, Any] | None = None,
    ) -> None:
        """Create an account (idempotent); given documents replace the served ones."""
        with self._lock:
            entry = self._accounts.setdefault(account, _Account(account))
            if profile is not None:
                entry.profile = copy.deepcopy(dict(profile))
            if body_measurement is not None:
                entry.body = copy.deepcopy(dict(body_measurement))

    def accounts(self) -> list[str]:
        """Every account name, in the order they were added."""
        with self._lock:
            return list(self._accounts)

    # -- records -------------------------------------------------------------------------------

    def add_record(self, account: str, resource: str, record: Mapping[str, Any]) -> None:
        """Insert or replace one record by its key (late upload, rescoring).

        Raises:
            KeyError: Unknown resource.
            ValueError: No key, or a sleep/workout id (a recovery's `sleep_id`) that is not a
                UUID (v1 records have integer ids; v2 serves none of them).
        """
        self._add(account, resource, [record], copy_records=True)

    def add_records(self, account: str, resource: str, records: Iterable[Mapping[str, Any]]) -> int:
        """`add_record` for many; returns how many."""
        return self._add(account, resource, records, copy_records=True)

    def _add(
        self,
        account: str,
        resource: str,
        records: Iterable[Mapping[str, Any]],
        copy_records: bool,
    ) -> int:
        resource = self._resource(resource)
        count = 0
        with self._lock:
            entry = self._accounts.setdefault(account, _Account(account))
            bucket = entry.records[resource]
            for record in records:
                key = self._check(resource, record)
                bucket[key] = copy.deepcopy(dict(record)) if copy_records else dict(record)
                count += 1
            entry.ordered.clear()  # a cycle's start orders its recovery too
        return count

    @staticmethod
    def _check(resource: str, record: Mapping[str, Any]) -> Any:
        name = _KEY_FIELD[resource]
        key = record.get(name)
        if resource in ("cycle", "recovery"):
            if not isinstance(key, int) or isinstance(key, bool):
                raise ValueError(f"a {resource} needs an integer {name!r}, got {key!r}")
        elif not _is_uuid(key):
            raise ValueError(f"a v2 {resource} id is a UUID, got {key!r} (a v1 record?)")
        if resource == "recovery" and not _is_uuid(record.get("sleep_id")):
            raise ValueError(f"a v2 recovery's sleep_id is a UUID, got {record.get('sleep_id')!r}")
        if resource != "recovery" and "start" not in record:
            raise ValueError(f"a {resource} needs a start")
        return key

    def update_record(
        self, account: str, resource: str, key: Any, **changes: Any
    ) -> dict[str, Any]:
        """Change fields of one record and bump its `updated_at` (unless given); returns it.

        Raises:
            KeyError: Unknown account, resource or record.
        """
        resource = self._resource(resource)
        with self._lock:
            entry = self._account(account)
            record = entry.records[resource][self._key(resource, key)]
            before = record.get("updated_at")
            record.update(copy.deepcopy(changes))
            if "updated_at" not in changes:
                record["updated_at"] = self._later(before)
            entry.ordered.clear()
            return copy.deepcopy(record)

    def delete_record(self, account: str, resource: str, key: Any) -> bool:
        """Remove one record (it vanishes from the API); whether it existed."""
        resource = self._resource(resource)
        with self._lock:
            entry = self._account(account)
            key = self._key(resource, key)
            found = entry.records[resource].pop(key, None) is not None
            entry.pending.pop((resource, key), None)
            entry.ordered.clear()
            return found

    def records(self, account: str, resource: str) -> list[dict[str, Any]]:
        """A deep copy of a collection as stored, newest first ([] when empty).

        Raises:
            KeyError: Unknown account or resource.
        """
        resource = self._resource(resource)
        with self._lock:
            entry = self._account(account)
            bucket = entry.records[resource]
            return [copy.deepcopy(bucket[key]) for _, key, _ in self._ordered(entry, resource)]

    def record(self, account: str, resource: str, key: Any) -> dict[str, Any] | None:
        """One record as stored (no pending view), or None."""
        resource = self._resource(resource)
        with self._lock:
            found = self._account(account).records[resource].get(self._key(resource, key))
            return copy.deepcopy(found) if found is not None else None

    def set_pending(self, account: str, resource: str, key: Any, reads: int = 1) -> None:
        """Serve a record as `PENDING_SCORE` (no `score`) in its next `reads` responses, then
        as stored (SCORED with its score, or UNSCORABLE) with an `updated_at` later than
        before: WHOOP finished evaluating it.

        Raises:
            KeyError: Unknown account, resource or record.
            ValueError: `reads` < 0 (0 clears the pending state).
        """
        if reads < 0:
            raise ValueError("reads must be >= 0")
        resource = self._resource(resource)
        with self._lock:
            entry = self._account(account)
            key = self._key(resource, key)
            if key not in entry.records[resource]:
                raise KeyError(f"no {resource} {key!r} in account {account!r}")
            if reads:
                entry.pending[(resource, key)] = reads
            else:
                entry.pending.pop((resource, key), None)

    def pending(self, account: str) -> dict[tuple[str, Any], int]:
        """The records served as PENDING_SCORE and how many reads they have left."""
        with self._lock:
            return dict(self._account(account).pending)

    def profile(self, account: str) -> dict[str, Any]:
        """The account's basic profile (a fictional one when none was set)."""
        with self._lock:
            entry = self._account(account)
            if entry.profile is not None:
                return copy.deepcopy(entry.profile)
        return {
            "user_id": user_id(account),
            "email": f"{account.lower()}@example.com",
            "first_name": account,
            "last_name": "Sandbox",
        }

    def body_measurement(self, account: str) -> dict[str, Any]:
        """The account's body measurement (average values when none was set)."""
        with self._lock:
            entry = self._account(account)
            if entry.body is not None:
                return copy.deepcopy(entry.body)
        return {"height_meter": 1.75, "weight_kilogram": 72.5, "max_heart_rate": 190}

    def request_count(self, account: str | None = None) -> int:
        """Authenticated `/developer` requests served (for one account)."""
        with self._lock:
            entries = self._accounts.values() if account is None else [self._account(account)]
            return sum(entry.requests for entry in entries)

    # -- serving (the app calls these) ---------------------------------------------------------

    def count_request(self, account: str) -> None:
        with self._lock:
            if account in self._accounts:
                self._accounts[account].requests += 1

    def page(
        self,
        account: str,
        resource: str,
        low_ms: int | None,
        high_ms: int,
        after: tuple[int, Any] | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], tuple[int, Any] | None]:
        """Up to `limit` records with low <= start < high, newest first, strictly older than
        the sort key `after`; and the last key served when more follow (else None)."""
        resource = self._resource(resource)
        with self._lock:
            entry = self._account(account)
            rows = self._ordered(entry, resource)
            # `rows` is newest first; bisect on the negated order.
            index = 0
            if after is not None:
                index = bisect.bisect_right(rows, _descending(after), key=lambda r: r[2])
            picked: list[tuple[tuple[int, Any], Any]] = []
            more = False
            for sort_key, key, _ in rows[index:]:
                start = sort_key[0]
                if start >= high_ms:
                    continue
                if low_ms is not None and start < low_ms:
                    break  # everything after is older still
                if len(picked) == limit:
                    more = True
                    break
                picked.append((sort_key, key))
            served = [self._serve(entry, resource, key) for _, key in picked]
            return served, picked[-1][0] if more and picked else None

    def served(self, account: str, resource: str, key: Any) -> dict[str, Any] | None:
        """One record as the API serves it (a pending read counts), or None."""
        resource = self._resource(resource)
        with self._lock:
            entry = self._account(account)
            try:
                key = self._key(resource, key)
            except (TypeError, ValueError):
                return None
            if key not in entry.records[resource]:
                return None
            return self._serve(entry, resource, key)

    def sleep_of_cycle(self, account: str, cycle_id: int) -> dict[str, Any] | None:
        """The main sleep (not a nap) that starts a cycle, as served, or None."""
        with self._lock:
            entry = self._account(account)
            for _, key, _ in self._ordered(entry, "sleep"):
                record = entry.records["sleep"][key]
                if record.get("cycle_id") == cycle_id and not record.get("nap"):
                    return self._serve(entry, "sleep", key)
            return None

    def _serve(self, entry: _Account, resource: str, key: Any) -> dict[str, Any]:
        record = entry.records[resource][key]
        left = entry.pending.get((resource, key))
        if not left:
            return copy.deepcopy(record)
        view = copy.deepcopy(record)
        view["score_state"] = "PENDING_SCORE"
        view.pop("score", None)
        if left == 1:
            del entry.pending[(resource, key)]
            record["updated_at"] = self._later(record.get("updated_at"))  # scored just now
        else:
            entry.pending[(resource, key)] = left - 1
        return view

    def _later(self, before: Any) -> str:
        """`updated_at` for a change made now: the clock, but after `before`."""
        now_ms = math.floor(self.clock() * 1000)
        if isinstance(before, str):
            with contextlib.suppress(ValueError):
                now_ms = max(now_ms, _epoch_ms(before) + 1000)
        return iso_ms(datetime.fromtimestamp(now_ms / 1000, UTC))

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

    def client(self, client_id: str) -> _Client | None:
        """A registered application, or None."""
        with self._lock:
            return self._clients.get(client_id)

    def issue_token(
        self,
        account: str,
        scopes: Iterable[str] = ALL_SCOPES,
        client_id: str = DEFAULT_CLIENT_ID,
    ) -> tuple[str, str | None]:
        """A new grant's access token and refresh token (None without `offline`), as the
        token endpoint would issue them.

        Raises:
            KeyError: Unknown account.
        """
        with self._lock:
            self._account(account)
            grant = self._new_grant(account, frozenset(scopes), client_id)
            return self._issue(grant)

    def expire_access_tokens(self, account: str | None = None) -> int:
        """Make every live access token (of one account) expired now; returns how many.
        Refresh tokens stay usable."""
        now = self.clock()
        count = 0
        with self._lock:
            for grant in self._grants.values():
                if grant.revoked or (account is not None and grant.account != account):
                    continue
                for token, expires in grant.access.items():
                    if expires > now:
                        grant.access[token] = now - 1
                        count += 1
        return count

    def revoke_grant(self, token: str) -> bool:
        """Revoke the whole grant behind an access or refresh token; whether there was one."""
        with self._lock:
            grant_id = self._access.get(token) or self._refresh.get(token)
            if grant_id is None:
                return False
            self._revoke(self._grants[grant_id])
            return True

    def revoke_token(self, token: str) -> None:
        """RFC 7009 as Hydra does it: a refresh token takes its grant along, an access
        token only itself."""
        with self._lock:
            if token in self._refresh:
                self.revoke_grant(token)
            elif (grant_id := self._access.pop(token, None)) is not None:
                self._grants[grant_id].access.pop(token, None)

    def resolve(self, token: str) -> tuple[_Grant | None, str]:
        """The grant behind an access token and "ok", "expired" or "invalid" (grant None)."""
        with self._lock:
            grant_id = self._access.get(token)
            if grant_id is None:
                return None, "invalid"
            grant = self._grants[grant_id]
            if grant.access[token] <= self.clock():
                return grant, "expired"
            return grant, "ok"

    def create_code(
        self,
        account: str,
        scopes: frozenset[str],
        client_id: str,
        redirect_uri: str | None,
    ) -> str:
        """A single-use authorization code (valid 10 minutes)."""
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(
                account, scopes, client_id, redirect_uri, self.clock() + _CODE_TTL
            )
        return code

    def exchange_code(
        self, code: str, client_id: str, redirect_uri: str | None
    ) -> tuple[str, str | None, _Grant] | str:
        """Trade a code for tokens, or return the OAuth2 error code."""
        with self._lock:
            entry = self._codes.get(code)
            if entry is None or entry.client_id != client_id:
                return "invalid_grant"
            if entry.grant_id is not None:
                # Replayed code: refuse, and revoke what it issued (RFC 6749 §4.1.2).
                self._revoke(self._grants[entry.grant_id])
                return "invalid_grant"
            if entry.expires_at < self.clock():
                return "invalid_grant"
            if entry.redirect_uri is not None and entry.redirect_uri != redirect_uri:
                return "invalid_grant"
            grant = self._new_grant(entry.account, entry.scopes, client_id)
            entry.grant_id = grant.grant_id
            access, refresh = self._issue(grant)
            return access, refresh, grant

    def rotate_refresh(
        self, refresh: str, client_id: str, scopes: frozenset[str] | None = None
    ) -> tuple[str, str | None, _Grant] | str:
        """Trade a refresh token for a new pair, or return the OAuth2 error code.

        The old refresh token and the grant's access tokens die. A refresh token that was
        already used revokes the whole grant. `scopes` (the form's `scope`) must be a
        subset of the grant's; the new tokens keep the grant's scopes.
        """
        with self._lock:
            grant_id = self._refresh.get(refresh)
            if grant_id is None:
                return "invalid_grant"
            grant = self._grants[grant_id]
            if grant.client_id != client_id:
                return "invalid_grant"
            if grant.revoked:
                return "invalid_grant"
            if refresh in grant.used_refresh:
                self._revoke(grant)  # reuse: someone else holds the newer token
                return "invalid_grant"
            if scopes is not None and not scopes <= grant.scopes:
                return "invalid_scope"
            grant.used_refresh.add(refresh)
            grant.refresh = None
            for token in grant.access:
                self._access.pop(token, None)
            grant.access.clear()
            access, new_refresh = self._issue(grant)
            return access, new_refresh, grant

    def _new_grant(self, account: str, scopes: frozenset[str], client_id: str) -> _Grant:
        grant = _Grant(secrets.token_hex(8), account, scopes, client_id)
        self._grants[grant.grant_id] = grant
        return grant

    def _issue(self, grant: _Grant) -> tuple[str, str | None]:
        access = secrets.token_urlsafe(32)
        grant.access[access] = self.clock() + self.access_token_ttl
        self._access[access] = grant.grant_id
        refresh = None
        if "offline" in grant.scopes:
            refresh = secrets.token_urlsafe(32)
            grant.refresh = refresh
            self._refresh[refresh] = grant.grant_id
        return access, refresh

    def _revoke(self, grant: _Grant) -> None:
        grant.revoked = True
        for token in grant.access:
            self._access.pop(token, None)
        grant.access.clear()
        grant.refresh = None  # used tokens stay mapped, so replaying them stays refused

    # -- internals -----------------------------------------------------------------------------

    def _account(self, account: str) -> _Account:
        try:
            return self._accounts[account]
        except KeyError:
            raise KeyError(f"unknown WHOOP account {account!r}") from None

    @staticmethod
    def _resource(resource: str) -> str:
        if resource not in RESOURCES:
            raise KeyError(f"unknown WHOOP resource {resource!r}; expected one of {RESOURCES}")
        return resource

    @staticmethod
    def _key(resource: str, key: Any) -> Any:
        if resource in ("cycle", "recovery"):
            return int(key)
        return str(key)

    def _ordered(self, entry: _Account, resource: str) -> list[tuple[tuple[int, Any], Any, Any]]:
        """(sort key, record key, descending key) newest first; cached until a change."""
        cached = entry.ordered.get(resource)
        if cached is None:
            bucket = entry.records[resource]
            cycles = entry.records["cycle"]
            keyed = []
            for key, record in bucket.items():
                if resource == "recovery":
                    cycle = cycles.get(key)
                    moment = cycle["start"] if cycle is not None else record.get("created_at")
                else:
                    moment = record["start"]
                sort_key = (_epoch_ms(moment), key)
                keyed.append((sort_key, key, _descending(sort_key)))
            keyed.sort(key=lambda row: row[2])
            entry.ordered[resource] = cached = keyed
        return cached


def _descending(sort_key: tuple[int, Any]) -> tuple[int, Any]:
    """A key whose ascending order is `sort_key`'s descending order (ids: int or UUID str)."""
    start, key = sort_key
    if isinstance(key, int):
        return (-start, -key)
    return (-start, tuple(-b for b in key.encode()))


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
    merged = {"Content-Type": _JSON, **(headers or {})}
    return SandboxResponse(status=status, headers=merged, body=orjson.dumps(payload))


_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    429: "too_many_requests",
}


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> _Problem:
    return _Problem(_json({"error": _ERROR_CODES[status], "message": message}, status, headers))


def _parse_moment(name: str, raw: str) -> int:
    """A `start`/`end` query value (ISO 8601 date-time with an offset) as epoch ms, or 400."""
    text = raw.strip()
    try:
        if "T" not in text.upper():
            raise ValueError("no time")
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            raise ValueError("no offset")
    except ValueError:
        raise _error(
            400, f"{name} must be an ISO 8601 date-time with an offset, e.g. 2024-01-01T00:00:00Z"
        ) from None
    return math.floor(moment.timestamp() * 1000)


class _RateLimiter:
    """Sliding windows per client app: (limit, seconds) each; thread-safe."""

    def __init__(self, windows: tuple[tuple[int, int], ...], clock: Callable[[], float]) -> None:
        self.windows = windows
        self.clock = clock
        self._hits: dict[str, list[deque[float]]] = {}
        self._lock = threading.Lock()

    def hit(self, bucket: str) -> tuple[bool, dict[str, str]]:
        """Count one request (unless over a limit): whether it may pass, and the headers."""
        now = self.clock()
        with self._lock:
            queues = self._hits.setdefault(bucket, [deque() for _ in self.windows])
            for (_, seconds), queue in zip(self.windows, queues, strict=True):
                while queue and queue[0] <= now - seconds:
                    queue.popleft()
            allowed = all(
                len(q) < limit for (limit, _), q in zip(self.windows, queues, strict=True)
            )
            if allowed:
                for queue in queues:
                    queue.append(now)
            states = []
            for (limit, seconds), queue in zip(self.windows, queues, strict=True):
                remaining = max(0, limit - len(queue))
                reset = math.ceil(queue[0] + seconds - now) if queue else 0
                states.append((remaining, reset, limit))
        # The window closest to running out; when several are exhausted, the one that frees
        # last (the client must wait for all of them).
        exhausted = [s for s in states if s[0] == 0]
        remaining, reset, limit = (
            max(exhausted, key=lambda s: s[1]) if exhausted else min(states, key=lambda s: s[0])
        )
        policies = ", ".join(f"{lim};window={sec}" for lim, sec in self.windows)
        return allowed, {
            "X-RateLimit-Limit": f"{limit}, {policies}",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(max(0, reset)),
        }


class WhoopApp:
    """Source app for the WHOOP API v2 and its OAuth2 endpoints, backed by a `WhoopStore`.

    Args:
        store: The records and OAuth2 state; default: an empty store.
        rate_limit_minute: Requests per client app per sliding 60 s.
        rate_limit_day: Requests per client app per sliding 86,400 s.
        auto_approve: Approve every authorization; False answers `error=access_denied`.
        now: The server's "now", the default `end` of a collection (default: UTC now).
        clock: Seconds for the rate-limit windows (default: `time.monotonic`).
    """

    base_path = ""

    def __init__(
        self,
        store: WhoopStore | None = None,
        *,
        rate_limit_minute: int = 100,
        rate_limit_day: int = 10_000,
        auto_approve: bool = True,
        now: Callable[[], datetime] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_limit_minute < 1 or rate_limit_day < 1:
            raise ValueError("rate limits must be >= 1")
        self.store = store if store is not None else WhoopStore()
        self.rate_limit_minute = rate_limit_minute
        self.rate_limit_day = rate_limit_day
        self.auto_approve = auto_approve
        self._now = now or (lambda: datetime.now(UTC))
        self._limiter = _RateLimiter(((rate_limit_minute, 60), (rate_limit_day, 86_400)), clock)
        self._secret = secrets.token_bytes(16)  # signs next tokens

    # -- dispatch ------------------------------------------------------------------------------

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request (path relative to the mount, e.g. `/developer/v2/cycle`)."""
        path = request.path.rstrip("/") or "/"
        try:
            if path == "/oauth/oauth2/auth":
                return self._authorize(request)
            if path == "/oauth/oauth2/token":
                return self._token(request)
            if path == "/oauth/oauth2/revoke":
                return self._revoke(request)
            if path == "/developer" or path.startswith("/developer/"):
                return self._developer(request, path[len("/developer") :])
            raise _error(404, "Not Found")
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
                {
                    "error": "invalid_client",
                    "error_description": "Client authentication failed (the client_id is unknown).",
                },
                400,
            )
        if redirect_uri is None:
            if not client.redirect_uris:
                return _json(
                    {"error": "invalid_request", "error_description": "redirect_uri is required."},
                    400,
                )
            target = client.redirect_uris[0]
        elif client.redirect_uris and redirect_uri not in client.redirect_uris:
            return _json(
                {
                    "error": "invalid_request",
                    "error_description": "The 'redirect_uri' parameter does not match any of "
                    "the OAuth 2.0 Client's pre-registered redirect urls.",
                },
                400,
            )
        else:
            target = redirect_uri
        state = query.get("state", "")

        def back(**params: str) -> SandboxResponse:
            if state:
                params["state"] = state
            parts = urlsplit(target)
            merged = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
            location = urlunsplit((parts.scheme, parts.netloc, parts.path, merged, ""))
            return SandboxResponse(302, {"Location": location, "Cache-Control": "no-store"})

        if query.get("response_type") != "code":
            return back(
                error="unsupported_response_type",
                error_description="The authorization server does not support obtaining a "
                "token using this method (only response_type=code).",
            )
        requested = query.get("scope", "").replace("+", " ").split()
        unknown = [scope for scope in requested if scope not in ALL_SCOPES]
        if unknown:
            return back(
                error="invalid_scope",
                error_description=f"The requested scope is invalid, unknown, or malformed: "
                f"{unknown[0]}",
            )
        if len(state) < 8:
            return back(
                error="invalid_state",
                error_description="The state is missing or does not have enough characters "
                "and is therefore considered too weak.",
            )
        if not self.auto_approve:
            return back(
                error="access_denied",
                error_description="The resource owner or authorization server denied the request.",
            )
        accounts = self.store.accounts()
        # Sandbox-only: `account=` picks who logs in (default: the first account).
        account = query.get("account") or (accounts[0] if accounts else None)
        if account is None or account not in accounts:
            return back(error="access_denied", error_description="No such sandbox account.")
        granted = frozenset(requested)
        code = self.store.create_code(account, granted, client.client_id, redirect_uri)
        return back(code=code, scope=_scope_text(granted))

    def _client_credentials(self, request: SandboxRequest, form: dict[str, str]) -> str:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.header("Authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                client_id, _, secret = _unb64(auth[6:].strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = secret = None
        client = self.store.client(client_id or "")
        if client is None or not secrets.compare_digest(
            client.client_secret.encode(), (secret or "").encode()
        ):
            raise _Problem(
                _json(
                    {
                        "error": "invalid_client",
                        "error_description": "Client authentication failed (e.g., unknown "
                        "client, no client authentication included, or unsupported "
                        "authentication method).",
                    },
                    401,
                    {"Cache-Control": "no-store", "Pragma": "no-cache"},
                )
            )
        return client.client_id

    def _token(self, request: SandboxRequest) -> SandboxResponse:
        if request.method != "POST":
            raise _Problem(
                _json(
                    {"error": "invalid_request", "error_description": "Use POST."},
                    405,
                    {"Allow": "POST"},
                )
            )
        form = request.form()
        client_id = self._client_credentials(request, form)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            if not form.get("code"):
                return _token_error("invalid_request", "The code parameter is missing.")
            result = self.store.exchange_code(form["code"], client_id, form.get("redirect_uri"))
        elif grant_type == "refresh_token":
            if not form.get("refresh_token"):
                return _token_error("invalid_request", "The refresh_token parameter is missing.")
            asked = form.get("scope")
            scopes = frozenset(asked.split()) if asked and asked.strip() else None
            result = self.store.rotate_refresh(form["refresh_token"], client_id, scopes)
        else:
            return _token_error(
                "unsupported_grant_type",
                f"The authorization grant type {grant_type!r} is not supported.",
            )
        if result == "invalid_scope":
            return _token_error("invalid_scope", "The requested scope was not granted.")
        if isinstance(result, str):
            return _token_error(
                "invalid_grant",
                "The provided authorization grant (e.g., authorization code, refresh token) "
                "is invalid, expired, revoked, does not match the redirection URI used in the "
                "authorization request, or was issued to another client.",
            )
        access, refresh, grant = result
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": self.store.access_token_ttl,
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        body.update({"scope": _scope_text(grant.scopes), "token_type": "bearer"})
        return _json(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _revoke(self, request: SandboxRequest) -> SandboxResponse:
        if request.method != "POST":
            raise _error(405, "Use POST.", {"Allow": "POST"})
        form = request.form()
        self._client_credentials(request, form)
        self.store.revoke_token(form.get("token", ""))
        return SandboxResponse(200, {"Cache-Control": "no-store"})

    # -- the API -------------------------------------------------------------------------------

    def _developer(self, request: SandboxRequest, path: str) -> SandboxResponse:
        """Everything under /developer: rate limit, then auth, then the route."""
        token = _bearer_token(request)
        grant, status = self.store.resolve(token) if token else (None, "invalid")
        bucket = grant.client_id if grant is not None else _ANONYMOUS
        allowed, limits = self._limiter.hit(bucket)
        try:
            if not allowed:
                raise _error(429, "Rate limit exceeded; see X-RateLimit-Reset.")
            response = self._route(request, path, grant, status)
        except _Problem as problem:
            response = problem.response
        response.headers.update(limits)
        return response

    def _route(
        self, request: SandboxRequest, path: str, grant: _Grant | None, status: str
    ) -> SandboxResponse:
        parts = [p for p in path.split("/") if p]
        version = parts[0] if parts else ""
        if version == "v1" and not (len(parts) == 3 and parts[1] == "activity-mapping"):
            raise _error(
                404,
                "The v1 API is no longer supported; use /developer/v2 "
                "(https://developer.whoop.com/docs/developing/v1-v2-migration).",
            )
        if version not in ("v1", "v2"):
            raise _error(404, "Not Found")
        if grant is None or status != "ok":
            message = "Access token expired." if status == "expired" else "Invalid authorization."
            raise _error(401, message, {"WWW-Authenticate": "Bearer"})
        self.store.count_request(grant.account)
        if version == "v1":
            return self._activity_mapping(request, grant, parts[2])
        route = parts[1:]
        if route == ["user", "access"]:
            if request.method != "DELETE":
                raise _error(405, "Method Not Allowed", {"Allow": "DELETE"})
            self.store.revoke_grant(_bearer_token(request))
            return SandboxResponse(204, {})
        if request.method not in ("GET", "HEAD"):
            raise _error(405, "Method Not Allowed", {"Allow": "GET"})
        name, key = _route_name(route)
        if name is None:
            raise _error(404, "Not Found")
        if PATH_SCOPES[name] not in grant.scopes:
            raise _error(403, f"The access token lacks the {PATH_SCOPES[name]} scope.")
        account = grant.account
        if name == "user/profile/basic":
            return _json(self.store.profile(account))
        if name == "user/measurement/body":
            return _json(self.store.body_measurement(account))
        if name in _COLLECTION_PATHS:
            return self._collection(request, account, _COLLECTION_PATHS[name])
        if name.startswith("cycle/"):
            if not (key or "").isdigit():
                raise _error(400, f"cycleId must be an integer, got {key!r}.")
            cycle_id = int(key or "0")
            if name == "cycle/{id}":
                found = self.store.served(account, "cycle", cycle_id)
            elif name == "cycle/{id}/sleep":
                found = self.store.sleep_of_cycle(account, cycle_id)
            else:
                found = self.store.served(account, "recovery", cycle_id)
        else:
            resource = "sleep" if name.startswith("activity/sleep") else "workout"
            # A v1 integer id (or anything else that is not a UUID) names nothing in v2.
            found = self.store.served(account, resource, key) if _is_uuid(key) else None
        if found is None:
            raise _error(404, "No resource found.")
        return _json(found)

    def _activity_mapping(
        self, request: SandboxRequest, grant: _Grant, raw: str
    ) -> SandboxResponse:
        if request.method not in ("GET", "HEAD"):
            raise _error(405, "Method Not Allowed", {"Allow": "GET"})
        if not raw.isdigit():
            raise _error(400, f"activityV1Id must be an integer, got {raw!r}.")
        v1_id = int(raw)
        for resource in ("sleep", "workout"):
            for record in self.store.records(grant.account, resource):
                if record.get("v1_id") == v1_id:
                    return _json({"v2_activity_id": record["id"]})
        raise _error(404, "Activity mapping not found.")

    # -- collections ---------------------------------------------------------------------------

    def _collection(self, request: SandboxRequest, account: str, resource: str) -> SandboxResponse:
        query = request.query
        raw_limit = query.get("limit")
        limit = DEFAULT_LIMIT
        if raw_limit is not None:
            if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
                raise _error(400, f"limit must be an integer from 1 to {MAX_LIMIT}.")
            limit = int(raw_limit)
        start_raw, end_raw = query.get("start"), query.get("end")
        start = _parse_moment("start", start_raw) if start_raw is not None else None
        end = _parse_moment("end", end_raw) if end_raw is not None else None
        token = query.get("nextToken") or None  # `nextToken=` is the first page
        bound: dict[str, Any] = {"a": account, "r": resource, "s": start, "e": end}
        after = None
        high = end
        if token is not None:
            data = self._decode_token(token)
            if start_raw is None and end_raw is None:
                bound.update(s=data["s"], e=data["e"])  # a bare token continues its query
            if any(data.get(k) != v for k, v in bound.items()):
                raise _error(400, "nextToken does not belong to this query.")
            start, after, high = data["s"], (int(data["k"][0]), data["k"][1]), data["h"]
        if high is None:
            high = math.floor(self._now().timestamp() * 1000)  # `end` defaults to now
        if start is not None and start > high:
            raise _error(400, "start must not be after end.")
        records, last = self.store.page(account, resource, start, high, after, limit)
        next_token = None
        if last is not None:
            next_token = self._encode_token({**bound, "h": high, "k": list(last)})
        return _json({"records": records, "next_token": next_token})

    def _encode_token(self, data: dict[str, Any]) -> str:
        payload = orjson.dumps(data)
        mac = hashlib.blake2b(payload, key=self._secret, digest_size=12).digest()
        return _b64(mac + payload)

    def _decode_token(self, token: str) -> dict[str, Any]:
        try:
            raw = _unb64(token)
            mac, payload = raw[:12], raw[12:]
            expected = hashlib.blake2b(payload, key=self._secret, digest_size=12).digest()
            if not secrets.compare_digest(mac, expected):
                raise ValueError("bad signature")
            data = orjson.loads(payload)
        except (ValueError, orjson.JSONDecodeError):
            raise _error(400, "Invalid nextToken.") from None
        return data


def _token_error(error: str, description: str) -> SandboxResponse:
    return _json(
        {"error": error, "error_description": description},
        400,
        {"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _scope_text(scopes: Iterable[str]) -> str:
    granted = set(scopes)
    return " ".join(scope for scope in ALL_SCOPES if scope in granted)


def _bearer_token(request: SandboxRequest) -> str:
    scheme, _, token = (request.header("Authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _route_name(route: list[str]) -> tuple[str | None, str | None]:
    """The `PATH_SCOPES` name of a v2 route and its id (None, None: no such route)."""
    joined = "/".join(route)
    if joined in PATH_SCOPES:
        return joined, None
    if len(route) in (2, 3) and route[0] == "cycle":
        name = "cycle/{id}" + ("/" + route[2] if len(route) == 3 else "")
        return (name, route[1]) if name in PATH_SCOPES else (None, None)
    if len(route) == 3 and route[0] == "activity" and route[1] in ("sleep", "workout"):
        return f"activity/{route[1]}/{{id}}", route[2]
    return None, None


def mount_demo(
    server: SandboxServer, accounts: list[str], since: str, now: datetime
) -> dict[str, str]:
    """Mount WHOOP with a generated member per account from `since` (YYYY-MM; at most
    `DEMO_DAYS` back) to `now`; returns the environment that points the pipeline at it.

    Each account gets a token pair issued by the sandbox in a token file of its own, in a
    directory removed when this process exits, so the pipeline reads through the same token
    files, refreshes and rotation as with the real API.
    """
    import atexit
    import shutil
    import tempfile

    from spark_jobs.common.oauth import TokenPair, TokenStore

    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    first = max(date.fromisoformat(f"{since}-01"), now.date() - timedelta(days=DEMO_DAYS))
    store = WhoopStore()
    token_dir = Path(tempfile.mkdtemp(prefix="lakehouse-sandbox-whoop-"))
    atexit.register(shutil.rmtree, token_dir, ignore_errors=True)
    for account in accounts:
        store.add_generated_person(account, first, now.date(), until=now)
        access, refresh = store.issue_token(account)
        TokenStore(token_dir / f"whoop_{account}.json", account).save(
            TokenPair(
                access, refresh, expires_at=now + timedelta(hours=1), scope=" ".join(ALL_SCOPES)
            )
        )
    server.mount("whoop", WhoopApp(store))
    base = server.base_url("whoop")
    return {
        "WHOOP_API_BASE": f"{base}/developer",
        "WHOOP_OAUTH_BASE": f"{base}/oauth/oauth2",
        "WHOOP_CLIENT_ID": DEFAULT_CLIENT_ID,
        "WHOOP_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "WHOOP_TOKEN_DIR": str(token_dir),
        "WHOOP_ACCOUNTS": ",".join(accounts),
    }
