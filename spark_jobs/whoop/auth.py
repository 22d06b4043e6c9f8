"""WHOOP OAuth2: the shared authorization code flow (spark_jobs/common/oauth.py).

    lakehouse auth whoop --account me            # opens the browser, waits on the callback
    lakehouse auth whoop --account me --headless # paste the redirect URL instead

Scopes: `offline` (without it WHOOP issues no refresh token) and every `read:*` the
pipeline reads. Access tokens last an hour and **every refresh returns a new refresh
token**, the old one dead at once; presenting a used one again revokes the grant (WHOOP's
OAuth server is Ory Hydra, which detects reuse). So, as for Oura, a refresh runs under an
exclusive lock on the account's token file, re-reads the file first, and writes the new
pair atomically (0600) before its access token is used.

A crash between WHOOP's answer to a refresh and the save is the one window that cannot be
closed from this side: the old refresh token is spent and the new one lost. Nothing else
happens in that window (the save is the next statement, under the lock), and the next run
says so plainly: "the refresh token was refused ...: run `lakehouse auth whoop`". A crash
anywhere else loses nothing: before the request the old pair is intact, after the save
the new pair is on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import requests

from spark_jobs.common.oauth import BearerAuth, Provider, TokenStore

PROVIDER = Provider(
    name="whoop",
    title="WHOOP",
    env_prefix="WHOOP",
    apps_url="https://developer-dashboard.whoop.com",
    # WHOOP's own refresh examples send scope=offline, so the new pair can refresh again.
    refresh_form={"scope": "offline"},
    default_expires_in=3600,
)


class WhoopAuth(BearerAuth):
    """Bearer token provider for WhoopClient: the account's token file, refreshed when it
    expires within 60 s and once when the API answers 401."""

    def __init__(
        self,
        settings,
        account: str,
        *,
        store: TokenStore | None = None,
        session: requests.Session | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(PROVIDER, settings, account, store=store, session=session, now=now)
