"""Every deployment is configuration only: the same settings feed Spark and pyiceberg."""

from __future__ import annotations

from pathlib import Path

import pytest

from spark_jobs.common.catalog import pyiceberg_properties, spark_catalog_conf, spark_jars
from spark_jobs.settings import SettingsError, load_settings

CAT = "spark.sql.catalog.lake"


def test_embedded_default(tmp_path: Path) -> None:
    s = load_settings({"LAKEHOUSE_HOME": str(tmp_path)})
    conf = spark_catalog_conf(s)
    assert conf[CAT] == "org.apache.iceberg.spark.SparkCatalog"
    assert conf[f"{CAT}.type"] == "jdbc"
    assert conf[f"{CAT}.uri"] == f"jdbc:sqlite:{tmp_path / 'catalog.db'}"
    assert conf[f"{CAT}.warehouse"] == (tmp_path / "warehouse").as_uri()
    assert conf["spark.sql.defaultCatalog"] == "lake"
    props = pyiceberg_properties(s)
    assert props == {
        "type": "sql",
        "uri": f"sqlite:///{tmp_path / 'catalog.db'}?timeout=60",
        "warehouse": (tmp_path / "warehouse").as_uri(),
    }
    jars = spark_jars(s)
    assert any("iceberg-spark-runtime-3.5_2.12" in j for j in jars)
    # The pinned Maven jars, from the download cache; no S3 bundle for a local warehouse.
    assert any("/sqlite-jdbc-" in j for j in jars)
    assert all(Path(j).exists() for j in jars)
    assert not any("iceberg-aws-bundle" in j for j in jars)


def test_postgres_on_minio() -> None:
    env = {
        "LAKEHOUSE_CATALOG": "postgres",
        "LAKEHOUSE_CATALOG_URI": "jdbc:postgresql://db:5432/iceberg",
        "LAKEHOUSE_CATALOG_USER": "iceberg",
        "LAKEHOUSE_CATALOG_PASSWORD": "s3cret",
        "LAKEHOUSE_WAREHOUSE": "s3a://lake/warehouse",
        "LAKEHOUSE_S3_ENDPOINT": "http://minio:9000",
        "AWS_ACCESS_KEY_ID": "AKIA",
        "AWS_SECRET_ACCESS_KEY": "sk",
    }
    s = load_settings(env)
    assert s.warehouse == "s3://lake/warehouse"  # one spelling for every engine
    conf = spark_catalog_conf(s)
    assert conf[f"{CAT}.uri"] == "jdbc:postgresql://db:5432/iceberg"
    assert conf[f"{CAT}.jdbc.user"] == "iceberg"
    # Iceberg's own S3FileIO, path-style for an S3-compatible endpoint; no Hadoop S3A.
    assert conf[f"{CAT}.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert conf[f"{CAT}.s3.endpoint"] == "http://minio:9000"
    assert conf[f"{CAT}.s3.path-style-access"] == "true"
    assert conf[f"{CAT}.s3.access-key-id"] == "AKIA"
    assert not [k for k in conf if k.startswith("spark.hadoop.fs.s3")]
    props = pyiceberg_properties(s)
    assert props["uri"] == "postgresql+psycopg2://iceberg:s3cret@db:5432/iceberg"
    assert props["s3.endpoint"] == "http://minio:9000"
    # Secrets never reach the printable form.
    shown = s.redacted()
    assert "s3cret" not in str(shown) and "sk" not in shown.values()
    assert "s3cret" not in repr(s)


def test_rest_and_glue() -> None:
    rest = load_settings({"LAKEHOUSE_CATALOG": "rest", "LAKEHOUSE_CATALOG_URI": "http://rest:8181"})
    assert spark_catalog_conf(rest)[f"{CAT}.type"] == "rest"
    assert pyiceberg_properties(rest)["type"] == "rest"
    glue = load_settings(
        {
            "LAKEHOUSE_CATALOG": "glue",
            "LAKEHOUSE_WAREHOUSE": "s3://bucket/lake",
            "AWS_REGION": "eu-west-1",
        }
    )
    assert spark_catalog_conf(glue)[f"{CAT}.type"] == "glue"
    assert pyiceberg_properties(glue)["glue.region"] == "eu-west-1"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"LAKEHOUSE_CATALOG": "hive"}, "LAKEHOUSE_CATALOG"),  # unsupported type
        ({"LAKEHOUSE_CATALOG": "postgres"}, "LAKEHOUSE_CATALOG_URI"),  # no URI
        ({"LAKEHOUSE_CATALOG": "rest"}, "LAKEHOUSE_CATALOG_URI"),  # no URI
        ({"LAKEHOUSE_CATALOG": "glue"}, "LAKEHOUSE_WAREHOUSE"),  # glue needs s3
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        load_settings(env)


def test_jar_override() -> None:
    s = load_settings({"LAKEHOUSE_SPARK_JARS": "/a.jar, /b.jar"})
    assert spark_jars(s) == ["/a.jar", "/b.jar"]
    p = load_settings(
        {"LAKEHOUSE_SPARK_PACKAGES": "org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.0"}
    )
    assert spark_jars(p) == []
