"""OAuth2 for API sources: authorization code flow, refresh-token rotation, token files.

A source that reads a person's data through OAuth2 declares a `Provider` (its names, the
variables of its app, what a refresh must send) and settings with the attributes of
`OAuthSettings`; everything else is here:

    lakehouse auth oura --account me             # opens the browser, waits on the callback
    lakehouse auth whoop --account me --headless # paste the redirect URL instead

One token file per account, `<token_dir>/<source>_<account>.json` (mode 0600, written
atomically): `{access_token, refresh_token, expires_at, scope, token_type}`.

Refresh tokens are single-use (Oura, WHOOP): a refresh returns a new pair and the old
refresh token is dead. So the new pair is written to the file before it is used, and
refreshes are serialised across processes with an exclusive `flock` on a sibling `.lock`
file; whoever gets the lock re-reads the file first, because another process may have
refreshed already (refreshing again with the consumed token would be refused and lock the
account out). Tokens and secrets never appear in logs or error messages.
"""

from __future__ import annotations

import contextlib
import fcntl
import html
import http.server
import logging
import os
import secrets
import time
import webbrowser
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
import requests

from spark_jobs.common.errors import ConfigError
from spark_jobs.common.files import write_atomic
from spark_jobs.common.http import ApiError

log = logging.getLogger(__name__)

EXPIRY_LEEWAY = timedelta(seconds=60)
"""A token this close to its expiry is refreshed before use, not after a 401."""

TOKEN_TIMEOUT = (10.0, 30.0)


class AuthError(ConfigError):
    """Authorization is missing, refused or broken; the message says what to run."""


@dataclass(frozen=True)
class Provider:
    """What differs between OAuth2 sources: names, variables, and what a refresh sends.

    Attributes:
        name: the source's name (token files `<name>_<account>.json`, `lakehouse auth NAME`).
        title: its human name in messages ("Oura").
        env_prefix: prefix of its variables (`<PREFIX>_CLIENT_ID`, `_CLIENT_SECRET`,
            `_REDIRECT_URI`).
        apps_url: where a user registers the app that gets the client id and secret.
        no_token_hint: appended to "no token" messages (another way to get one).
        refresh_form: extra fields of a refresh request (WHOOP wants `scope=offline`).
        default_expires_in: seconds an access token lives when the answer does not say.
    """

    name: str
    title: str
    env_prefix: str
    apps_url: str
    no_token_hint: str = ""
    refresh_form: Mapping[str, str] = field(default_factory=dict)
    default_expires_in: int = 86400

    def auth_command(self, account: str) -> str:
        return f"`lakehouse auth {self.name} --account {account}`"


class OAuthSettings(Protocol):
    """The settings attributes this module reads (OuraSettings, WhoopSettings)."""

    client_id: str | None
    client_secret: str | None
    redirect_uri: str
    authorize_url: str
    token_url: str
    scopes: str

    def token_path(self, account: str) -> Path: ...


@dataclass(frozen=True)
class TokenPair:
    """An access token, the refresh token that renews it, and when it expires (UTC)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: datetime
    scope: str = ""
    token_type: str = "Bearer"

    def expires_within(self, leeway: timedelta, now: datetime) -> bool:
        return self.expires_at - leeway <= now

    def as_json(self) -> str:
        return orjson.dumps(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_at": self.expires_at.astimezone(UTC).isoformat(),
                "scope": self.scope,
                "token_type": self.token_type,
            },
            option=orjson.OPT_INDENT_2,
        ).decode()

    @classmethod
    def from_dict(cls, doc: dict) -> TokenPair:
        expires_at = datetime.fromisoformat(str(doc["expires_at"]))
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        access = doc["access_token"]
        if not isinstance(access, str) or not access:
            raise ValueError("access_token is empty")
        return cls(
            access_token=access,
            refresh_token=doc.get("refresh_token") or None,
            expires_at=expires_at.astimezone(UTC),
            scope=str(doc.get("scope") or ""),
            token_type=str(doc.get("token_type") or "Bearer"),
        )

    @classmethod
    def from_token_response(
        cls,
        doc: dict,
        now: datetime,
        previous_refresh: str | None = None,
        default_expires_in: int = 86400,
    ) -> TokenPair:
        """A pair from the token endpoint's answer (`expires_in` seconds from `now`)."""
        access = doc.get("access_token")
        if not isinstance(access, str) or not access:
            raise ValueError("no access_token in the token response")
        try:
            expires_in = float(doc.get("expires_in") or 0)
        except (TypeError, ValueError):
            expires_in = 0.0
        return cls(
            access_token=access,
            # A response without a refresh token leaves the old one in place.
            refresh_token=doc.get("refresh_token") or previous_refresh,
            expires_at=now + timedelta(seconds=expires_in or default_expires_in),
            scope=str(doc.get("scope") or ""),
            token_type=str(doc.get("token_type") or "Bearer"),
        )


