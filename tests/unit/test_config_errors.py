"""Configuration and connection errors a person can act on (issue 12, parts 4 and 6).

Each bad setting exits 2 before Spark starts or anything is created, names the input and
the fix, and shows no traceback (`lakehouse -v` shows it). Most cases run the installed
`lakehouse` in a clean environment, an empty working directory and a temporary
LAKEHOUSE_HOME; each fails in about a second. One test starts Spark, to check that it
prints no banner under -q and leaves nothing in the working directory.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spark_jobs.common.catalog import _jdbc_postgres_hosts, check_catalog_reachable
from spark_jobs.settings import SettingsError, load_settings, redact_uri, url_setting

LAKEHOUSE = Path(sys.executable).parent / "lakehouse"
UA = "lakehouse-tests/1 (tests@example.com)"


def _closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def listening() -> Iterator[int]:
    """A loopback port something listens on (it never accepts: the check only connects)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


class Run:
    """`lakehouse ARGS` in a clean environment; the result plus the folders it could touch."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "home"
        self.cwd = tmp_path / "cwd"
        self.cwd.mkdir()

    def __call__(
        self, *args: str, timeout: float = 30, **env: str
    ) -> subprocess.CompletedProcess[str]:
        # No inherited LAKEHOUSE_*/source variables, and no .env: the cwd is empty.
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
        base |= {"LAKEHOUSE_HOME": str(self.home), "SPARK_LOCAL_IP": "127.0.0.1"}
        return subprocess.run(
            [str(LAKEHOUSE), *args],
            cwd=self.cwd, env=base | env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip

    def created_nothing(self) -> bool:
        return not self.home.exists() and not list(self.cwd.iterdir())


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return Run(tmp_path)


def _bad_input(done: subprocess.CompletedProcess[str], *names: str) -> None:
    """Exit 2, one `error:` line naming every one of `names`, no traceback."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: "), done.stderr
    for name in names:
        assert name in done.stderr, (name, done.stderr)


# ------------------------------------------------------------------- API base URLs
@pytest.mark.parametrize(
    ("variable", "args"),
    [
        ("CHESSCOM_API_BASE", ("ingest", "chesscom", "--player", "hikaru")),
        ("OURA_API_BASE", ("ingest", "oura", "--account", "me")),
    ],
)
def test_malformed_api_base_exits_2_before_anything(run: Run, variable: str, args) -> None:
    started = time.monotonic()
    done = run(*args, **{variable: "notaurl", "CHESSCOM_USER_AGENT": UA})
    _bad_input(done, f"{variable}='notaurl'", "http(s) URL", "unset it for the default")
    assert time.monotonic() - started < 15  # no Spark start
    assert run.created_nothing()  # no tables, not even the catalog's folder


@pytest.mark.parametrize(
    "variable",
    [
        "CHESSCOM_API_BASE",
        "OURA_API_BASE",
        "OURA_AUTHORIZE_URL",
        "OURA_TOKEN_URL",
        "OURA_REDIRECT_URI",
        "LAKEHOUSE_S3_ENDPOINT",
    ],
)
def test_every_url_setting_is_checked_when_settings_load(run: Run, variable: str) -> None:
    # `lakehouse config` loads the deployment's and every source's settings.
    _bad_input(run("config", **{variable: "http://:8080/no-host"}), variable, "with a host")


