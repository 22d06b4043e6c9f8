"""The production stack files are consistent with the settings and hold no secrets."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_takes_every_secret_from_the_environment() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"catalog-db", "object-store", "trino"} <= set(services)
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|ACCESS_KEY", key):
                assert str(value).startswith("${"), f"{name}.{key} is hard-coded"


def test_trino_reads_the_same_catalog() -> None:
    props = dict(
        line.split("=", 1)
        for line in (ROOT / "infra/trino/catalog/lake.properties").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert props["connector.name"] == "iceberg"
    assert props["iceberg.catalog.type"] == "jdbc"
    # The JDBC catalog stores its name in every row: it must be Spark's catalog name.
    assert props["iceberg.jdbc-catalog.catalog-name"] == "lake"
    secrets = [k for k in props if re.search(r"password|secret|access-key", k)]
    assert secrets and all(props[k].startswith("${ENV:") for k in secrets)


def test_the_trino_catalog_file_is_filled_in_the_same_way_by_compose_and_the_stack(
    tmp_path: Path,
) -> None:
    """One catalog file, two deployments: each sets every ${ENV:...} value it reads."""
    from spark_jobs.stack.services import Credentials, StackConfig, trino_catalog_env

    text = (ROOT / "infra/trino/catalog/lake.properties").read_text()
    placeholders = set(re.findall(r"\$\{ENV:([A-Z0-9_]+)\}", text))
    assert {"LAKEHOUSE_CATALOG_JDBC_URL", "LAKEHOUSE_CATALOG_PASSWORD"} <= placeholders
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert placeholders <= set(compose["services"]["trino"]["environment"])
    cfg = StackConfig.from_env(tmp_path, {})
    stack = trino_catalog_env(cfg, Credentials("pw", "AK", "SK"))
    assert placeholders <= set(stack)
    assert stack["LAKEHOUSE_CATALOG_JDBC_URL"] == "jdbc:postgresql://127.0.0.1:5433/iceberg"


def _properties(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_cluster_spark_conf_matches_the_settings_for_the_compose_stack(tmp_path: Path) -> None:
    """infra/spark/spark-defaults.conf says what the settings derive for the same stack."""
    from spark_jobs.common.session import submit_properties
    from spark_jobs.settings import load_settings

    settings = load_settings(
        {
            "LAKEHOUSE_HOME": str(tmp_path),
            "LAKEHOUSE_CATALOG": "postgres",
            "LAKEHOUSE_CATALOG_URI": "jdbc:postgresql://catalog-db:5432/iceberg",
            "LAKEHOUSE_CATALOG_USER": "iceberg",
            "LAKEHOUSE_WAREHOUSE": "s3://lakehouse/warehouse",
            "LAKEHOUSE_S3_ENDPOINT": "http://object-store:9000",
            "LAKEHOUSE_SPARK_PACKAGES": "org.example:placeholder:1",
        }
    )
    derived = submit_properties(settings)
    static = _properties(ROOT / "infra/spark/spark-defaults.conf")
    for key, value in static.items():
        if key in derived and key != "spark.jars.packages":
            assert derived[key] == value, key
    # Every catalog and object-store key the job needs is in the file.
    needed = [k for k in derived if k.startswith("spark.sql.catalog.")]
    assert "spark.sql.catalog.lake.io-impl" in needed and set(needed) <= set(static)
    assert not [k for k in static if re.search(r"password|secret|access[.-]key", k)]
    from spark_jobs.common.artifacts import maven_artifacts

    # The cluster resolves exactly the jars `make setup` pins for the embedded engine.
    pinned = {f"{a.group_id}:{a.artifact_id}:{a.version}" for a in maven_artifacts("spark-jars")}
    packages = static["spark.jars.packages"].split(",")
    assert packages and set(packages) <= pinned


def test_glue_job_definition_runs_the_job_script() -> None:
    import json

    from spark_jobs.jobs.ingest import build_parser

    # One definition for every source: its name and `--source` are filled in per source.
    job = json.loads((ROOT / "infra/glue/ingest.json").read_text())
    assert job["Name"] == "lakehouse-SOURCE-ingest"
    assert job["Command"]["ScriptLocation"].endswith("/jobs/ingest.py")
    assert job["DefaultArguments"]["--source"] == "SOURCE"
    assert job["DefaultArguments"]["--datalake-formats"] == "iceberg"
    assert job["DefaultArguments"]["--LAKEHOUSE_CATALOG"] == "glue"
    # Pinned runtime modules match the project's pins.
    pins = dict(
        p.split("==") for p in job["DefaultArguments"]["--additional-python-modules"].split(",")
    )
    constraints = dict(
        line.split("==")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    )
    assert pins and all(constraints[name] == version for name, version in pins.items())
    options = {o for a in build_parser()._actions for o in a.option_strings}
    assert {"--source", "--players", "--from", "--to"} <= options
