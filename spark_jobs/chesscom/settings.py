"""chess.com's own settings, from the environment (or `.env`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from spark_jobs.settings import url_setting

DEFAULT_API_BASE = "https://api.chess.com/pub"


@dataclass(frozen=True)
class ChessComSettings:
    api_base: str = DEFAULT_API_BASE  # CHESSCOM_API_BASE
    user_agent: str | None = None  # CHESSCOM_USER_AGENT: must carry contact info

    def redacted(self) -> dict[str, str]:
        return {
            "chesscom_api_base": self.api_base,
            "chesscom_user_agent": self.user_agent or "(not set)",
        }


def load_chesscom_settings(env: Mapping[str, str]) -> ChessComSettings:
    """Raises ConfigError (naming the variable) for a base URL without http(s) or a host."""
    base = url_setting(env, "CHESSCOM_API_BASE", DEFAULT_API_BASE) or DEFAULT_API_BASE
    return ChessComSettings(
        api_base=base.rstrip("/"), user_agent=env.get("CHESSCOM_USER_AGENT") or None
    )
