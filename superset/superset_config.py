"""Superset configuration for the personal lakehouse: one local user, no outbound calls.

Loaded by Superset through SUPERSET_CONFIG_PATH (`lakehouse dashboards ...` sets it).
Everything Superset writes lives under $LAKEHOUSE_HOME/superset/:

    superset.db      metadata (users, dashboards, charts) in SQLite
    secret_key       generated once (mode 0600) unless SUPERSET_SECRET_KEY is set
    admin_password   generated once by `lakehouse dashboards import` (mode 0600)

This file runs in Superset's own venv: it must not import the `spark_jobs` package.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

_PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAKEHOUSE_HOME = Path(os.environ.get("LAKEHOUSE_HOME") or _PROJECT_ROOT / ".lakehouse").resolve()
SUPERSET_HOME = LAKEHOUSE_HOME / "superset"
SUPERSET_HOME.mkdir(parents=True, exist_ok=True)


def _read_or_create_secret(path: Path, nbytes: int = 42) -> str:
    """The secret stored in `path`, generated (atomically, mode 0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(nbytes)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
        # link() fails if another process won the race: keep its value, not ours.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text().strip()


# Signs sessions and encrypts stored connection passwords: keep it stable.
SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY") or _read_or_create_secret(
    SUPERSET_HOME / "secret_key"
)

SQLALCHEMY_DATABASE_URI = f"sqlite:///{SUPERSET_HOME / 'superset.db'}?check_same_thread=false"

APP_NAME = "Lakehouse"

# Single user on localhost: no example data, no telemetry, no third-party assets.
SUPERSET_WEBSERVER_TIMEOUT = 120
ROW_LIMIT = 50000
SQLLAB_TIMEOUT = 120
SQLLAB_CTAS_NO_LIMIT = True
SHOW_STACKTRACE = False
DEBUG = False
FEATURE_FLAGS = {
    "DASHBOARD_RBAC": False,
    "ALERT_REPORTS": False,
    "THUMBNAILS": False,
    "ENABLE_TEMPLATE_PROCESSING": False,
}
# The default policy lets the browser reach the Scarf telemetry pixel, Mapbox and tile
# servers; only this server may be contacted.
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
CONTENT_SECURITY_POLICY_WARNING = False
PERMANENT_SESSION_LIFETIME = timedelta(days=7)


# Chart data is not cached (DuckDB answers in milliseconds and a refresh must show at once).
# Shared state goes to files, not process memory: gunicorn's workers must all see it.
def _file_cache(name: str, timeout: int) -> dict[str, object]:
    return {
        "CACHE_TYPE": "FileSystemCache",
        "CACHE_DIR": str(SUPERSET_HOME / "cache" / name),
        "CACHE_DEFAULT_TIMEOUT": timeout,
    }


CACHE_CONFIG = _file_cache("metadata", 300)
FILTER_STATE_CACHE_CONFIG = _file_cache("filter_state", 86400)
EXPLORE_FORM_DATA_CACHE_CONFIG = _file_cache("explore", 86400)
# Rate limiting needs shared storage across workers; pointless for one local user.
RATELIMIT_ENABLED = False
