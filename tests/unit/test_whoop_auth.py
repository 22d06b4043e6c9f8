"""WHOOP OAuth2 against the sandbox's token endpoint (rotation with reuse detection, as
WHOOP's Ory Hydra): the code flow, one refresh for concurrent processes, crashes around a
refresh."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import requests

from spark_jobs.common import oauth
from spark_jobs.common.oauth import AuthError, TokenPair
from spark_jobs.sandbox.server import SandboxServer
from spark_jobs.sandbox.whoop import (
    ALL_SCOPES,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    WhoopApp,
    WhoopStore,
)
from spark_jobs.whoop.auth import PROVIDER, WhoopAuth
from spark_jobs.whoop.settings import load_whoop_settings


@pytest.fixture(scope="module")
def store() -> WhoopStore:
    store = WhoopStore()
    for account in ("me", "you", "kid", "gran"):
        store.add_generated_person(account, date(2024, 3, 1), date(2024, 3, 3))
    return store


@pytest.fixture(scope="module")
def server(store: WhoopStore) -> Iterator[SandboxServer]:
    with SandboxServer() as srv:
        srv.mount("whoop", WhoopApp(store))
        yield srv


def _settings(server: SandboxServer, tmp: Path, **extra: str):
    base = server.base_url("whoop")
    env = {
        "WHOOP_API_BASE": f"{base}/developer",
        "WHOOP_OAUTH_BASE": f"{base}/oauth/oauth2",
        "WHOOP_CLIENT_ID": DEFAULT_CLIENT_ID,
        "WHOOP_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "WHOOP_TOKEN_DIR": str(tmp),
        **extra,
    }
    return load_whoop_settings(env, tmp)


def _saved(store: WhoopStore, settings, account: str, *, expired: bool) -> TokenPair:
    access, refresh = store.issue_token(account)
    pair = TokenPair(
        access,
        refresh,
        datetime.now(UTC) + (timedelta(minutes=-1) if expired else timedelta(hours=1)),
        " ".join(sorted(ALL_SCOPES)),
    )
    WhoopAuth(settings, account).store.save(pair)
    return pair


def _profile(server: SandboxServer, token: str) -> int:
    url = f"{server.base_url('whoop')}/developer/v2/user/profile/basic"
    return requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code


def test_headless_code_flow_asks_for_offline_and_a_long_state(server, tmp_path) -> None:
    settings = _settings(server, tmp_path)
    lines: list[str] = []

    def paste(prompt: str) -> str:
        # The user approves in a browser; the sandbox redirects with code and state.
        url = next(line for line in lines if "/oauth/oauth2/auth?" in line)
        assert "offline" in url and "read%3Arecovery" in url
        resp = requests.get(f"{url}&account=me", allow_redirects=False, timeout=5)
        assert resp.status_code == 302, resp.text
        return resp.headers["Location"]

    path = oauth.run_authorization(
        PROVIDER, settings, "me", open_browser=False, headless=True,
        echo=lines.append, input_fn=paste,
    )  # fmt: skip
    pair = WhoopAuth(settings, "me").store.load()
    assert path == settings.token_path("me") and (path.stat().st_mode & 0o777) == 0o600
    assert pair.refresh_token and _profile(server, pair.access_token) == 200
    assert pair.expires_at - datetime.now(UTC) <= timedelta(hours=1)


def test_concurrent_refreshes_send_one_and_nobody_is_logged_out(server, store, tmp_path) -> None:
    """Two processes find the token expired at once: the lock lets one refresh; the other
    re-reads the file and uses the new pair. Without the lock the second refresh would
    present a used refresh token, and reuse detection would revoke both."""
    settings = _settings(server, tmp_path)
    stale = _saved(store, settings, "you", expired=True)
    tokens: list[str] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        auth = WhoopAuth(settings, "you")
        barrier.wait()
        tokens.append(auth.access_token())

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(tokens)) == 1 and stale.access_token not in tokens
    assert _profile(server, tokens[0]) == 200  # the grant survived: no reuse was detected
    assert WhoopAuth(settings, "you").store.load().refresh_token != stale.refresh_token


def test_a_crash_after_the_save_or_before_the_request_loses_nothing(
    server, store, tmp_path, monkeypatch
) -> None:
    settings = _settings(server, tmp_path)
    _saved(store, settings, "kid", expired=True)
    # Killed before the refresh request went out: the old pair is intact and still works.
    real_post = oauth.post_token

    def killed_before(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(oauth, "post_token", killed_before)
    with pytest.raises(KeyboardInterrupt):
        WhoopAuth(settings, "kid").access_token()
    monkeypatch.setattr(oauth, "post_token", real_post)
    # Killed right after the new pair was saved, before it was used: the next process
    # finds it on disk and goes on without refreshing again.
    real_save = oauth.TokenStore.save

    def killed_after(self, pair):
        real_save(self, pair)
        raise KeyboardInterrupt

    monkeypatch.setattr(oauth.TokenStore, "save", killed_after)
    with pytest.raises(KeyboardInterrupt):
        WhoopAuth(settings, "kid").access_token()
    monkeypatch.setattr(oauth.TokenStore, "save", real_save)
    token = WhoopAuth(settings, "kid").access_token()
    assert _profile(server, token) == 200


def test_a_crash_between_answer_and_save_is_named_not_retried(
    server, store, tmp_path, monkeypatch
) -> None:
    """The one window no client can close: WHOOP rotated, the answer was lost. The next run
    does not loop on the spent token; it names the command that re-authorises."""
    settings = _settings(server, tmp_path)
    _saved(store, settings, "gran", expired=True)

    def lost(self, pair):
        raise KeyboardInterrupt

    monkeypatch.setattr(oauth.TokenStore, "save", lost)
    with pytest.raises(KeyboardInterrupt):
        WhoopAuth(settings, "gran").access_token()
    monkeypatch.undo()
    with pytest.raises(AuthError, match=r"refresh token was refused.*lakehouse auth whoop"):
        WhoopAuth(settings, "gran").access_token()


def test_missing_app_credentials_name_the_variables(tmp_path) -> None:
    settings = load_whoop_settings({}, tmp_path)
    with pytest.raises(AuthError, match="no WHOOP token for account me"):
        WhoopAuth(settings, "me").access_token()
    with pytest.raises(Exception, match="WHOOP_CLIENT_ID and WHOOP_CLIENT_SECRET not set"):
        oauth.authorize_url(PROVIDER, settings, "a-long-state")
