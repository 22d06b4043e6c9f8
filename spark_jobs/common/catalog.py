"""The one Iceberg catalog, described for each engine that opens it.

`spark_catalog_conf` gives Spark's `spark.sql.catalog.lake.*` keys, `pyiceberg_properties`
gives pyiceberg's `load_catalog` properties; both come from the same :class:`Settings`, so
Spark jobs, dbt and pyiceberg always see the same tables.
"""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from spark_jobs.settings import CATALOG_NAME, Settings, SettingsError, redact_uri

# artifactIds of the pinned jars (infra/maven/pom.xml, execution `spark-jars`).
ICEBERG_RUNTIME = "iceberg-spark-runtime-3.5_2.12"
ICEBERG_AWS_BUNDLE = "iceberg-aws-bundle"
JDBC_DRIVERS = {"embedded": "sqlite-jdbc", "postgres": "postgresql"}


def _cached_jar(artifact_id: str) -> str:
    from spark_jobs.common.artifacts import maven_artifact

    artifact = maven_artifact("spark-jars", artifact_id)
    if not artifact.path.exists():
        raise SettingsError(
            f"{artifact.file_name} is not in the download cache {artifact.folder}: run "
            "`make setup` once (Maven copies the pinned jars there), or set "
            "LAKEHOUSE_SPARK_JARS / LAKEHOUSE_SPARK_PACKAGES to your own"
        )
    return str(artifact.path)


def iceberg_runtime_jar() -> str:
    """Path of the pinned Iceberg Spark runtime jar (Maven, copied by `make setup`)."""
    return _cached_jar(ICEBERG_RUNTIME)


def spark_jars(settings: Settings) -> list[str]:
    """Jars Spark needs for this deployment (override with LAKEHOUSE_SPARK_JARS)."""
    if settings.spark_jars:
        return list(settings.spark_jars)
    if settings.spark_packages:
        # The user resolves everything from Maven coordinates instead.
        return []
    jars = [iceberg_runtime_jar()]
    driver = JDBC_DRIVERS.get(settings.catalog_type)
    if driver:
        jars.append(_cached_jar(driver))
    if _uses_s3(settings):
        jars.append(_cached_jar(ICEBERG_AWS_BUNDLE))
    return jars


def _uses_s3(settings: Settings) -> bool:
    return settings.warehouse.startswith("s3://") or settings.catalog_type == "glue"


SQLITE_BUSY_TIMEOUT_MS = 60_000
"""How long a catalog statement waits for another process's SQLite lock (sqlite-jdbc's own
default is 3 s). Catalog statements take milliseconds: a minute means something is stuck."""


def _sqlite_catalog_initialised(uri: str) -> bool:
    """Whether the embedded catalog at `jdbc:sqlite:<path>` already has Iceberg's tables,
    with the V1 (views) column: then the JVM need not check or create them."""
    import sqlite3
    from contextlib import closing
    from pathlib import Path

    path = Path(uri.removeprefix("jdbc:sqlite:").removeprefix("file:").split("?", 1)[0])
    if not path.is_file():
        return False
    try:
        # mode=rw: never create the file here; a second's wait covers a commit under way.
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=1)) as db:
            tables = db.execute("select name from sqlite_master where type = 'table'")
            names = {r[0] for r in tables}
            columns = {r[1] for r in db.execute("pragma table_info(iceberg_tables)")}
    except sqlite3.Error:
        return False
    return {"iceberg_tables", "iceberg_namespace_properties"} <= names and "iceberg_type" in columns


def spark_catalog_conf(settings: Settings) -> dict[str, str]:
    """Spark SQL configuration for the `lake` catalog and its object store."""
    prefix = f"spark.sql.catalog.{CATALOG_NAME}"
    conf = {
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.warehouse": settings.warehouse,
        "spark.sql.extensions": (
            "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
        ),
        "spark.sql.defaultCatalog": CATALOG_NAME,
        # Several processes (CLI, Airflow tasks, dbt) commit to one catalog: always read
        # the current table metadata instead of a cached, possibly stale, copy.
        f"{prefix}.cache-enabled": "false",
    }
    if settings.catalog_type in ("embedded", "postgres"):
        conf[f"{prefix}.type"] = "jdbc"
        conf[f"{prefix}.uri"] = settings.catalog_uri or ""
        # V1 adds view support; the SQLite catalog table is created with it on first use.
        conf[f"{prefix}.jdbc.schema-version"] = "V1"
        if settings.catalog_type == "embedded":
            # SQLite allows one writer: with several pooled connections a commit can wait
            # on this very JVM's open read and fail with SQLITE_BUSY. One connection
            # serialises catalog calls inside the process; busy_timeout covers other ones.
            conf[f"{prefix}.clients"] = "1"
            # Iceberg hands `jdbc.*` (prefix removed) to the driver as connection
            # properties, and sqlite-jdbc applies pragma names among them when it opens
            # the connection: wait for other processes' locks instead of failing at 3 s,
            # and WAL, so that readers (`lakehouse sql`, pyiceberg) and a writer never
            # block each other. WAL is a property of the file: pyiceberg gets it too.
            conf[f"{prefix}.jdbc.busy_timeout"] = str(SQLITE_BUSY_TIMEOUT_MS)
            conf[f"{prefix}.jdbc.journal_mode"] = "WAL"
            if _sqlite_catalog_initialised(settings.catalog_uri or ""):
                # Iceberg 1.10's table check (DatabaseMetaData.getTables) never closes
                # its ResultSet: on an existing catalog the JVM's one connection then
                # keeps a read open for its whole life, which blocks every other
                # process's commits (rollback journal) or pins a stale snapshot (WAL).
                # Skip the check once the tables exist; a new catalog still gets them.
                conf[f"{prefix}.jdbc.init-catalog-tables"] = "false"
        if settings.catalog_user:
            conf[f"{prefix}.jdbc.user"] = settings.catalog_user
        if settings.catalog_password:
            conf[f"{prefix}.jdbc.password"] = settings.catalog_password
    elif settings.catalog_type == "rest":
        conf[f"{prefix}.type"] = "rest"
        conf[f"{prefix}.uri"] = settings.catalog_uri or ""
    elif settings.catalog_type == "glue":
        conf[f"{prefix}.type"] = "glue"
    if _uses_s3(settings):
        conf.update(_s3_conf(settings))
    return conf


