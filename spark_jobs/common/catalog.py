"""The one Iceberg catalog, described for each engine that opens it.

`spark_catalog_conf` gives Spark's `spark.sql.catalog.lake.*` keys, `pyiceberg_properties`
gives pyiceberg's `load_catalog` properties; both come from the same :class:`Settings`, so
Spark jobs, dbt and pyiceberg always see the same tables.
"""

from __future__ import annotations

import glob
import importlib.util
import os
from pathlib import Path

from spark_jobs.settings import CATALOG_NAME, Settings, SettingsError

SQLITE_JDBC_JAR = "/usr/share/java/sqlite-jdbc.jar"
POSTGRES_JDBC_JAR = "/usr/share/java/postgresql.jar"
S3A_JARS = ("hadoop-aws-3.3.1.jar", "aws-java-sdk-bundle-1.11.901.jar")


def iceberg_runtime_jar() -> str:
    """Path of the Iceberg Spark runtime jar shipped by the pinned PyPI package."""
    spec = importlib.util.find_spec("snowpark_connect_deps_iceberg")
    if spec is None or not spec.submodule_search_locations:
        raise SettingsError(
            "the Iceberg runtime jar package is not installed: run `make setup`, or set "
            "LAKEHOUSE_SPARK_JARS / LAKEHOUSE_SPARK_PACKAGES to your own Iceberg runtime"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "jars"
    # The _2.12 build matches pyspark 3.5; the _2.13 one fails to load.
    jars = sorted(glob.glob(str(folder / "iceberg-spark-runtime-3.5_2.12-*.jar")))
    if not jars:
        raise SettingsError(f"no iceberg-spark-runtime-3.5_2.12 jar under {folder}")
    return jars[-1]


def _s3a_jars() -> list[str]:
    spec = importlib.util.find_spec("sagemaker_pyspark")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(next(iter(spec.submodule_search_locations))) / "jars"
    return [str(folder / j) for j in S3A_JARS if (folder / j).exists()]


def spark_jars(settings: Settings) -> list[str]:
    """Jars Spark needs for this deployment (override with LAKEHOUSE_SPARK_JARS)."""
    if settings.spark_jars:
        return list(settings.spark_jars)
    if settings.spark_packages:
        # The user resolves everything from Maven coordinates instead.
        return []
    jars = [iceberg_runtime_jar()]
    driver = {"embedded": SQLITE_JDBC_JAR, "postgres": POSTGRES_JDBC_JAR}.get(settings.catalog_type)
    if driver:
        if not os.path.exists(driver):
            package = (
                "libxerial-sqlite-jdbc-java"
                if driver == SQLITE_JDBC_JAR
                else "libpostgresql-jdbc-java"
            )
            raise SettingsError(
                f"JDBC driver {driver} is missing: run `make setup` "
                f"(or `apt-get install -y {package}`)"
            )
        jars.append(driver)
    if settings.warehouse.startswith("s3://"):
        jars.extend(_s3a_jars())
    return jars


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
    if settings.warehouse.startswith("s3://"):
        conf.update(_s3a_conf(settings))
    return conf


def _s3a_conf(settings: Settings) -> dict[str, str]:
    # Iceberg's S3FileIO needs the AWS SDK v2 bundle; Hadoop S3A is what can be had, so the
    # catalog uses HadoopFileIO and s3:// is mapped onto S3A.
    conf = {
        f"spark.sql.catalog.{CATALOG_NAME}.io-impl": "org.apache.iceberg.hadoop.HadoopFileIO",
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.path.style.access": str(settings.s3.path_style).lower(),
        "spark.hadoop.fs.s3a.endpoint.region": settings.s3.region,
    }
    if settings.s3.endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = settings.s3.endpoint
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(
            settings.s3.endpoint.startswith("https")
        ).lower()
    if settings.s3.access_key_id:
        conf["spark.hadoop.fs.s3a.aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        )
        conf["spark.hadoop.fs.s3a.access.key"] = settings.s3.access_key_id
        conf["spark.hadoop.fs.s3a.secret.key"] = settings.s3.secret_access_key or ""
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
