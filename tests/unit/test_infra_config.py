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