def _s3_conf(settings: Settings) -> dict[str, str]:
    """Iceberg's own S3FileIO (AWS SDK v2, from iceberg-aws-bundle): no Hadoop S3A."""
    prefix = f"spark.sql.catalog.{CATALOG_NAME}"
    conf = {
        f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
        f"{prefix}.client.region": settings.s3.region,
    }
    if settings.s3.endpoint:
        # An S3-compatible store (MinIO, versitygw, ...): path-style bucket addressing.
        conf[f"{prefix}.s3.endpoint"] = settings.s3.endpoint
        conf[f"{prefix}.s3.path-style-access"] = str(settings.s3.path_style).lower()
    if settings.s3.access_key_id:
        conf[f"{prefix}.s3.access-key-id"] = settings.s3.access_key_id
        conf[f"{prefix}.s3.secret-access-key"] = settings.s3.secret_access_key or ""
        if settings.s3.session_token:
            conf[f"{prefix}.s3.session-token"] = settings.s3.session_token
    return conf


CONNECT_TIMEOUT = 2.0
"""Seconds the pre-check waits for the catalog's TCP port (a live database answers in ms)."""


def _jdbc_postgres_hosts(uri: str) -> list[tuple[str, int]]:
    """(host, port) pairs of `jdbc:postgresql://h1[:p1][,h2[:p2]]/db?...` (pgjdbc's rules:
    no `//` means localhost, the default port is 5432, IPv6 hosts are in brackets)."""
    rest = uri[len("jdbc:postgresql:") :]
    if not rest.startswith("//"):
        return [("localhost", 5432)]
    authority = rest[2:].split("/", 1)[0].split("?", 1)[0]
    authority = authority.rsplit("@", 1)[-1]  # pgjdbc takes no user info; tolerate it
    hosts = []
    for part in authority.split(","):
        if part.startswith("["):  # [::1]:5432
            host, _, tail = part[1:].partition("]")
            port = tail.removeprefix(":")
        else:
            host, _, port = part.partition(":")
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise SettingsError(
                f"LAKEHOUSE_CATALOG_URI={redact_uri(uri)!r}: port {port!r} is not a port "
                "number (1-65535); use jdbc:postgresql://HOST:PORT/DATABASE"
            )
        hosts.append((host or "localhost", int(port or 5432)))
    return hosts


