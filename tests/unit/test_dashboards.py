"""The Superset bundle (superset/dashboards) and how it is rendered for each engine.

Static checks catch what Superset would only report in the browser: a chart on a dataset
or column that does not exist, a dashboard slot without a chart, duplicate UUIDs.
"""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest
import yaml

from spark_jobs.dashboards import (
    BUNDLE_DIR,
    DATABASE_FILE,
    admin_password,
    connection,
    engine_from_env,
    render_bundle,
)
from spark_jobs.settings import SettingsError, load_settings


def _load(folder: str) -> dict[str, dict]:
    return {p.stem: yaml.safe_load(p.read_text()) for p in (BUNDLE_DIR / folder).rglob("*.yaml")}


DATASETS = _load("datasets")
CHARTS = _load("charts")
DASHBOARDS = _load("dashboards")


def _settings(tmp_path: Path):
    return load_settings({"LAKEHOUSE_HOME": str(tmp_path)})


def test_uuids_are_unique_and_every_reference_resolves() -> None:
    uuids = [c["uuid"] for group in (DATASETS, CHARTS, DASHBOARDS) for c in group.values()]
    assert len(uuids) == len(set(uuids))
    dataset_uuids = {d["uuid"] for d in DATASETS.values()}
    assert all(c["dataset_uuid"] in dataset_uuids for c in CHARTS.values())
    (dashboard,) = DASHBOARDS.values()
    assert dashboard["dashboard_title"] == "Chess"
    placed = [node["meta"]["uuid"] for node in dashboard["position"].values() if _is_chart(node)]
    assert sorted(placed) == sorted(c["uuid"] for c in CHARTS.values())  # each chart once


def _is_chart(node: object) -> bool:
    return isinstance(node, dict) and node.get("type") == "CHART"


def _referenced(params: dict) -> tuple[set[str], set[str]]:
    """Column names and saved-metric names a chart's form data uses."""
    columns: set[str] = set()
    for key in ("x_axis", "groupby", "all_columns"):
        value = params.get(key) or []
        columns.update([value] if isinstance(value, str) else value)
    columns.update(f["subject"] for f in params.get("adhoc_filters", []))
    metrics = set(params.get("metrics") or [])
    if params.get("metric"):
        metrics.add(params["metric"])
    return columns, metrics


@pytest.mark.parametrize("chart", sorted(CHARTS))
def test_chart_uses_only_columns_and_metrics_of_its_dataset(chart: str) -> None:
    config = CHARTS[chart]
    (dataset,) = [d for d in DATASETS.values() if d["uuid"] == config["dataset_uuid"]]
    columns, metrics = _referenced(config["params"])
    assert columns <= {c["column_name"] for c in dataset["columns"]}
    assert metrics <= {m["metric_name"] for m in dataset["metrics"]}
    assert config["params"]["viz_type"] == config["viz_type"]
    assert config["slice_name"]


def test_datasets_read_the_marts_schema_with_readable_names() -> None:
    assert set(DATASETS) >= {
        "fct_chess_games",
        "agg_chess_rating_daily",
        "ranked_best_openings",
        "ranked_worst_openings",
        "agg_chess_results_by_termination",
        "agg_chess_results_by_clock",
    }
    for name, dataset in DATASETS.items():
        assert dataset["table_name"] == name and dataset["schema"] == "marts"
        assert all(c["verbose_name"] for c in dataset["columns"]), name


def test_bundle_renders_one_connection_per_engine(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    duck = connection(settings, {}, extension_dir="/ext")
    trino = connection(
        settings,
        {
            "LAKEHOUSE_SUPERSET_ENGINE": "trino",
            "TRINO_HOST": "trino.internal",
            "TRINO_PORT": "8443",
            "TRINO_USER": "analyst",
            "TRINO_HTTP_SCHEME": "https",
            "TRINO_PASSWORD": "s3cret",
        },
    )
    assert duck.sqlalchemy_uri == f"duckdb:///{tmp_path}/serving/lakehouse.duckdb"
    args = duck.engine_params["connect_args"]
    assert args["read_only"] is True
    assert args["config"]["extension_directory"] == "/ext"
    assert args["config"]["autoinstall_known_extensions"] is False
    assert trino.sqlalchemy_uri == "trino://analyst@trino.internal:8443/lake"
    assert "s3cret" not in trino.sqlalchemy_uri and trino.password == "s3cret"

    rendered = {}
    for conn in (duck, trino):
        with zipfile.ZipFile(render_bundle(conn, tmp_path / f"{conn.engine}.zip")) as bundle:
            rendered[conn.engine] = {
                name.split("/", 1)[1]: bundle.read(name).decode() for name in bundle.namelist()
            }
    assert set(rendered["duckdb"]) == set(rendered["trino"])
    for name, text in rendered["duckdb"].items():
        if name == DATABASE_FILE:
            database = yaml.safe_load(text)
            assert database["sqlalchemy_uri"] == duck.sqlalchemy_uri
            assert database["extra"]["engine_params"] == duck.engine_params
            assert "s3cret" not in rendered["trino"][name]
        else:  # datasets, charts and dashboard are the same files for both engines
            assert text == rendered["trino"][name], name
    assert yaml.safe_load(rendered["duckdb"]["metadata.yaml"])["type"] == "Dashboard"
    json.dumps(yaml.safe_load(rendered["trino"][DATABASE_FILE]))  # plain data only


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(SettingsError, match="duckdb, trino"):
        engine_from_env({"LAKEHOUSE_SUPERSET_ENGINE": "postgres"})


def test_generated_admin_password_is_stored_once_0600(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    first = admin_password(settings, {})
    path = tmp_path / "superset" / "admin_password"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first != "admin" and len(first) >= 16
    assert admin_password(settings, {}) == first  # stable across imports
    assert admin_password(settings, {"SUPERSET_ADMIN_PASSWORD": "correct horse"}) == (
        "correct horse"
    )


@pytest.mark.parametrize("weak", ["admin", "Admin", "short"])
def test_weak_admin_password_is_refused(tmp_path: Path, weak: str) -> None:
    with pytest.raises(SettingsError, match="SUPERSET_ADMIN_PASSWORD"):
        admin_password(_settings(tmp_path), {"SUPERSET_ADMIN_PASSWORD": weak})
