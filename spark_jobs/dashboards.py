"""Superset dashboards as code: import the bundle in superset/dashboards and serve it.

    lakehouse dashboards import     # metadata DB, admin user, serving file, bundle import
    lakehouse dashboards serve      # gunicorn on http://127.0.0.1:8088 (foreground)
    lakehouse dashboards refresh    # rewrite the DuckDB serving file only

Superset lives in its own venv (.venv-superset, created by infra/setup/superset-env.sh from
superset/requirements.txt); this module drives it through subprocesses and never imports
it. Its state lives under $LAKEHOUSE_HOME/superset (see superset/superset_config.py).

The engine the dashboards query is configuration (LAKEHOUSE_SUPERSET_ENGINE):
  duckdb (default)  the embedded lakehouse: DuckDB file $LAKEHOUSE_HOME/serving/lakehouse.duckdb
                    (views over the Iceberg marts, spark_jobs/serving.py), opened read-only;
  trino             production: trino://$TRINO_USER@$TRINO_HOST:$TRINO_PORT/$TRINO_CATALOG.
Datasets, charts and the dashboard are the same files for both; only the connection's
URI and engine parameters are rendered at import time.

The admin user is `admin`; its password comes from SUPERSET_ADMIN_PASSWORD, or is generated
once, stored in $LAKEHOUSE_HOME/superset/admin_password (mode 0600) and printed once.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark_jobs.common.files import write_atomic
from spark_jobs.settings import Settings, SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SUPERSET_DIR = PROJECT_ROOT / "superset"
BUNDLE_DIR = SUPERSET_DIR / "dashboards"
CONFIG_FILE = SUPERSET_DIR / "superset_config.py"
IMPORT_HELPER = SUPERSET_DIR / "import_bundle.py"
DEFAULT_VENV = PROJECT_ROOT / ".venv-superset"

ADMIN_USER = "admin"
ENGINES = ("duckdb", "trino")
ADMIN_CREATED_MARK = "created Superset admin user"  # printed by superset/import_bundle.py
DASHBOARD_SLUGS = ("chess", "health")
"""The dashboards of the bundle (superset/dashboards/dashboards/*.yaml), by slug."""
DATABASE_FILE = "databases/Lakehouse.yaml"
URI_PLACEHOLDER = "__LAKEHOUSE_SQLALCHEMY_URI__"
ENGINE_PARAMS_PLACEHOLDER = "__LAKEHOUSE_ENGINE_PARAMS__"


class DashboardsError(RuntimeError):
    """Superset is not set up or a step failed; the message says what to do."""


@dataclass(frozen=True)
class Connection:
    """The Superset database connection to the marts for one engine."""

    engine: str
    sqlalchemy_uri: str
    engine_params: dict[str, Any]
    password: str | None = None


def superset_venv(env: Mapping[str, str] | None = None) -> Path:
    """Superset's venv (LAKEHOUSE_SUPERSET_VENV, default .venv-superset in the repo)."""
    env = os.environ if env is None else env
    return Path(env.get("LAKEHOUSE_SUPERSET_VENV") or DEFAULT_VENV)


def _venv_bin(name: str, env: Mapping[str, str] | None = None) -> Path:
    path = superset_venv(env) / "bin" / name
    if not path.exists():
        raise DashboardsError(
            f"Superset is not installed ({path} is missing): run `make setup` "
            "(or `bash infra/setup/superset-env.sh`)"
        )
    return path


def superset_home(settings: Settings) -> Path:
    """Where Superset keeps its metadata DB, secret key and admin password."""
    return settings.home / "superset"


def admin_password_file(settings: Settings) -> Path:
    return superset_home(settings) / "admin_password"


def write_secret(path: Path, value: str) -> None:
    """Write `value` to `path` atomically with mode 0600 (never readable by others)."""
    write_atomic(path, value + "\n", mode=0o600)


def admin_password(settings: Settings, env: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """The admin password and whether it was generated just now (print it once then).

    SUPERSET_ADMIN_PASSWORD wins; otherwise the stored one, else a new random one.
    """
    env = os.environ if env is None else env
    given = env.get("SUPERSET_ADMIN_PASSWORD")
    if given:
        if given.strip().lower() in ("admin", "password") or len(given) < 8:
            raise SettingsError(
                "SUPERSET_ADMIN_PASSWORD is too weak: use at least 8 characters, not 'admin'"
            )
        return given
    path = admin_password_file(settings)
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(18)
    write_secret(path, password)
    return password


def engine_from_env(env: Mapping[str, str] | None = None) -> str:
    """The engine the dashboards query: LAKEHOUSE_SUPERSET_ENGINE=duckdb|trino."""
    env = os.environ if env is None else env
    engine = (env.get("LAKEHOUSE_SUPERSET_ENGINE") or "duckdb").strip().lower()
    if engine not in ENGINES:
        raise SettingsError(
            f"LAKEHOUSE_SUPERSET_ENGINE={engine!r} is not supported; use one of: "
            f"{', '.join(ENGINES)}"
        )
    return engine


def duckdb_extension_dir(env: Mapping[str, str] | None = None) -> str:
    """The iceberg extension folder inside Superset's venv (duckdb-ext wheel)."""
    python = _venv_bin("python", env)
    out = subprocess.run(
        [str(python), "-c", "import duckdb_ext; print(duckdb_ext.get_extension_dir())"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise DashboardsError(
            f"duckdb-ext is missing from {superset_venv(env)}: run `make setup`\n{out.stderr}"
        )
    return out.stdout.strip()


def connection(
    settings: Settings, env: Mapping[str, str] | None = None, extension_dir: str | None = None
) -> Connection:
    """The connection for the configured engine (no secrets in the URI)."""
    from spark_jobs.serving import serving_path

    env = os.environ if env is None else env
    engine = engine_from_env(env)
    if engine == "duckdb":
        ext_dir = extension_dir or duckdb_extension_dir(env)
        return Connection(
            engine="duckdb",
            sqlalchemy_uri=f"duckdb:///{serving_path(settings)}",
            engine_params={
                "connect_args": {
                    # Several gunicorn workers open the file at once; the file is replaced
                    # (never written in place) by `lakehouse dashboards refresh`.
                    "read_only": True,
                    "config": {
                        "extension_directory": ext_dir,
                        "autoinstall_known_extensions": False,
                        "autoload_known_extensions": True,
                    },
                    "preload_extensions": ["iceberg"],
                }
            },
        )
    host = env.get("TRINO_HOST") or "localhost"
    port = env.get("TRINO_PORT") or "8080"
    user = env.get("TRINO_USER") or "superset"
    catalog = env.get("TRINO_CATALOG") or "lake"
    scheme = env.get("TRINO_HTTP_SCHEME") or "http"
    return Connection(
        engine="trino",
        sqlalchemy_uri=f"trino://{user}@{host}:{port}/{catalog}",
        engine_params={"connect_args": {"http_scheme": scheme}},
        password=env.get("TRINO_PASSWORD") or None,
    )


def render_bundle(conn: Connection, dest: Path, source: Path = BUNDLE_DIR) -> Path:
    """Zip the YAML bundle with the connection filled in; returns the zip path."""
    import yaml

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    root = "lakehouse_dashboards"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(source.rglob("*.yaml")):
            rel = path.relative_to(source).as_posix()
            text = path.read_text()
            if rel == DATABASE_FILE:
                config = yaml.safe_load(text)
                if config.get("sqlalchemy_uri") != URI_PLACEHOLDER:
                    raise DashboardsError(f"{path}: sqlalchemy_uri must be {URI_PLACEHOLDER}")
                config["sqlalchemy_uri"] = conn.sqlalchemy_uri
                config["extra"]["engine_params"] = conn.engine_params
                text = yaml.safe_dump(config, sort_keys=False)
            bundle.writestr(f"{root}/{rel}", text)
    os.replace(tmp, dest)
    return dest


def superset_env(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for Superset's processes: config file, lakehouse home, no secrets."""
    base = dict(os.environ if env is None else env)
    for key in ("SUPERSET_ADMIN_PASSWORD", "TRINO_PASSWORD"):
        base.pop(key, None)
    base.update(
        SUPERSET_CONFIG_PATH=str(CONFIG_FILE),
        LAKEHOUSE_HOME=str(settings.home),
        FLASK_APP="superset",
        PYTHONUNBUFFERED="1",
    )
    return base


def _run(step: str, args: list[str], env: dict[str, str], echo: Callable[[str], None]) -> str:
    start = time.monotonic()
    out = subprocess.run(args, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)
    took = time.monotonic() - start
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-25:])
        raise DashboardsError(f"{step} failed (exit {out.returncode}):\n{tail}")
    echo(f"  {step}: ok ({took:.0f} s)")
    return out.stdout


def dashboard_url(host: str = "127.0.0.1", port: int = 8088, slug: str = "chess") -> str:
    return f"http://{host}:{port}/superset/dashboard/{slug}/"


def import_dashboards(
    settings: Settings,
    *,
    echo: Callable[[str], None] = print,
    env: Mapping[str, str] | None = None,
) -> Connection:
    """Set up Superset's metadata DB and (re)import the bundle; idempotent.

    Steps: `superset db upgrade`, `superset init`, admin user (created if missing), the
    serving file (DuckDB engine), then the connection, datasets and charts (overwritten by
    UUID, so a changed engine or YAML file takes effect) and `superset import-dashboards`.

    Raises:
        DashboardsError: Superset is not installed or a step failed.
        SettingsError: bad configuration (engine, password, non-local warehouse).
    """
    env = os.environ if env is None else env
    superset = str(_venv_bin("superset", env))
    python = str(_venv_bin("python", env))
    conn = connection(settings, env)
    password = admin_password(settings, env)
    from_env = bool(env.get("SUPERSET_ADMIN_PASSWORD"))
    home = superset_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    if conn.engine == "duckdb":
        from spark_jobs.serving import mart_sources, refresh_serving

        echo(f"  serving file: {refresh_serving(settings)}")
        if not mart_sources(settings):
            echo("  warning: no marts yet, the charts will fail: run `lakehouse transform`")
    bundle = render_bundle(conn, home / "bundle.zip")
    run_env = superset_env(settings, env)
    _run("superset db upgrade", [superset, "db", "upgrade"], run_env, echo)
    _run("superset init", [superset, "init"], run_env, echo)
    helper_env = {**run_env, "LAKEHOUSE_SUPERSET_ADMIN_PASSWORD": password}
    if conn.password:
        helper_env["LAKEHOUSE_SUPERSET_DB_PASSWORD"] = conn.password
    helper_out = _run(
        f"admin user + connection ({conn.engine}), datasets, charts",
        [python, str(IMPORT_HELPER), "--bundle", str(bundle), "--admin", ADMIN_USER],
        helper_env,
        echo,
    )
    _run(
        "superset import-dashboards",
        [superset, "import-dashboards", "-p", str(bundle), "-u", ADMIN_USER],
        run_env,
        echo,
    )
    if ADMIN_CREATED_MARK in helper_out and not from_env:
        echo(f"Superset user {ADMIN_USER!r} created, password (shown once): {password}")
        echo(f"  stored in {admin_password_file(settings)} (mode 0600)")
    return conn


def login_hint(settings: Settings, env: Mapping[str, str] | None = None) -> str:
    """How to log in, without printing the password."""
    env = os.environ if env is None else env
    where = (
        "SUPERSET_ADMIN_PASSWORD"
        if env.get("SUPERSET_ADMIN_PASSWORD")
        else str(admin_password_file(settings))
    )
    return f"user {ADMIN_USER!r}, password in {where}"


def serve_command(host: str, port: int, env: Mapping[str, str] | None = None) -> list[str]:
    """gunicorn serving Superset: 2 workers x 4 threads suit 2 cores and one user."""
    gunicorn = str(_venv_bin("gunicorn", env))
    return [
        gunicorn,
        "--workers",
        "2",
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--timeout",
        "120",
        # Ctrl-C: do not wait the default 30 s for idle keep-alive threads.
        "--graceful-timeout",
        "10",
        "--bind",
        f"{host}:{port}",
        "--limit-request-line",
        "0",
        "--limit-request-field_size",
        "0",
        "superset.app:create_app()",
    ]


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8088,
    echo: Callable[[str], None] = print,
    env: Mapping[str, str] | None = None,
) -> None:
    """Replace this process with Superset's web server (foreground, Ctrl-C stops it).

    exec, not a child process: signals reach gunicorn directly, and a Spark JVM started
    earlier in this process (`lakehouse demo`) exits with its closed gateway pipe.
    """
    env = os.environ if env is None else env
    if not (superset_home(settings) / "superset.db").exists():
        raise DashboardsError("Superset has no metadata yet: run `lakehouse dashboards import`")
    args = serve_command(host, port, env)
    for slug in DASHBOARD_SLUGS:
        echo(f"Superset: {dashboard_url(host, port, slug)}")
    echo(f"log in as {login_hint(settings, env)}")
    echo("Ctrl-C stops it.")
    sys.stdout.flush()
    sys.stderr.flush()
    run_env = superset_env(settings, env)
    # gunicorn must find the venv's own executables (e.g. for `superset` subcommands).
    run_env["PATH"] = f"{superset_venv(env) / 'bin'}{os.pathsep}{run_env.get('PATH', '')}"
    os.chdir(PROJECT_ROOT)
    os.execve(args[0], args, run_env)
