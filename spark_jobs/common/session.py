"""Build the SparkSession for the configured lakehouse.

Local runs (the embedded default) start Spark in-process with the Iceberg runtime and the
JDBC driver on the classpath. Under spark-submit or Glue the same function only adds the
catalog settings to the session the launcher created (`--conf` values win).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from spark_jobs.common.catalog import check_catalog_reachable, spark_catalog_conf, spark_jars
from spark_jobs.settings import Settings

_LOG4J = Path(__file__).resolve().parent.parent / "conf" / "log4j2.properties"


def _java_options(**props: str) -> str:
    """`-Dkey=value ...` for extraJavaOptions; values with spaces are quoted (Spark's
    launcher splits the string shell-style)."""
    return " ".join(
        f'"-D{key}={value}"' if any(c.isspace() for c in value) else f"-D{key}={value}"
        for key, value in props.items()
    )


def _base_conf(settings: Settings) -> dict[str, str]:
    java_props = {
        "log4j2.configurationFile": f"file:{_LOG4J}",
        # Derby (Hive's metastore, should anything enable it) writes metastore_db and
        # derby.log into its home: the lakehouse's, never the current directory.
        "derby.system.home": str(settings.home / "derby"),
    }
    return {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # Small local data: a few shuffle partitions, coalesced further by AQE.
        "spark.sql.shuffle.partitions": "8",
        "spark.sql.adaptive.enabled": "true",
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.driver.extraJavaOptions": _java_options(**java_props),
        # Spark's own (non-Iceberg) catalog creates its warehouse folder on first use;
        # by default that is ./spark-warehouse in whatever directory a command ran.
        "spark.sql.warehouse.dir": (settings.home / "spark-warehouse").as_uri(),
        # Arrow makes toPandas/createDataFrame of local rows cheap.
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.iceberg.handle-timestamp-without-timezone": "false",
    }


# Keys a running JVM can no longer change: spark-submit (or Glue) decides them at launch.
_LAUNCH_ONLY = (
    "spark.jars",
    "spark.driver.memory",
    "spark.driver.extraJavaOptions",
    "spark.master",
)

# Values that must never be written to a properties file (they come from the environment
# at run time: the job fills them in, see build_spark).
_SECRET_MARKERS = ("password", "secret", "access-key", "access.key", "session-token")


def submit_properties(settings: Settings) -> dict[str, str]:
    """Spark properties for `spark-submit --properties-file` on this deployment, no secrets.

    Holds what only the launcher can set (jars, driver memory) plus the catalog and session
    defaults. Secrets are left out on purpose: the job adds them from its environment.

    The Python that runs the job is this interpreter (the venv with pyspark and the job's
    dependencies) rather than Spark's default, the first `python3` on PATH: for the driver,
    which runs on this machine in spark-submit's default (client) deploy mode, and on a
    local master (`local[N]`, `local-cluster[...]`) for the executors' workers too. On a
    cluster the executors need a path valid on the workers, so the file leaves it to the
    launcher: `--conf spark.pyspark.python=PATH` or PYSPARK_PYTHON at submit time. Glue
    jobs never read this file (Glue runs its own Python).
    """
    props = {"spark.master": settings.spark_master}
    props["spark.pyspark.driver.python"] = sys.executable
    if settings.spark_master.startswith("local"):
        props["spark.pyspark.python"] = sys.executable
    jars = spark_jars(settings)
    if jars:
        props["spark.jars"] = ",".join(jars)
    if settings.spark_packages:
        props["spark.jars.packages"] = ",".join(settings.spark_packages)
    props.update(_base_conf(settings))
    props.update(spark_catalog_conf(settings))
    # Whether the SQLite catalog's tables exist is decided by the job when it starts (it
    # adds the key then): a file written now must not carry today's answer into a run on
    # a catalog created afresh later.
    props = {k: v for k, v in props.items() if not k.endswith(".jdbc.init-catalog-tables")}
    return {k: v for k, v in props.items() if not any(m in k for m in _SECRET_MARKERS)}


def render_properties(props: dict[str, str], header: str = "") -> str:
    """A Java properties file (what `--properties-file` reads), keys sorted."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [f"{key}={value}" for key, value in sorted(props.items())]
    return "\n".join(lines) + "\n"


def _launcher_conf() -> set[str]:
    """Keys the launcher (spark-submit --conf/--properties-file, Glue) already set."""
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # connects to the launcher's JVM gateway
    return {key for key, _ in SparkConf().getAll()}


def build_spark(settings: Settings, app_name: str = "lakehouse") -> SparkSession:
    """Return a SparkSession wired to the `lake` Iceberg catalog.

    The first session of a process fixes the driver's memory and classpath, so call this
    before anything else touches Spark.

    Raises:
        SettingsError: the catalog cannot be reached, or a pinned jar is not downloaded.
    """
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers (if any) must run this interpreter, with this venv's packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    active = SparkSession.getActiveSession()
    if active is not None:
        # A session exists already (a test fixture, a notebook): only add the catalog
        # settings that it does not have.
        for key, value in spark_catalog_conf(settings).items():
            if active.conf.get(key, None) is None:
                active.conf.set(key, value)
        return active
    # An unreachable catalog fails here in ~2 s with the fix, not in the JVM as a page of
    # Java stack trace after Spark started (it also creates the embedded catalog's home).
    check_catalog_reachable(settings)
    conf = {**_base_conf(settings), **spark_catalog_conf(settings)}
    builder = SparkSession.builder.appName(app_name)
    # Under spark-submit/Glue the JVM already exists (PYSPARK_GATEWAY_PORT is set): master,
    # jars and driver memory are the launcher's; whatever it set with --conf or a
    # properties file wins; the rest (including secrets from the environment) is added here.
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        launched = _launcher_conf()
        for key, value in conf.items():
            if key not in launched and not key.startswith(_LAUNCH_ONLY):
                builder = builder.config(key, value)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("WARN")
        return spark
    builder = builder.master(settings.spark_master)
    jars = spark_jars(settings)
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    if settings.spark_packages:
        builder = builder.config("spark.jars.packages", ",".join(settings.spark_packages))
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
