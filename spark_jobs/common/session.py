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

from spark_jobs.common.catalog import spark_catalog_conf, spark_jars
from spark_jobs.settings import Settings

_LOG4J = Path(__file__).resolve().parent.parent / "conf" / "log4j2.properties"


def _base_conf(settings: Settings) -> dict[str, str]:
    return {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # Small local data: a few shuffle partitions, coalesced further by AQE.
        "spark.sql.shuffle.partitions": "8",
        "spark.sql.adaptive.enabled": "true",
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{_LOG4J}",
        # Arrow makes toPandas/createDataFrame of local rows cheap.
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.iceberg.handle-timestamp-without-timezone": "false",
    }


def build_spark(settings: Settings, app_name: str = "lakehouse") -> SparkSession:
    """Return a SparkSession wired to the `lake` Iceberg catalog.

    The first session of a process fixes the driver's memory and classpath, so call this
    before anything else touches Spark.
    """
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers (if any) must run this interpreter, with this venv's packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if settings.catalog_type == "embedded":
        settings.home.mkdir(parents=True, exist_ok=True)
    active = SparkSession.getActiveSession()
    conf = {**_base_conf(settings), **spark_catalog_conf(settings)}
    if active is not None:
        # Launched by spark-submit/Glue (or a test fixture): only add the catalog settings
        # that the launcher did not set itself.
        for key, value in spark_catalog_conf(settings).items():
            if active.conf.get(key, None) is None:
                active.conf.set(key, value)
        return active
    builder = SparkSession.builder.appName(app_name)
    # Under spark-submit the JVM already exists (PYSPARK_GATEWAY_PORT is set): master and
    # jars come from the launcher's command line, never from here.
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    if submitted:
        for key, value in conf.items():
            builder = builder.config(key, value) if key.startswith("spark.sql.") else builder
        return builder.getOrCreate()
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