class TokenStore:
    """The token file of one account, its lock, atomic 0600 writes."""

    def __init__(
        self, path: Path | str, account: str | None = None, provider: Provider | None = None
    ) -> None:
        self.path = Path(path)
        self.provider = provider
        # Without a provider, the file name says whose it is: `<source>_<account>.json`.
        name = self.path.stem
        self.source = provider.name if provider else name.split("_", 1)[0]
        self.account = account or name.removeprefix(f"{self.source}_")
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def _fix(self) -> str:
        return f"`lakehouse auth {self.source} --account {self.account}`"

    def load(self) -> TokenPair | None:
        """The stored pair, None when there is no file; AuthError when it is unreadable."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return TokenPair.from_dict(orjson.loads(text))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            title = self.provider.title if self.provider else self.source
            raise AuthError(
                f"the {title} token file {self.path} is unreadable: run {self._fix()}"
            ) from None

    def save(self, pair: TokenPair) -> Path:
        """Write the pair atomically, owner-only (the directory too)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return write_atomic(self.path, pair.as_json() + "\n", mode=0o600)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock shared by every process using this token file."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def token_store(provider: Provider, settings: OAuthSettings, account: str) -> TokenStore:
    """The token store of `account` in the configured token directory."""
    return TokenStore(settings.token_path(account), account=account, provider=provider)


def require_client(provider: Provider, settings: OAuthSettings) -> tuple[str, str]:
    """The app's client id and secret, or ConfigError naming the variables to set."""
    missing = [
        f"{provider.env_prefix}_{name}"
        for name, value in (
            ("CLIENT_ID", settings.client_id),
            ("CLIENT_SECRET", settings.client_secret),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"{' and '.join(missing)} not set: create an app at {provider.apps_url} "
            f"(redirect URI {settings.redirect_uri}) and put its id and secret in .env"
        )
    return settings.client_id, settings.client_secret  # type: ignore[return-value]


def authorize_url(provider: Provider, settings: OAuthSettings, state: str) -> str:
    """The URL the user opens to grant this app access."""
    client_id, _ = require_client(provider, settings)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": settings.redirect_uri,
            "scope": settings.scopes,
            "state": state,
        }
    )
    sep = "&" if urlsplit(settings.authorize_url).query else "?"
    return f"{settings.authorize_url}{sep}{query}"


def post_token(
    provider: Provider,
    settings: OAuthSettings,
    form: dict[str, str],
    *,
    account: str,
    refused: str,
    session: requests.Session | None = None,
) -> dict:
    """POST to the token endpoint; the JSON answer, or AuthError/ApiError (no secrets)."""
    post = session.post if session is not None else requests.post
    title = provider.title
    try:
        resp = post(
            settings.token_url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=TOKEN_TIMEOUT,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise ApiError(
            f"could not reach the {title} token endpoint {settings.token_url} "
            f"({type(exc).__name__}); check the network and rerun",
            url=settings.token_url,
        ) from None
    try:
        doc = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    if resp.status_code == 200 and doc.get("access_token"):
        return doc
    # Only the OAuth2 error code goes into the message: it is a fixed word, never a secret.
    error = str(doc.get("error") or "")
    fix = provider.auth_command(account)
    if error == "invalid_grant":
        raise AuthError(f"{refused}: run {fix}")
    if error in ("invalid_client", "unauthorized_client"):
        raise AuthError(
            f"the {title} token endpoint refused the app ({error}): check "
            f"{provider.env_prefix}_CLIENT_ID and {provider.env_prefix}_CLIENT_SECRET, "
            f"then run {fix}"
        )
    if resp.status_code in (400, 401, 403):
        raise AuthError(
            f"the {title} token endpoint refused the request (HTTP {resp.status_code}"
            f"{', ' + error if error else ''}): run {fix}"
        )
    raise ApiError(
        f"the {title} token endpoint answered HTTP {resp.status_code}"
        f"{' (' + error + ')' if error else ''}; rerun later",
        url=settings.token_url,
        status=resp.status_code,
    )


def exchange_code(
    provider: Provider,
    settings: OAuthSettings,
    code: str,
    *,
    account: str = "NAME",
    session: requests.Session | None = None,
    now: datetime | None = None,
) -> TokenPair:
    """Trade an authorization code for a token pair (grant_type=authorization_code)."""
    client_id, client_secret = require_client(provider, settings)
    doc = post_token(
        provider,
        settings,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": settings.redirect_uri,
            "client_id": client_id,
            "client_secret": client_secret,
        },
        account=account,
        refused="the authorization code was refused (expired, or already used)",
        session=session,
    )
    return TokenPair.from_token_response(
        doc, now or datetime.now(UTC), default_expires_in=provider.default_expires_in
    )