@pytest.mark.parametrize(
    "value",
    ["notaurl", "http://", "http://:80", "https://host:99999", "https://host:port", "ftp://x"],
)
def test_url_setting_needs_http_and_a_host(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^SOME_URL=.* is not an http\(s\) URL with a host"):
        url_setting({"SOME_URL": value}, "SOME_URL", "https://example.org")
    assert url_setting({}, "SOME_URL", "https://example.org") == "https://example.org"
    assert url_setting({"SOME_URL": " http://h:8/x "}, "SOME_URL") == "http://h:8/x"
    assert url_setting({}, "SOME_URL") is None  # optional without a default


# ----------------------------------------------------------------- catalog reachable
def test_unreachable_catalog_database_exits_2_before_spark(run: Run) -> None:
    uri = f"jdbc:postgresql://127.0.0.1:{_closed_port()}/nope"
    started = time.monotonic()
    done = run("ingest", "chesscom", "-p", "hikaru", LAKEHOUSE_CATALOG_URI=uri,
               CHESSCOM_USER_AGENT=UA)  # fmt: skip
    _bad_input(done, "LAKEHOUSE_CATALOG_URI", uri, "lakehouse stack up", "Connection refused")
    assert time.monotonic() - started < 15
    assert not list(run.cwd.iterdir())
    # -v: the same message, after the traceback (for debugging the tool itself).
    verbose = run("-v", "sql", "select 1", LAKEHOUSE_CATALOG_URI=uri)
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr
    assert verbose.stderr.rstrip().splitlines()[-1].startswith("error: LAKEHOUSE_CATALOG_URI")


def test_catalog_check_per_catalog_type(tmp_path: Path, listening: int) -> None:
    closed = _closed_port()

    def settings(**env: str):
        return load_settings({"LAKEHOUSE_HOME": str(tmp_path / "home"), **env})

    check_catalog_reachable(
        settings(LAKEHOUSE_CATALOG_URI=f"jdbc:postgresql://127.0.0.1:{listening}/db")
    )
    # Multi-host URIs: one reachable host is enough, as for the driver.
    multi = f"jdbc:postgresql://127.0.0.1:{closed},127.0.0.1:{listening}/db"
    check_catalog_reachable(settings(LAKEHOUSE_CATALOG_URI=multi))
    check_catalog_reachable(settings(LAKEHOUSE_CATALOG_URI=f"http://127.0.0.1:{listening}"))
    with pytest.raises(SettingsError, match="cannot reach the REST catalog"):
        check_catalog_reachable(settings(LAKEHOUSE_CATALOG_URI=f"http://127.0.0.1:{closed}"))
    with pytest.raises(SettingsError, match=r"host 'nosuch\.invalid' is not known"):
        check_catalog_reachable(
            settings(LAKEHOUSE_CATALOG_URI="jdbc:postgresql://nosuch.invalid/db")
        )
    # embedded: the SQLite file's folder must be creatable and writable.
    check_catalog_reachable(settings())
    assert (tmp_path / "home").is_dir()
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SettingsError, match="LAKEHOUSE_HOME"):
        check_catalog_reachable(load_settings({"LAKEHOUSE_HOME": str(tmp_path / "a-file/x")}))


def test_jdbc_hosts_follow_pgjdbc() -> None:
    assert _jdbc_postgres_hosts("jdbc:postgresql:iceberg") == [("localhost", 5432)]
    assert _jdbc_postgres_hosts("jdbc:postgresql:///iceberg") == [("localhost", 5432)]
    assert _jdbc_postgres_hosts("jdbc:postgresql://db/iceberg?ssl=true") == [("db", 5432)]
    assert _jdbc_postgres_hosts("jdbc:postgresql://a:1,b/x") == [("a", 1), ("b", 5432)]
    assert _jdbc_postgres_hosts("jdbc:postgresql://[::1]:6432/x") == [("::1", 6432)]
    for port in ("x", "0", "99999"):
        with pytest.raises(SettingsError, match=f"port '{port}' is not a port number"):
            _jdbc_postgres_hosts(f"jdbc:postgresql://db:{port}/iceberg")


def test_catalog_uri_picks_its_catalog_and_must_be_one() -> None:
    assert load_settings({"LAKEHOUSE_CATALOG_URI": "jdbc:postgresql://db/x"}).catalog_type == (
        "postgres"
    )
    assert load_settings({"LAKEHOUSE_CATALOG_URI": "https://rest:8181"}).catalog_type == "rest"
    explicit = {"LAKEHOUSE_CATALOG": "embedded", "LAKEHOUSE_CATALOG_URI": "jdbc:postgresql:x"}
    assert load_settings(explicit).catalog_uri.startswith("jdbc:sqlite:")
    with pytest.raises(SettingsError, match="not a PostgreSQL JDBC URL") as bad:
        load_settings({"LAKEHOUSE_CATALOG": "postgres", "LAKEHOUSE_CATALOG_URI": "pg://u:pw@h/d"})
    assert "pw" not in str(bad.value) and "u:***@h" in str(bad.value)
    with pytest.raises(SettingsError, match=r"LAKEHOUSE_CATALOG_URI=.* with a host"):
        load_settings({"LAKEHOUSE_CATALOG": "rest", "LAKEHOUSE_CATALOG_URI": "http://"})


