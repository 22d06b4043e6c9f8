"""Oura settings and OAuth2: token files, refresh rotation, the authorization flow, PATs.

A tiny fake token endpoint (http.server in a thread) plays Oura's: refresh tokens are
single-use, exactly like the real one, so a double refresh would fail these tests.
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import socket
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from spark_jobs.common.errors import ConfigError
from spark_jobs.common.http import RetryPolicy
from spark_jobs.oura.auth import (
    AuthError,
    OuraAuth,
    TokenPair,
    TokenStore,
    authorize_url,
    exchange_code,
    refresh,
    run_authorization,
    token_store,
)
from spark_jobs.oura.client import OuraClient
from spark_jobs.oura.settings import OuraSettings, load_oura_settings

CLIENT_SECRET = "s3cr3t-client-value"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "oura"


class _OuraFake(http.server.ThreadingHTTPServer):
    """POST /oauth/token (rotating single-use refresh tokens) and GET /v2/... (bearer)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FakeHandler)
        self.lock = threading.Lock()
        self.serial = 0
        self.valid_refresh: set[str] = set()
        self.valid_access: set[str] = set()
        self.codes: dict[str, str] = {}  # authorization code -> redirect_uri
        self.posts: list[dict[str, str]] = []
        self.token_file: Path | None = None
        self.seen_file_at_use: list[dict] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def issue(self) -> dict:
        self.serial += 1
        access, refresh_token = f"access-{self.serial}-xyz", f"refresh-{self.serial}-xyz"
        self.valid_access.add(access)
        self.valid_refresh.add(refresh_token)
        return {
            "access_token": access,
            "refresh_token": refresh_token,
            "expires_in": 86400,
            "token_type": "bearer",
            "scope": "daily heartrate",
        }


class _FakeHandler(http.server.BaseHTTPRequestHandler):
    server: _OuraFake

    def _send(self, status: int, doc: object) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        srv = self.server
        with srv.lock:
            srv.posts.append(form)
            if form.get("client_secret") != CLIENT_SECRET:
                return self._send(401, {"error": "invalid_client"})
            if form.get("grant_type") == "authorization_code":
                if srv.codes.pop(form.get("code", ""), None) != form.get("redirect_uri"):
                    return self._send(400, {"error": "invalid_grant"})
                return self._send(200, srv.issue())
            if form.get("grant_type") == "refresh_token":
                token = form.get("refresh_token", "")
                if token not in srv.valid_refresh:
                    return self._send(400, {"error": "invalid_grant"})
                srv.valid_refresh.discard(token)  # single-use
                return self._send(200, srv.issue())
        return self._send(400, {"error": "unsupported_grant_type"})

    def do_GET(self) -> None:
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        srv = self.server
        if token not in srv.valid_access:
            return self._send(401, {"detail": "Unauthorized"})
        if srv.token_file is not None and srv.token_file.exists():
            srv.seen_file_at_use.append(json.loads(srv.token_file.read_text()))
        return self._send(200, {"data": [], "next_token": None})

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def fake() -> Iterator[_OuraFake]:
    srv = _OuraFake()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(tmp_path: Path, fake: _OuraFake | None = None, **env: str) -> OuraSettings:
    base = fake.base if fake else "http://127.0.0.1:9"
    values = {
        "OURA_API_BASE": base,
        "OURA_TOKEN_URL": f"{base}/oauth/token",
        "OURA_CLIENT_ID": "client-id-1",
        "OURA_CLIENT_SECRET": CLIENT_SECRET,
        "OURA_REDIRECT_URI": f"http://127.0.0.1:{_free_port()}/callback",
        **env,
    }
    return load_oura_settings(values, tmp_path)


def _pair(access: str, refresh_token: str | None, expires_in: float = 3600) -> TokenPair:
    return TokenPair(
        access_token=access,
        refresh_token=refresh_token,
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
        scope="daily",
    )


def _seed(fake: _OuraFake, store: TokenStore, *, expires_in: float = 3600) -> TokenPair:
    """A stored pair the fake accepts (as if authorized earlier)."""
    with fake.lock:
        issued = fake.issue()
    pair = _pair(issued["access_token"], issued["refresh_token"], expires_in)
    store.save(pair)
    return pair


# ------------------------------------------------------------------------ settings
def test_settings_defaults(tmp_path: Path) -> None:
    s = load_oura_settings({}, tmp_path)
    assert s.api_base == "https://api.ouraring.com"
    assert s.authorize_url == "https://cloud.ouraring.com/oauth/authorize"
    assert s.token_url == "https://api.ouraring.com/oauth/token"
    assert s.redirect_uri == "http://127.0.0.1:8766/callback"
    assert s.token_dir == tmp_path / "secrets"
    assert s.token_path("me") == tmp_path / "secrets" / "oura_me.json"
    assert s.scopes.split() == [
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
    ]


