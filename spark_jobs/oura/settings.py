"""Oura settings, read from the environment (and `.env`, loaded by the caller).

OURA_CLIENT_ID / OURA_CLIENT_SECRET   the OAuth2 app (https://cloud.ouraring.com/oauth/applications)
OURA_REDIRECT_URI                     default http://127.0.0.1:8766/callback (register it)
OURA_PERSONAL_ACCESS_TOKEN            legacy accounts only (PATs are deprecated)
OURA_TOKEN_DIR                        where token files live (default <home>/secrets)
OURA_API_BASE, OURA_AUTHORIZE_URL, OURA_TOKEN_URL   for tests and sandboxes
OURA_OVERLAP_DAYS                     days after its end a window is still re-read (default 7)
OURA_HISTORY_START                    where a first run without --from starts (2018-01-01)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from spark_jobs.common.errors import ConfigError
from spark_jobs.settings import url_setting

SCOPES = (
    "email personal daily heartrate workout tag session spo2Daily stress heart_health "
    "ring_configuration"
)
"""Every scope the pipeline reads (space-separated, as the authorize URL wants it)."""

DEFAULT_API_BASE = "https://api.ouraring.com"
DEFAULT_AUTHORIZE_URL = "https://cloud.ouraring.com/oauth/authorize"
DEFAULT_TOKEN_URL = "https://api.ouraring.com/oauth/token"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8766/callback"


@dataclass(frozen=True)
class OuraSettings:
    """Resolved Oura settings. Build with :func:`load_oura_settings`."""

    token_dir: Path
    api_base: str = DEFAULT_API_BASE
    authorize_url: str = DEFAULT_AUTHORIZE_URL
    token_url: str = DEFAULT_TOKEN_URL
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    redirect_uri: str = DEFAULT_REDIRECT_URI
    personal_access_token: str | None = field(default=None, repr=False)
    scopes: str = SCOPES
    overlap_days: int = 7
    history_start: date = date(2018, 1, 1)

    def token_path(self, account: str) -> Path:
        """The token file of one account."""
        return self.token_dir / f"oura_{account}.json"

    def redacted(self) -> dict[str, str]:
        """Every setting as text, secrets replaced by '***' (for `lakehouse config`)."""

        def secret(value: str | None) -> str:
            return "***" if value else ""

        return {
            "OURA_API_BASE": self.api_base,
            "OURA_AUTHORIZE_URL": self.authorize_url,
            "OURA_TOKEN_URL": self.token_url,
            "OURA_CLIENT_ID": self.client_id or "",
            "OURA_CLIENT_SECRET": secret(self.client_secret),
            "OURA_REDIRECT_URI": self.redirect_uri,
            "OURA_PERSONAL_ACCESS_TOKEN": secret(self.personal_access_token),
            "OURA_TOKEN_DIR": str(self.token_dir),
            "scopes": self.scopes,
            "OURA_OVERLAP_DAYS": str(self.overlap_days),
            "OURA_HISTORY_START": self.history_start.isoformat(),
        }


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    # The shared check (http(s) and a host); the message names the variable and default.
    return url_setting(env, name, default) or default


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = (env.get(name) or "").strip()
    return value or None


def load_oura_settings(env: Mapping[str, str], home: Path) -> OuraSettings:
    """Read the Oura settings from `env`; `home` is LAKEHOUSE_HOME (token_dir default).

    Raises:
        ConfigError: a value is invalid; the message names the variable.
    """
    token_dir_value = _optional(env, "OURA_TOKEN_DIR")
    token_dir = Path(token_dir_value).expanduser() if token_dir_value else Path(home) / "secrets"
    redirect_uri = _url(env, "OURA_REDIRECT_URI", DEFAULT_REDIRECT_URI)
    if not urlsplit(redirect_uri).port and urlsplit(redirect_uri).hostname in (
        "127.0.0.1",
        "localhost",
    ):
        raise ConfigError(
            f"OURA_REDIRECT_URI={redirect_uri!r} needs a port for the local callback, "
            f"e.g. {DEFAULT_REDIRECT_URI}"
        )
    overlap = _optional(env, "OURA_OVERLAP_DAYS") or "7"
    if not overlap.isdigit():
        raise ConfigError(f"OURA_OVERLAP_DAYS={overlap!r} is not a number of days, e.g. 7")
    start = _optional(env, "OURA_HISTORY_START") or "2018-01-01"
    try:
        history_start = date.fromisoformat(start)
    except ValueError:
        raise ConfigError(f"OURA_HISTORY_START={start!r} is not a date: use YYYY-MM-DD") from None
    return OuraSettings(
        overlap_days=int(overlap),
        history_start=history_start,
        token_dir=token_dir,
        api_base=_url(env, "OURA_API_BASE", DEFAULT_API_BASE).rstrip("/"),
        authorize_url=_url(env, "OURA_AUTHORIZE_URL", DEFAULT_AUTHORIZE_URL),
        token_url=_url(env, "OURA_TOKEN_URL", DEFAULT_TOKEN_URL),
        client_id=_optional(env, "OURA_CLIENT_ID"),
        client_secret=_optional(env, "OURA_CLIENT_SECRET"),
        redirect_uri=redirect_uri,
        personal_access_token=_optional(env, "OURA_PERSONAL_ACCESS_TOKEN"),
    )
