"""WHOOP settings, read from the environment (and `.env`, loaded by the caller).

WHOOP_CLIENT_ID / WHOOP_CLIENT_SECRET  the OAuth2 app (https://developer-dashboard.whoop.com)
WHOOP_REDIRECT_URI                     default http://127.0.0.1:8767/callback (register it)
WHOOP_TOKEN_DIR                        where token files live (default <home>/secrets)
WHOOP_API_BASE                         default https://api.prod.whoop.com/developer
WHOOP_OAUTH_BASE                       default https://api.prod.whoop.com/oauth/oauth2
                                       (`/auth` and `/token` under it)
WHOOP_OVERLAP_DAYS                     days after its end a month is still re-read (7)
WHOOP_HISTORY_START                    the month a first run without --from starts (2020-01)
WHOOP_ACCOUNTS                         the default accounts of `lakehouse ingest whoop`
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from spark_jobs.common.errors import ConfigError
from spark_jobs.common.periods import validate_month
from spark_jobs.settings import url_setting

SCOPES = (
    "offline read:profile read:body_measurement read:cycles read:sleep read:recovery read:workout"
)
"""Every scope the pipeline reads; `offline` is what makes WHOOP issue a refresh token."""

DEFAULT_API_BASE = "https://api.prod.whoop.com/developer"
DEFAULT_OAUTH_BASE = "https://api.prod.whoop.com/oauth/oauth2"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8767/callback"
DEFAULT_HISTORY_START = "2020-01"  # WHOOP 3.0 (2019) and later straps


@dataclass(frozen=True)
class WhoopSettings:
    """Resolved WHOOP settings. Build with :func:`load_whoop_settings`."""

    token_dir: Path
    api_base: str = DEFAULT_API_BASE
    oauth_base: str = DEFAULT_OAUTH_BASE
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    redirect_uri: str = DEFAULT_REDIRECT_URI
    scopes: str = SCOPES
    overlap_days: int = 7
    history_start: str = DEFAULT_HISTORY_START

    @property
    def authorize_url(self) -> str:
        return f"{self.oauth_base}/auth"

    @property
    def token_url(self) -> str:
        return f"{self.oauth_base}/token"

    def token_path(self, account: str) -> Path:
        """The token file of one account."""
        return self.token_dir / f"whoop_{account}.json"

    def redacted(self) -> dict[str, str]:
        """Every setting as text, the secret replaced by '***' (for `lakehouse config`)."""
        return {
            "WHOOP_API_BASE": self.api_base,
            "WHOOP_OAUTH_BASE": self.oauth_base,
            "WHOOP_CLIENT_ID": self.client_id or "",
            "WHOOP_CLIENT_SECRET": "***" if self.client_secret else "",
            "WHOOP_REDIRECT_URI": self.redirect_uri,
            "WHOOP_TOKEN_DIR": str(self.token_dir),
            "scopes": self.scopes,
            "WHOOP_OVERLAP_DAYS": str(self.overlap_days),
            "WHOOP_HISTORY_START": self.history_start,
        }


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = (env.get(name) or "").strip()
    return value or None


def load_whoop_settings(env: Mapping[str, str], home: Path) -> WhoopSettings:
    """Read the WHOOP settings from `env`; `home` is LAKEHOUSE_HOME (token_dir default).

    Raises:
        ConfigError: a value is invalid; the message names the variable.
    """
    token_dir_value = _optional(env, "WHOOP_TOKEN_DIR")
    token_dir = Path(token_dir_value).expanduser() if token_dir_value else Path(home) / "secrets"
    redirect_uri = url_setting(env, "WHOOP_REDIRECT_URI", DEFAULT_REDIRECT_URI) or ""
    parts = urlsplit(redirect_uri)
    if not parts.port and parts.hostname in ("127.0.0.1", "localhost"):
        raise ConfigError(
            f"WHOOP_REDIRECT_URI={redirect_uri!r} needs a port for the local callback, "
            f"e.g. {DEFAULT_REDIRECT_URI}"
        )
    overlap = _optional(env, "WHOOP_OVERLAP_DAYS") or "7"
    if not overlap.isdigit():
        raise ConfigError(f"WHOOP_OVERLAP_DAYS={overlap!r} is not a number of days, e.g. 7")
    start = _optional(env, "WHOOP_HISTORY_START") or DEFAULT_HISTORY_START
    validate_month(start, "WHOOP_HISTORY_START")
    return WhoopSettings(
        token_dir=token_dir,
        api_base=(url_setting(env, "WHOOP_API_BASE", DEFAULT_API_BASE) or "").rstrip("/"),
        oauth_base=(url_setting(env, "WHOOP_OAUTH_BASE", DEFAULT_OAUTH_BASE) or "").rstrip("/"),
        client_id=_optional(env, "WHOOP_CLIENT_ID"),
        client_secret=_optional(env, "WHOOP_CLIENT_SECRET"),
        redirect_uri=redirect_uri,
        overlap_days=int(overlap),
        history_start=start,
    )
