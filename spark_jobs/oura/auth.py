"""Oura OAuth2: authorization code flow, refresh-token rotation, personal access tokens.

    lakehouse auth oura --account me            # opens the browser, waits on the callback
    lakehouse auth oura --account me --headless # paste the redirect URL instead

One token file per account, `<token_dir>/oura_<account>.json` (mode 0600, written
atomically): `{access_token, refresh_token, expires_at, scope, token_type}`.

Oura refresh tokens are single-use: a refresh returns a new pair and the old refresh token
is dead. So the new pair is written to the file before it is used, and refreshes are
serialised across processes with an exclusive `flock` on a sibling `.lock` file; whoever
gets the lock re-reads the file first, because another process may have refreshed already
(refreshing again with the consumed token would be refused and lock the account out).

Legacy accounts may set OURA_PERSONAL_ACCESS_TOKEN instead (PATs are deprecated by Oura);
it wins over a token file. Tokens and secrets never appear in logs or error messages.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
import requests

from spark_jobs.common.errors import ConfigError
from spark_jobs.common.files import write_atomic
from spark_jobs.common.http import ApiError
from spark_jobs.oura.settings import OuraSettings

log = logging.getLogger(__name__)

EXPIRY_LEEWAY = timedelta(seconds=60)
"""A token this close to its expiry is refreshed before use, not after a 401."""

TOKEN_TIMEOUT = (10.0, 30.0)


class AuthError(ConfigError):
    """Authorization is missing, refused or broken; the message says what to run."""


def auth_command(account: str) -> str:
    return f"`lakehouse auth oura --account {account}`"


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
        cls, doc: dict, now: datetime, previous_refresh: str | None = None
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
            expires_at=now + timedelta(seconds=expires_in or 86400),
            scope=str(doc.get("scope") or ""),
            token_type=str(doc.get("token_type") or "Bearer"),
        )


class TokenStore:
    """The token file of one account, its lock, atomic 0600 writes."""

    def __init__(self, path: Path | str, account: str | None = None) -> None:
        self.path = Path(path)
        name = self.path.stem
        self.account = account or (name[5:] if name.startswith("oura_") else name)
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def load(self) -> TokenPair | None:
        """The stored pair, None when there is no file; AuthError when it is unreadable."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return TokenPair.from_dict(orjson.loads(text))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise AuthError(
                f"the Oura token file {self.path} is unreadable: run {auth_command(self.account)}"
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


def token_store(settings: OuraSettings, account: str) -> TokenStore:
    """The token store of `account` in the configured token directory."""
    return TokenStore(settings.token_path(account), account=account)