# --------------------------------------------------------------------------- sandbox
def test_sandbox_port_out_of_range_is_a_usage_error(run: Run) -> None:
    done = run("sandbox", "--port", "99999")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Usage: lakehouse sandbox" in done.stderr
    assert "Invalid value for '--port': 99999 is not in the range" in done.stderr


def test_sandbox_on_a_busy_port_names_it(run: Run, listening: int) -> None:
    done = run("sandbox", "--port", str(listening), timeout=20)
    _bad_input(done, f"port {listening}", "in use", "--port")


# ------------------------------------------------------------------------ date range
@pytest.mark.parametrize(
    "args",
    [
        ("ingest", "chesscom", "-p", "hikaru", "--from", "2024-05", "--to", "2024-01"),
        ("ingest", "oura", "--account", "me", "--from", "2024-05-02", "--to", "2024-05-01"),
    ],
)
def test_from_after_to_exits_2_before_spark(run: Run, args) -> None:
    done = run(*args, CHESSCOM_USER_AGENT=UA, OURA_PERSONAL_ACCESS_TOKEN="pat")
    first, last = args[-3], args[-1]
    _bad_input(done, f"--from {first}", f"--to {last}", "swap them")
    assert run.created_nothing()


# --------------------------------------------------------------------------- config
def test_config_redacts_passwords_inside_uris(run: Run) -> None:
    jdbc = run(
        "config",
        LAKEHOUSE_CATALOG="postgres",
        LAKEHOUSE_CATALOG_URI="jdbc:postgresql://h:5432/db?user=u&password=pg-s3cret",
        LAKEHOUSE_CATALOG_PASSWORD="pw-s3cret",
    )
    assert jdbc.returncode == 0, jdbc.stderr
    assert "jdbc:postgresql://h:5432/db?user=u&password=***" in jdbc.stdout
    assert "pg-s3cret" not in jdbc.stdout and "pw-s3cret" not in jdbc.stdout
    rest = run("config", LAKEHOUSE_CATALOG_URI="https://u:rest-s3cret@rest:8181/v1?token=t0k")
    assert rest.returncode == 0, rest.stderr
    assert "https://u:***@rest:8181/v1?token=***" in rest.stdout
    assert "rest-s3cret" not in rest.stdout and "t0k" not in rest.stdout
    # Not a URI this catalog takes: the error shows it, redacted too.
    wrong = run(
        "config",
        LAKEHOUSE_CATALOG="postgres",
        LAKEHOUSE_CATALOG_URI="postgresql://u:pg-s3cret@h/db",
    )
    _bad_input(wrong, "LAKEHOUSE_CATALOG_URI='postgresql://u:***@h/db'", "jdbc:postgresql://")
    assert "pg-s3cret" not in wrong.stderr


def test_redact_uri_forms() -> None:
    assert redact_uri("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    assert (
        redact_uri("jdbc:postgresql://h:5432/db?user=u&password=secret&ssl=true")
        == "jdbc:postgresql://h:5432/db?user=u&password=***&ssl=true"
    )
    assert redact_uri("jdbc:sqlserver://h;user=u;password=secret") == (
        "jdbc:sqlserver://h;user=u;password=***"
    )
    assert redact_uri("http://u@h:80/x?a=b") == "http://u@h:80/x?a=b"  # nothing secret
    assert redact_uri("/path/to/catalog.db") == "/path/to/catalog.db"


# ----------------------------------------------------------------- a real Spark start
@pytest.mark.spark
@pytest.mark.slow
def test_spark_start_is_quiet_and_leaves_the_cwd_alone(run: Run) -> None:
    # `spark_catalog` (Spark's own catalog) creates its warehouse folder on first use.
    done = run("-q", "sql", "show namespaces in spark_catalog", timeout=300)
    assert done.returncode == 0, done.stderr
    assert "default" in done.stdout
    assert "Setting default log level" not in done.stderr, done.stderr
    assert done.stderr.strip() == "", done.stderr
    assert sorted(p.name for p in run.cwd.iterdir()) == []  # no spark-warehouse, derby.log
    assert (run.home / "spark-warehouse").is_dir()