def _can_connect(host: str, port: int, timeout: float) -> str | None:
    """None when a TCP connection to host:port opens, else why it did not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror:
        return f"host {host!r} is not known"
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout:g} s"
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"


def _check_sqlite_folder(settings: Settings) -> None:
    folder = settings.catalog_db.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # A real write, not os.access: it also catches read-only mounts and full disks.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise SettingsError(
            f"the embedded catalog {settings.catalog_db} cannot be written "
            f"({exc.strerror or exc}): set LAKEHOUSE_HOME to a folder you can write, or fix "
            f"the permissions of {folder}"
        ) from exc


# Iceberg's JDBC catalog tables (schema V1, with views), as its JdbcUtil creates them.
_SQLITE_CATALOG_DDL = (
    "CREATE TABLE IF NOT EXISTS iceberg_tables(catalog_name VARCHAR(255) NOT NULL,"
    "table_namespace VARCHAR(255) NOT NULL,table_name VARCHAR(255) NOT NULL,"
    "metadata_location VARCHAR(1000),previous_metadata_location VARCHAR(1000),"
    "iceberg_type VARCHAR(5),PRIMARY KEY (catalog_name, table_namespace, table_name))",
    "CREATE TABLE IF NOT EXISTS iceberg_namespace_properties(catalog_name VARCHAR(255) "
    "NOT NULL,namespace VARCHAR(255) NOT NULL,property_key VARCHAR(255),"
    "property_value VARCHAR(1000),PRIMARY KEY (catalog_name, namespace, property_key))",
)


def _create_sqlite_catalog_tables(path: Path) -> None:
    """Create the embedded catalog's tables before any JVM opens it.

    A JVM that finds them missing checks and creates them itself, and that check leaves a
    read open on its one connection (see `spark_catalog_conf`): in WAL mode its later
    commits then fail with SQLITE_BUSY_SNAPSHOT once another process has written, which is
    what several first runs on a new lakehouse at once did. Created here (idempotent, and
    safe against a concurrent creator), every JVM skips the check.
    """
    import sqlite3
    from contextlib import closing

    if _sqlite_catalog_initialised(f"jdbc:sqlite:{path}"):
        return
    with closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        with db:
            for ddl in _SQLITE_CATALOG_DDL:
                db.execute(ddl)


def check_catalog_reachable(settings: Settings, timeout: float = CONNECT_TIMEOUT) -> None:
    """Fail fast, before Spark starts, when the catalog cannot be reached.

    embedded: the SQLite file's folder can be created and written (and Iceberg's catalog
    tables are created in the file if missing, see `_create_sqlite_catalog_tables`). postgres: a TCP
    connection to the JDBC URI's host:port (any of them, for a multi-host URI). rest: a
    TCP connection to the URL's host:port. glue: nothing (AWS answers, or the SDK says
    why). Only the port is tried: credentials and the database itself are the driver's.

    Raises:
        SettingsError: naming LAKEHOUSE_CATALOG_URI (or LAKEHOUSE_HOME) and the fix.
    """
    uri = settings.catalog_uri or ""
    if settings.catalog_type == "embedded":
        _check_sqlite_folder(settings)
        _create_sqlite_catalog_tables(settings.catalog_db)
        return
    if settings.catalog_type == "postgres":
        targets, what = _jdbc_postgres_hosts(uri), "the PostgreSQL catalog database"
        fix = (
            "start PostgreSQL (`lakehouse stack up` for this machine's stack, then "
            '`eval "$(lakehouse stack env)"`) or correct LAKEHOUSE_CATALOG_URI'
        )
    elif settings.catalog_type == "rest":
        parts = urlsplit(uri)
        default_port = 443 if parts.scheme.lower() == "https" else 80
        targets, what = [(parts.hostname or "", parts.port or default_port)], "the REST catalog"
        fix = "start the REST catalog server or correct LAKEHOUSE_CATALOG_URI"
    else:
        return
    reasons = []
    for host, port in targets:
        reason = _can_connect(host, port, timeout)
        if reason is None:
            return
        reasons.append(reason)
    raise SettingsError(
        f"LAKEHOUSE_CATALOG_URI={redact_uri(uri)!r}: cannot reach {what} "
        f"({'; '.join(reasons)}): {fix}"
    )


def pyiceberg_properties(settings: Settings) -> dict[str, str]:
    """Properties for `pyiceberg.catalog.load_catalog(CATALOG_NAME, **props)`."""
    props: dict[str, str] = {"warehouse": settings.warehouse}
    if settings.catalog_type == "embedded":
        # SQLAlchemy's pysqlite dialect passes `timeout` to sqlite3.connect: wait for
        # another process's lock as long as the JVM does (pysqlite's default is 5 s).
        timeout = SQLITE_BUSY_TIMEOUT_MS // 1000
        props.update(type="sql", uri=f"sqlite:///{settings.catalog_db}?timeout={timeout}")
    elif settings.catalog_type == "postgres":
        # jdbc:postgresql://host:port/db -> postgresql+psycopg2://user:pw@host:port/db
        rest = (settings.catalog_uri or "").removeprefix("jdbc:postgresql://")
        auth = ""
        if settings.catalog_user:
            auth = settings.catalog_user
            if settings.catalog_password:
                auth += f":{settings.catalog_password}"
            auth += "@"
        props.update(type="sql", uri=f"postgresql+psycopg2://{auth}{rest}")
    elif settings.catalog_type == "rest":
        props.update(type="rest", uri=settings.catalog_uri or "")
    elif settings.catalog_type == "glue":
        props.update(type="glue", **{"glue.region": settings.s3.region})
    if settings.warehouse.startswith("s3://"):
        props["s3.region"] = settings.s3.region
        if settings.s3.endpoint:
            props["s3.endpoint"] = settings.s3.endpoint
        if settings.s3.access_key_id:
            props["s3.access-key-id"] = settings.s3.access_key_id
            props["s3.secret-access-key"] = settings.s3.secret_access_key or ""
    return props


def load_pyiceberg_catalog(settings: Settings):  # -> pyiceberg.catalog.Catalog
    """Open the lakehouse catalog with pyiceberg (no Spark, no JVM)."""
    from pyiceberg.catalog import load_catalog

    check_catalog_reachable(settings)  # also creates the embedded catalog's folder
    return load_catalog(CATALOG_NAME, **pyiceberg_properties(settings))
