"""Oura OAuth2: the shared flow (spark_jobs/common/oauth.py) with Oura's names, plus
legacy personal access tokens.

    lakehouse auth oura --account me            # opens the browser, waits on the callback
    lakehouse auth oura --account me --headless # paste the redirect URL instead

One token file per account, `<token_dir>/oura_<account>.json` (mode 0600, written
atomically). Oura refresh tokens are single-use: see spark_jobs/common/oauth.py for how a
refresh is serialised and persisted before use. Legacy accounts may set
OURA_PERSONAL_ACCESS_TOKEN instead (PATs are deprecated by Oura); it wins over a token file.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import requests

from spark_jobs.common import oauth
from spark_jobs.common.oauth import (
    EXPIRY_LEEWAY,
    AuthError,
    BearerAuth,
    TokenPair,
    TokenStore,
)
from spark_jobs.oura.settings import OuraSettings

__all__ = [
    "EXPIRY_LEEWAY",
    "PROVIDER",
    "AuthError",
    "OuraAuth",
    "TokenPair",
    "TokenStore",
    "authorize_url",
    "code_from_redirect",
    "exchange_code",
    "refresh",
    "run_authorization",
    "token_store",
]

PROVIDER = oauth.Provider(
    name="oura",
    title="Oura",
    env_prefix="OURA",
    apps_url="https://cloud.ouraring.com/oauth/applications",
    no_token_hint=" (or set OURA_PERSONAL_ACCESS_TOKEN)",
)


def auth_command(account: str) -> str:
    return PROVIDER.auth_command(account)


def token_store(settings: OuraSettings, account: str) -> TokenStore:
    """The token store of `account` in the configured token directory."""
    return oauth.token_store(PROVIDER, settings, account)


def authorize_url(settings: OuraSettings, state: str) -> str:
    """The URL the user opens to grant this app access."""
    return oauth.authorize_url(PROVIDER, settings, state)


def code_from_redirect(url: str, state: str) -> str:
    """The code of a pasted redirect URL (`...?code=...&state=...`)."""
    return oauth.code_from_redirect(PROVIDER, url, state)


def exchange_code(
    settings: OuraSettings,
    code: str,
    *,
    account: str = "NAME",
    session: requests.Session | None = None,
    now: datetime | None = None,
) -> TokenPair:
    """Trade an authorization code for a token pair."""
    return oauth.exchange_code(PROVIDER, settings, code, account=account, session=session, now=now)


def refresh(
    settings: OuraSettings,
    store: TokenStore,
    *,
    stale: TokenPair | None = None,
    session: requests.Session | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> TokenPair:
    """Renew the stored pair and persist it before returning (see oauth.refresh)."""
    return oauth.refresh(PROVIDER, settings, store, stale=stale, session=session, now=now)


class OuraAuth(BearerAuth):
    """Bearer token provider for OuraClient: OURA_PERSONAL_ACCESS_TOKEN when set, else the
    account's token file, refreshed when it expires within 60 s and once on a 401."""

    def __init__(
        self,
        settings: OuraSettings,
        account: str,
        *,
        store: TokenStore | None = None,
        session: requests.Session | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(
            PROVIDER,
            settings,
            account,
            store=store or token_store(settings, account),
            session=session,
            now=now,
            static_token=settings.personal_access_token,
        )

    @property
    def uses_pat(self) -> bool:
        return bool(self.settings.personal_access_token)


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
    """The authorization code flow, end to end; returns the token file written."""
    return oauth.run_authorization(
        PROVIDER,
        settings,
        account,
        open_browser=open_browser,
        headless=headless,
        echo=echo,
        input_fn=input_fn,
        timeout=timeout,
    )
