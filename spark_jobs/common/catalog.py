"""The one Iceberg catalog, described for each engine that opens it.

`spark_catalog_conf` gives Spark's `spark.sql.catalog.lake.*` keys, `pyiceberg_properties`
gives pyiceberg's `load_catalog` properties; both come from the same :class:`Settings`, so
Spark jobs, dbt and pyiceberg always see the same tables.
"""

from __future__ import annotations

from spark_jobs.settings import CATALOG_NAME, Settings, SettingsError

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


def pyiceberg_properties(settings: Settings) -> dict[str, str]:
    """Properties for `pyiceberg.catalog.load_catalog(CATALOG_NAME, **props)`."""
    props: dict[str, str] = {"warehouse": settings.warehouse}
    if settings.catalog_type == "embedded":
        props.update(type="sql", uri=f"sqlite:///{settings.catalog_db}")
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

    if settings.catalog_type == "embedded":
        settings.home.mkdir(parents=True, exist_ok=True)
    return load_catalog(CATALOG_NAME, **pyiceberg_properties(settings))