def refresh(
    provider: Provider,
    settings: OAuthSettings,
    store: TokenStore,
    *,
    stale: TokenPair | None = None,
    session: requests.Session | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> TokenPair:
    """Renew the stored pair (grant_type=refresh_token) and persist it before returning.

    Runs under the store's lock and re-reads the file first. When the file already holds a
    different, unexpired access token than `stale` (the one that failed or expired),
    another process refreshed meanwhile: that pair is returned and nothing is sent.

    Raises:
        AuthError: no token file, no refresh token, or the refresh token was refused.
    """
    account = store.account
    client_id, client_secret = require_client(provider, settings)
    fix = provider.auth_command(account)
    with store.locked():
        current = store.load()
        if current is None:
            raise AuthError(
                f"no {provider.title} token for account {account}: run {fix}"
                f"{provider.no_token_hint}"
            )
        if (
            stale is not None
            and current.access_token != stale.access_token
            and not current.expires_within(EXPIRY_LEEWAY, now())
        ):
            return current
        if not current.refresh_token:
            raise AuthError(
                f"the {provider.title} token of account {account} has expired and has no "
                f"refresh token: run {fix}"
            )
        doc = post_token(
            provider,
            settings,
            {
                "grant_type": "refresh_token",
                "refresh_token": current.refresh_token,
                "client_id": client_id,
                "client_secret": client_secret,
                **provider.refresh_form,
            },
            account=account,
            refused="the refresh token was refused (it is single-use, or the app was revoked)",
            session=session,
        )
        pair = TokenPair.from_token_response(
            doc,
            now(),
            previous_refresh=current.refresh_token,
            default_expires_in=provider.default_expires_in,
        )
        # The old refresh token is consumed now: the new one must be on disk before anyone
        # uses the new access token, or a crash would leave no usable refresh token.
        store.save(pair)
    log.info("refreshed the %s access token of account %s", provider.title, account)
    return pair


class BearerAuth:
    """Bearer token provider for an API client (`headers`, `on_unauthorized`).

    Reads the account's token file, refreshes it when it expires within 60 s and once
    when the API answers 401. `static_token` (Oura's legacy personal access token) wins
    over the file and is never refreshed.
    """

    def __init__(
        self,
        provider: Provider,
        settings: OAuthSettings,
        account: str,
        *,
        store: TokenStore | None = None,
        session: requests.Session | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        static_token: str | None = None,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self.account = account
        self.store = store or token_store(provider, settings, account)
        self.session = session
        self.now = now
        self.static_token = static_token
        self._pair: TokenPair | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(account={self.account!r}, token_file={str(self.store.path)!r})"
        )

    def _load(self) -> TokenPair:
        if self._pair is None:
            self._pair = self.store.load()
        if self._pair is None:
            raise AuthError(
                f"no {self.provider.title} token for account {self.account}: run "
                f"{self.provider.auth_command(self.account)}{self.provider.no_token_hint}"
            )
        return self._pair

    def _refresh(self) -> TokenPair:
        self._pair = refresh(
            self.provider,
            self.settings,
            self.store,
            stale=self._pair,
            session=self.session,
            now=self.now,
        )
        return self._pair

    def access_token(self) -> str:
        """A usable access token (refreshed first when it is about to expire)."""
        if self.static_token:
            return self.static_token
        pair = self._load()
        if pair.expires_within(EXPIRY_LEEWAY, self.now()):
            pair = self._refresh()
        return pair.access_token

    def headers(self) -> dict[str, str]:
        """The Authorization header for the next request."""
        return {"Authorization": f"Bearer {self.access_token()}"}

    def on_unauthorized(self) -> None:
        """Called by HttpClient on a 401: refresh once (a static token cannot be)."""
        if self.static_token:
            return
        self._load()
        self._refresh()


# ------------------------------------------------------------------ authorization flow
_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>lakehouse: {source}</title>
</head><body style="font-family:sans-serif;margin:3em"><h1>{title}</h1><p>{text}</p>
</body></html>"""


def code_from_query(provider: Provider, query: str, state: str) -> str:
    """The authorization code of a callback query string; AuthError when it is refused."""
    params = {k: v[0] for k, v in parse_qs(query).items() if v}
    again = f"`lakehouse auth {provider.name}`"
    if "error" in params:
        raise AuthError(
            f"{provider.title} did not authorize the app ({params['error']}); run {again} "
            "again and approve the requested access"
        )
    if params.get("state") != state:
        raise AuthError(
            "the callback's state does not match this authorization (a stale or forged "
            f"redirect): run {again} again"
        )
    code = params.get("code")
    if not code:
        raise AuthError(f"the callback carries no authorization code: run {again} again")
    return code


def code_from_redirect(provider: Provider, url: str, state: str) -> str:
    """The code of a pasted redirect URL (`...?code=...&state=...`)."""
    return code_from_query(provider, urlsplit(url.strip()).query, state)


class _CallbackServer(http.server.HTTPServer):
    expected_path: str
    source_title: str
    query: str | None = None


class _CallbackHandler(http.server.BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != self.server.expected_path:
            self.send_error(404)
            return
        self.server.query = parts.query
        params = parse_qs(parts.query)
        source = self.server.source_title
        if "error" in params:
            title, text = "Not authorized", f"{source} said: {params['error'][0]}."
        else:
            title, text = "Done", "You can close this tab and go back to the terminal."
        body = _PAGE.format(
            source=html.escape(source), title=html.escape(title), text=html.escape(text)
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # The request line holds the authorization code: never logged.
        return


def _listen(provider: Provider, redirect_uri: str) -> _CallbackServer:
    parts = urlsplit(redirect_uri)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    try:
        server = _CallbackServer((host, port), _CallbackHandler)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} for the OAuth callback ({exc.strerror}): free "
            f"the port, set {provider.env_prefix}_REDIRECT_URI to another registered one, "
            "or use --headless"
        ) from None
    server.expected_path = parts.path or "/"
    server.source_title = provider.title
    return server


def _wait_for_query(provider: Provider, server: _CallbackServer, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while server.query is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AuthError(
                f"no callback within {int(timeout)} s: run `lakehouse auth {provider.name}` "
                "again (or use --headless and paste the redirect URL)"
            )
        server.timeout = min(remaining, 1.0)
        server.handle_request()
    return server.query


def run_authorization(
    provider: Provider,
    settings: OAuthSettings,
    account: str,
    *,
    open_browser: bool,
    headless: bool,
    echo: Callable[[str], None],
    input_fn: Callable[[str], str] = input,
    timeout: float = 300,
) -> Path:
    """The authorization code flow, end to end; returns the token file written.

    Prints the authorize URL (and opens it when `open_browser`), then either waits for the
    browser's redirect on the host/port of the redirect URI (a one-shot local HTTP server)
    or, `headless`, asks for the redirect URL to be pasted. Checks `state`, exchanges the
    code and saves the pair.
    """
    require_client(provider, settings)
    state = secrets.token_urlsafe(24)  # WHOOP refuses a state shorter than 8 characters
    url = authorize_url(provider, settings, state)
    server = None if headless else _listen(provider, settings.redirect_uri)
    try:
        echo(
            f"Open this URL to let the lakehouse read your {provider.title} data "
            f"(account {account}):"
        )
        echo(url)
        if open_browser:
            with contextlib.suppress(webbrowser.Error):
                webbrowser.open(url)
        if server is None:
            echo(
                f"After approving, the browser goes to {settings.redirect_uri}?code=... "
                "(the page may not load: that is fine). Paste that whole URL here."
            )
            code = code_from_redirect(provider, input_fn("Redirect URL: "), state)
        else:
            echo(f"Waiting for the redirect to {settings.redirect_uri} ...")
            code = code_from_query(provider, _wait_for_query(provider, server, timeout), state)
    finally:
        if server is not None:
            server.server_close()
    pair = exchange_code(provider, settings, code, account=account)
    path = token_store(provider, settings, account).save(pair)
    echo(f"Saved the {provider.title} token of account {account} to {path}")
    return path