def test_settings_overrides_and_redaction(tmp_path: Path) -> None:
    env = {
        "OURA_API_BASE": "http://127.0.0.1:8000/",
        "OURA_TOKEN_DIR": str(tmp_path / "tokens"),
        "OURA_CLIENT_ID": "cid",
        "OURA_CLIENT_SECRET": CLIENT_SECRET,
        "OURA_PERSONAL_ACCESS_TOKEN": "pat-value-123",
    }
    s = load_oura_settings(env, tmp_path)
    assert s.api_base == "http://127.0.0.1:8000"
    assert s.token_dir == tmp_path / "tokens"
    red = s.redacted()
    assert red["OURA_CLIENT_SECRET"] == "***" and red["OURA_PERSONAL_ACCESS_TOKEN"] == "***"
    assert red["OURA_CLIENT_ID"] == "cid"
    for text in (repr(s), json.dumps(red)):
        assert CLIENT_SECRET not in text and "pat-value-123" not in text


@pytest.mark.parametrize(
    "name", ["OURA_API_BASE", "OURA_AUTHORIZE_URL", "OURA_TOKEN_URL", "OURA_REDIRECT_URI"]
)
def test_settings_refuse_non_http_urls(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_oura_settings({name: "ftp://example.org/x"}, tmp_path)


# ------------------------------------------------------------------------ token file
def test_token_file_is_private_and_written_atomically(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "secrets" / "oura_me.json")
    assert store.account == "me"
    store.save(_pair("a1", "r1"))
    first_inode = store.path.stat().st_ino
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    store.save(_pair("a2", "r2"))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.path.stat().st_ino != first_inode  # a new file renamed over the old one
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["oura_me.json"]  # no temp
    doc = json.loads(store.path.read_text())
    assert set(doc) == {"access_token", "refresh_token", "expires_at", "scope", "token_type"}
    assert doc["access_token"] == "a2" and doc["refresh_token"] == "r2"
    assert datetime.fromisoformat(doc["expires_at"]).utcoffset() == timedelta(0)
    loaded = store.load()
    assert loaded is not None and loaded.access_token == "a2"
    assert "a2" not in repr(loaded) and "r2" not in repr(loaded)


def test_unreadable_token_file_names_the_command(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "oura_me.json")
    store.path.write_text("{not json")
    with pytest.raises(AuthError, match="lakehouse auth oura --account me"):
        store.load()


# ------------------------------------------------------------------------ authorize URL
def test_authorize_url_carries_the_flow_parameters(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    query = parse_qs(urlsplit(authorize_url(s, "st4te")).query)
    assert {k: v[0] for k, v in query.items()} == {
        "response_type": "code",
        "client_id": "client-id-1",
        "redirect_uri": s.redirect_uri,
        "scope": s.scopes,
        "state": "st4te",
    }
    assert authorize_url(s, "x").startswith("https://cloud.ouraring.com/oauth/authorize?")


def test_authorization_needs_the_app_credentials(tmp_path: Path) -> None:
    s = load_oura_settings({}, tmp_path)
    with pytest.raises(ConfigError, match="OURA_CLIENT_ID and OURA_CLIENT_SECRET"):
        run_authorization(s, "me", open_browser=False, headless=True, echo=print)


# ------------------------------------------------------------------------ refresh
def test_refresh_rotates_and_persists_the_new_pair(fake: _OuraFake, tmp_path: Path) -> None:
    s = _settings(tmp_path, fake)
    store = token_store(s, "me")
    old = _seed(fake, store, expires_in=-10)
    new = refresh(s, store)
    assert new.access_token != old.access_token and new.refresh_token != old.refresh_token
    on_disk = store.load()
    assert on_disk is not None
    assert (on_disk.access_token, on_disk.refresh_token) == (new.access_token, new.refresh_token)
    assert fake.posts[-1]["grant_type"] == "refresh_token"
    assert fake.posts[-1]["refresh_token"] == old.refresh_token
    assert fake.posts[-1]["client_id"] == "client-id-1"
    # the old refresh token is dead now: using it again is refused with the fix named
    store.save(old)
    with pytest.raises(AuthError) as err:
        refresh(s, store)
    message = str(err.value)
    assert "the refresh token was refused (it is single-use, or the app was revoked)" in message
    assert "`lakehouse auth oura --account me`" in message
    for secret in (CLIENT_SECRET, old.refresh_token, old.access_token, new.access_token):
        assert secret not in message


def test_new_pair_is_on_disk_before_it_is_used(fake: _OuraFake, tmp_path: Path) -> None:
    s = _settings(tmp_path, fake)
    store = token_store(s, "me")
    old = _seed(fake, store)
    fake.valid_access.discard(old.access_token)  # revoked server-side: the API answers 401
    fake.token_file = store.path
    auth = OuraAuth(s, "me")
    client = OuraClient(s, auth, policy=RetryPolicy(max_attempts=1), sleep=lambda _: None)
    (page,) = list(client.pages("daily_sleep", date(2024, 11, 1), date(2024, 11, 2)))
    client.close()
    assert page.status == 200
    refreshes = [p for p in fake.posts if p["grant_type"] == "refresh_token"]
    assert len(refreshes) == 1
    # when the API first saw the new access token, the file already held the new pair
    (seen,) = fake.seen_file_at_use
    assert seen["access_token"] == auth.store.load().access_token  # type: ignore[union-attr]
    assert seen["refresh_token"] != old.refresh_token
    assert seen["refresh_token"] in fake.valid_refresh


def test_expired_token_is_refreshed_before_use(fake: _OuraFake, tmp_path: Path) -> None:
    s = _settings(tmp_path, fake)
    store = token_store(s, "me")
    old = _seed(fake, store, expires_in=30)  # inside the 60 s leeway
    headers = OuraAuth(s, "me").headers()
    assert headers["Authorization"] != f"Bearer {old.access_token}"
    assert len(fake.posts) == 1
    fresh = OuraAuth(s, "me").headers()  # a new process reads the refreshed file: no POST
    assert fresh == headers and len(fake.posts) == 1


def test_a_refresh_done_by_another_process_is_reused(fake: _OuraFake, tmp_path: Path) -> None:
    s = _settings(tmp_path, fake)
    store = token_store(s, "me")
    stale = _seed(fake, store, expires_in=-5)
    newer = _seed(fake, store)  # "another process" refreshed and wrote the file
    got = refresh(s, store, stale=stale)
    assert got.access_token == newer.access_token
    assert fake.posts == []


def test_concurrent_refreshes_post_once(fake: _OuraFake, tmp_path: Path) -> None:
    s = _settings(tmp_path, fake)
    stale = _seed(fake, token_store(s, "me"), expires_in=-5)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            # separate stores: separate lock file descriptions, as in two processes
            results.append(refresh(s, token_store(s, "me"), stale=stale).access_token)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len([p for p in fake.posts if p["grant_type"] == "refresh_token"]) == 1
    assert len(set(results)) == 1 and len(results) == 4


def test_no_token_and_no_pat_says_what_to_run(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    with pytest.raises(ConfigError) as err:
        OuraAuth(s, "alice").headers()
    assert str(err.value) == (
        "no Oura token for account alice: run `lakehouse auth oura --account alice` "
        "(or set OURA_PERSONAL_ACCESS_TOKEN)"
    )


def test_personal_access_token_wins(tmp_path: Path) -> None:
    s = _settings(tmp_path, OURA_PERSONAL_ACCESS_TOKEN="pat-abc")
    auth = OuraAuth(s, "legacy")
    assert auth.headers() == {"Authorization": "Bearer pat-abc"}
    auth.on_unauthorized()  # nothing to refresh; the 401 is explained by the caller
    assert not s.token_path("legacy").exists()
    assert "pat-abc" not in repr(auth)


# ------------------------------------------------------------------ authorization flow
def _flow_settings(tmp_path: Path, fake: _OuraFake) -> OuraSettings:
    return _settings(tmp_path, fake)


def _authorize_in_fake(fake: _OuraFake, url: str, code: str) -> str:
    """What Oura does when the user approves: register the code, return the state."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    with fake.lock:
        fake.codes[code] = query["redirect_uri"]
    return query["state"]


def test_loopback_callback_end_to_end(fake: _OuraFake, tmp_path: Path) -> None:
    s = _flow_settings(tmp_path, fake)
    lines: list[str] = []
    url_ready = threading.Event()
    outcome: dict[str, object] = {}

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith(s.authorize_url):
            url_ready.set()

    def flow() -> None:
        try:
            outcome["path"] = run_authorization(
                s, "me", open_browser=False, headless=False, echo=echo, timeout=20
            )
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=flow)
    thread.start()
    assert url_ready.wait(10)
    url = next(line for line in lines if line.startswith(s.authorize_url))
    state = _authorize_in_fake(fake, url, "the-code-1")
    # the browser is redirected back: first a stray request, then the callback
    assert (
        requests.get(s.redirect_uri.replace("/callback", "/favicon.ico"), timeout=5).status_code
        == 404
    )
    resp = requests.get(s.redirect_uri, params={"code": "the-code-1", "state": state}, timeout=5)
    thread.join(20)
    assert resp.status_code == 200 and "close this tab" in resp.text
    assert "error" not in outcome, outcome.get("error")
    path = outcome["path"]
    assert path == s.token_path("me")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    pair = TokenStore(path).load()
    assert pair is not None and pair.access_token in fake.valid_access
    (post,) = fake.posts
    assert post == {
        "grant_type": "authorization_code",
        "code": "the-code-1",
        "redirect_uri": s.redirect_uri,
        "client_id": "client-id-1",
        "client_secret": CLIENT_SECRET,
    }


def _run_callback(s: OuraSettings, query: dict[str, str] | None) -> BaseException | None:
    lines: list[str] = []
    ready = threading.Event()
    outcome: dict[str, BaseException] = {}

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith(s.authorize_url):
            ready.set()

    def flow() -> None:
        try:
            run_authorization(s, "me", open_browser=False, headless=False, echo=echo, timeout=20)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=flow)
    thread.start()
    assert ready.wait(10)
    requests.get(s.redirect_uri, params=query, timeout=5)
    thread.join(20)
    return outcome.get("error")


def test_callback_with_wrong_state_is_rejected(fake: _OuraFake, tmp_path: Path) -> None:
    s = _flow_settings(tmp_path, fake)
    fake.codes["c"] = s.redirect_uri
    error = _run_callback(s, {"code": "c", "state": "forged"})
    assert isinstance(error, AuthError) and "state does not match" in str(error)
    assert fake.posts == [] and not s.token_path("me").exists()


def test_callback_with_error_is_reported(fake: _OuraFake, tmp_path: Path) -> None:
    s = _flow_settings(tmp_path, fake)
    error = _run_callback(s, {"error": "access_denied"})
    assert isinstance(error, AuthError) and "access_denied" in str(error)


def test_headless_paste_path(fake: _OuraFake, tmp_path: Path) -> None:
    s = _flow_settings(tmp_path, fake)
    lines: list[str] = []

    def paste(prompt: str) -> str:
        url = next(line for line in lines if line.startswith(s.authorize_url))
        state = _authorize_in_fake(fake, url, "pasted-code")
        return f"  {s.redirect_uri}?code=pasted-code&state={state}\n"

    path = run_authorization(
        s, "me", open_browser=False, headless=True, echo=lines.append, input_fn=paste
    )
    assert path == s.token_path("me") and TokenStore(path).load() is not None
    assert fake.posts[0]["code"] == "pasted-code"


def test_headless_paste_with_wrong_state_is_rejected(fake: _OuraFake, tmp_path: Path) -> None:
    s = _flow_settings(tmp_path, fake)
    with pytest.raises(AuthError, match="state does not match"):
        run_authorization(
            s,
            "me",
            open_browser=False,
            headless=True,
            echo=lambda _: None,
            input_fn=lambda _: f"{s.redirect_uri}?code=x&state=not-the-state",
        )
    assert fake.posts == []


def test_refused_code_and_client_name_the_fix(fake: _OuraFake, tmp_path: Path) -> None:
    s = _flow_settings(tmp_path, fake)
    with pytest.raises(AuthError, match="authorization code was refused") as err:
        exchange_code(s, "never-issued", account="me")
    assert "`lakehouse auth oura --account me`" in str(err.value)
    bad = _settings(tmp_path, fake, OURA_CLIENT_SECRET="wrong-secret-value")
    with pytest.raises(AuthError, match="OURA_CLIENT_SECRET") as err:
        exchange_code(bad, "c", account="me")
    assert "wrong-secret-value" not in str(err.value)


def test_secrets_never_reach_the_logs(
    fake: _OuraFake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    s = _flow_settings(tmp_path, fake)
    store = token_store(s, "me")
    old = _seed(fake, store, expires_in=-5)
    auth = OuraAuth(s, "me")
    auth.headers()  # proactive refresh
    auth.on_unauthorized()  # and one on demand
    new = store.load()
    assert new is not None
    lines: list[str] = []

    def paste(prompt: str) -> str:
        url = next(line for line in lines if line.startswith(s.authorize_url))
        return f"{s.redirect_uri}?code=log-code&state={_authorize_in_fake(fake, url, 'log-code')}"

    run_authorization(s, "me", open_browser=False, headless=True, echo=lines.append, input_fn=paste)
    assert any("refreshed" in r.getMessage() for r in caplog.records)
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    for secret in (
        CLIENT_SECRET,
        old.access_token,
        old.refresh_token,
        new.access_token,
        new.refresh_token,
    ):
        assert secret and secret not in logged
    # what the user sees holds no secret either (the authorize URL carries the client id only)
    assert all(CLIENT_SECRET not in line for line in lines)