def _require_client(settings: OuraSettings) -> tuple[str, str]:
    missing = [
        name
        for name, value in (
            ("OURA_CLIENT_ID", settings.client_id),
            ("OURA_CLIENT_SECRET", settings.client_secret),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"{' and '.join(missing)} not set: create an app at "
            "https://cloud.ouraring.com/oauth/applications (redirect URI "
            f"{settings.redirect_uri}) and put its id and secret in .env"
        )
    return settings.client_id, settings.client_secret  # type: ignore[return-value]


def authorize_url(settings: OuraSettings, state: str) -> str:
    """The URL the user opens to grant this app access."""
    client_id, _ = _require_client(settings)
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


def _post_token(
    settings: OuraSettings,
    form: dict[str, str],
    *,
    account: str,
    refused: str,
    session: requests.Session | None = None,
) -> dict:
    """POST to the token endpoint; the JSON answer, or AuthError/ApiError (no secrets)."""
    post = session.post if session is not None else requests.post
    try:
        resp = post(
            settings.token_url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=TOKEN_TIMEOUT,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise ApiError(
            f"could not reach the Oura token endpoint {settings.token_url} "
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
    if error == "invalid_grant":
        raise AuthError(f"{refused}: run {auth_command(account)}")
    if error in ("invalid_client", "unauthorized_client"):
        raise AuthError(
            f"the Oura token endpoint refused the app ({error}): check OURA_CLIENT_ID and "
            f"OURA_CLIENT_SECRET, then run {auth_command(account)}"
        )
    if resp.status_code in (400, 401, 403):
        raise AuthError(
            f"the Oura token endpoint refused the request (HTTP {resp.status_code}"
            f"{', ' + error if error else ''}): run {auth_command(account)}"
        )
    raise ApiError(
        f"the Oura token endpoint answered HTTP {resp.status_code}"
        f"{' (' + error + ')' if error else ''}; rerun later",
        url=settings.token_url,
        status=resp.status_code,
    )


def exchange_code(
    settings: OuraSettings,
    code: str,
    *,
    account: str = "NAME",
    session: requests.Session | None = None,
    now: datetime | None = None,
) -> TokenPair:
    """Trade an authorization code for a token pair (grant_type=authorization_code)."""
    client_id, client_secret = _require_client(settings)
    doc = _post_token(
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
    return TokenPair.from_token_response(doc, now or datetime.now(UTC))


def refresh(
    settings: OuraSettings,
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
    client_id, client_secret = _require_client(settings)
    with store.locked():
        current = store.load()
        if current is None:
            raise AuthError(
                f"no Oura token for account {account}: run {auth_command(account)} "
                "(or set OURA_PERSONAL_ACCESS_TOKEN)"
            )
        if (
            stale is not None
            and current.access_token != stale.access_token
            and not current.expires_within(EXPIRY_LEEWAY, now())
        ):
            return current
        if not current.refresh_token:
            raise AuthError(
                f"the Oura token of account {account} has expired and has no refresh "
                f"token: run {auth_command(account)}"
            )
        doc = _post_token(
            settings,
            {
                "grant_type": "refresh_token",
                "refresh_token": current.refresh_token,
                "client_id": client_id,
                "client_secret": client_secret,
            },
            account=account,
            refused="the refresh token was refused (it is single-use, or the app was revoked)",
            session=session,
        )
        pair = TokenPair.from_token_response(doc, now(), previous_refresh=current.refresh_token)
        # The old refresh token is consumed now: the new one must be on disk before anyone
        # uses the new access token, or a crash would leave no usable refresh token.
        store.save(pair)
    log.info("refreshed the Oura access token of account %s", account)
    return pair


class OuraAuth:
    """Bearer token provider for OuraClient (`headers`, `on_unauthorized`).

    Uses OURA_PERSONAL_ACCESS_TOKEN when set, else the account's token file, refreshing
    it when it expires within 60 s and once when the API answers 401.
    """

    def __init__(
        self,
        settings: OuraSettings,
        account: str,
        *,
        store: TokenStore | None = None,
        session: requests.Session | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.account = account
        self.store = store or token_store(settings, account)
        self.session = session
        self.now = now
        self._pair: TokenPair | None = None

    def __repr__(self) -> str:
        return f"OuraAuth(account={self.account!r}, token_file={str(self.store.path)!r})"

    @property
    def uses_pat(self) -> bool:
        return bool(self.settings.personal_access_token)

    def _load(self) -> TokenPair:
        if self._pair is None:
            self._pair = self.store.load()
        if self._pair is None:
            raise AuthError(
                f"no Oura token for account {self.account}: run "
                f"{auth_command(self.account)} (or set OURA_PERSONAL_ACCESS_TOKEN)"
            )
        return self._pair

    def _refresh(self) -> TokenPair:
        self._pair = refresh(
            self.settings, self.store, stale=self._pair, session=self.session, now=self.now
        )
        return self._pair

    def access_token(self) -> str:
        """A usable access token (refreshed first when it is about to expire)."""
        if self.settings.personal_access_token:
            return self.settings.personal_access_token
        pair = self._load()
        if pair.expires_within(EXPIRY_LEEWAY, self.now()):
            pair = self._refresh()
        return pair.access_token

    def headers(self) -> dict[str, str]:
        """The Authorization header for the next request."""
        return {"Authorization": f"Bearer {self.access_token()}"}

    def on_unauthorized(self) -> None:
        """Called by HttpClient on a 401: refresh once (a PAT cannot be refreshed)."""
        if self.settings.personal_access_token:
            return
        self._load()
        self._refresh()


# ------------------------------------------------------------------ authorization flow
_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>lakehouse: Oura</title>
</head><body style="font-family:sans-serif;margin:3em"><h1>{title}</h1><p>{text}</p>
</body></html>"""


def _code_from_query(query: str, state: str) -> str:
    """The authorization code of a callback query string; AuthError when it is refused."""
    params = {k: v[0] for k, v in parse_qs(query).items() if v}
    if "error" in params:
        raise AuthError(
            f"Oura did not authorize the app ({params['error']}); run "
            "`lakehouse auth oura` again and approve the requested access"
        )
    if params.get("state") != state:
        raise AuthError(
            "the callback's state does not match this authorization (a stale or forged "
            "redirect): run `lakehouse auth oura` again"
        )
    code = params.get("code")
    if not code:
        raise AuthError(
            "the callback carries no authorization code: run `lakehouse auth oura` again"
        )
    return code


def code_from_redirect(url: str, state: str) -> str:
    """The code of a pasted redirect URL (`...?code=...&state=...`)."""
    return _code_from_query(urlsplit(url.strip()).query, state)


class _CallbackServer(http.server.HTTPServer):
    expected_path: str
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
        if "error" in params:
            title, text = "Not authorized", f"Oura said: {params['error'][0]}."
        else:
            title, text = "Done", "You can close this tab and go back to the terminal."
        body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # The request line holds the authorization code: never logged.
        return


def _listen(redirect_uri: str) -> _CallbackServer:
    parts = urlsplit(redirect_uri)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    try:
        server = _CallbackServer((host, port), _CallbackHandler)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} for the OAuth callback ({exc.strerror}): free "
            "the port, set OURA_REDIRECT_URI to another registered one, or use --headless"
        ) from None
    server.expected_path = parts.path or "/"
    return server


def _wait_for_query(server: _CallbackServer, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while server.query is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AuthError(
                f"no callback within {int(timeout)} s: run `lakehouse auth oura` again "
                "(or use --headless and paste the redirect URL)"
            )
        server.timeout = min(remaining, 1.0)
        server.handle_request()
    return server.query


def run_authorization(
    settings: OuraSettings,
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
    browser's redirect on the host/port of OURA_REDIRECT_URI (a one-shot local HTTP
    server) or, `headless`, asks for the redirect URL to be pasted. Checks `state`,
    exchanges the code and saves the pair.
    """
    _require_client(settings)
    state = secrets.token_urlsafe(24)
    url = authorize_url(settings, state)
    server = None if headless else _listen(settings.redirect_uri)
    try:
        echo(f"Open this URL to let the lakehouse read your Oura data (account {account}):")
        echo(url)
        if open_browser:
            with contextlib.suppress(webbrowser.Error):
                webbrowser.open(url)
        if server is None:
            echo(
                f"After approving, the browser goes to {settings.redirect_uri}?code=... "
                "(the page may not load: that is fine). Paste that whole URL here."
            )
            code = code_from_redirect(input_fn("Redirect URL: "), state)
        else:
            echo(f"Waiting for the redirect to {settings.redirect_uri} ...")
            code = _code_from_query(_wait_for_query(server, timeout), state)
    finally:
        if server is not None:
            server.server_close()
    pair = exchange_code(settings, code, account=account)
    path = token_store(settings, account).save(pair)
    echo(f"Saved the Oura token of account {account} to {path}")
    return path
