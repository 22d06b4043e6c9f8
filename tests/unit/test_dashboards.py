"""The Superset bundle (superset/dashboards) and how it is rendered for each engine.

Static checks catch what Superset would only report in the browser: a chart on a dataset
or column that does not exist, a dashboard slot without a chart, duplicate UUIDs.
"""

from __future__ import annotations

import json
import re
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
    assert {d["dashboard_title"] for d in DASHBOARDS.values()} == {"Chess", "Health"}
    placed = [
        node["meta"]["uuid"]
        for dashboard in DASHBOARDS.values()
        for node in dashboard["position"].values()
        if _is_chart(node)
    ]
    assert sorted(placed) == sorted(c["uuid"] for c in CHARTS.values())  # each chart once


def _is_chart(node: object) -> bool:
    return isinstance(node, dict) and node.get("type") == "CHART"


def _referenced(params: dict) -> tuple[set[str], set[str]]:
    """Column names and saved-metric names a chart's form data uses."""
    columns: set[str] = set()
    for key in ("x_axis", "groupby", "groupby_b", "groupbyRows", "groupbyColumns", "all_columns"):
        value = params.get(key) or []
        columns.update([value] if isinstance(value, str) else value)
    for key in ("adhoc_filters", "adhoc_filters_b"):  # _b: the second query of a mixed chart
        columns.update(f["subject"] for f in params.get(key, []))
    metrics = set(params.get("metrics") or []) | set(params.get("metrics_b") or [])
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


# ------------------------------------------------------------------ the Health dashboard
HEALTH = DASHBOARDS["Health"]
HEALTH_CHARTS = {name: c for name, c in CHARTS.items() if name.startswith("health_")}
HEALTH_FILTERS = HEALTH["metadata"]["native_filter_configuration"]


def _dataset_of(chart: dict) -> dict:
    (dataset,) = [d for d in DATASETS.values() if d["uuid"] == chart["dataset_uuid"]]
    return dataset


def _placed_ids(dashboard: dict) -> dict[str, int]:
    """uuid -> the chartId the dashboard's layout (and its filter scopes) refer to."""
    nodes = [n for n in dashboard["position"].values() if _is_chart(n)]
    return {n["meta"]["uuid"]: n["meta"]["chartId"] for n in nodes}


def test_health_dashboard_places_every_health_chart_once() -> None:
    assert HEALTH["slug"] == "health" and HEALTH["dashboard_title"] == "Health"
    placed = _placed_ids(HEALTH)
    assert sorted(placed) == sorted(c["uuid"] for c in HEALTH_CHARTS.values())
    assert len(set(placed.values())) == len(placed)  # chartIds unique within the layout
    assert len(HEALTH_CHARTS) >= 10
    names = {n["meta"]["sliceName"] for n in HEALTH["position"].values() if _is_chart(n)}
    assert names == {c["slice_name"] for c in HEALTH_CHARTS.values()}
    for node in HEALTH["position"].values():  # the grid is a tree: every child exists
        if isinstance(node, dict):
            assert all(child in HEALTH["position"] for child in node.get("children", []))
    chess = DASHBOARDS["Chess"]
    assert not set(_placed_ids(chess)) & set(placed)


def test_health_charts_read_only_the_health_marts() -> None:
    health = {DATASETS["daily_health"]["uuid"], DATASETS["agg_monthly_health"]["uuid"]}
    assert {c["dataset_uuid"] for c in HEALTH_CHARTS.values()} == health


def test_health_native_filters_target_existing_columns_and_charts() -> None:
    by_name = {f["name"]: f for f in HEALTH_FILTERS}
    assert set(by_name) == {"Person", "Date range"}
    assert len({f["id"] for f in HEALTH_FILTERS}) == len(HEALTH_FILTERS)
    placed = _placed_ids(HEALTH)
    by_id = {placed[c["uuid"]]: c for c in HEALTH_CHARTS.values()}
    for f in HEALTH_FILTERS:
        assert f["id"].startswith("NATIVE_FILTER-") and f["type"] == "NATIVE_FILTER"
        assert f["scope"]["rootPath"] == ["ROOT_ID"]
        assert set(f["scope"]["excluded"]) <= set(by_id)  # chartIds of this layout
        assert "chartsInScope" not in f  # ids change on import; Superset derives them
        for target in f["targets"]:
            if "datasetUuid" in target:
                (dataset,) = [d for d in DATASETS.values() if d["uuid"] == target["datasetUuid"]]
                assert target["column"]["name"] in {c["column_name"] for c in dataset["columns"]}

    # Person: one account at a time, the first by default, on every chart; every chart's
    # dataset has the column (a native filter applies its column to each chart in scope).
    person = by_name["Person"]
    assert person["filterType"] == "filter_select"
    assert person["controlValues"]["multiSelect"] is False
    assert person["controlValues"]["enableEmptyFilter"] is True  # a value is required
    assert person["controlValues"]["defaultToFirstItem"] is True and person["requiredFirst"]
    assert person["scope"]["excluded"] == []
    for chart in HEALTH_CHARTS.values():
        assert "account" in {c["column_name"] for c in _dataset_of(chart)["columns"]}

    # Date range: every chart in scope has a temporal-range filter on a DATE column of its
    # dataset (where Superset puts the range); only "This month vs all-time" is out.
    dates = by_name["Date range"]
    assert dates["filterType"] == "filter_time"
    excluded = {by_id[i]["slice_name"] for i in dates["scope"]["excluded"]}
    assert excluded == {"This month vs all-time"}
    for chart_id, chart in by_id.items():
        if chart_id in dates["scope"]["excluded"]:
            continue
        params = chart["params"]
        temporal = {
            f["subject"]
            for key in ("adhoc_filters", "adhoc_filters_b")
            for f in params.get(key, [])
            if f["operator"] == "TEMPORAL_RANGE"
        }
        assert temporal, chart["slice_name"]
        columns = {c["column_name"]: c for c in _dataset_of(chart)["columns"]}
        assert all(columns[s]["is_dttm"] and columns[s]["type"] == "DATE" for s in temporal)
        if "x_axis" in params:
            assert params["x_axis"] in temporal


def test_health_datasets_match_the_dbt_marts() -> None:
    """The dataset columns are daily_health's, as health_rules.sql types them, in order."""
    rules = (BUNDLE_DIR.parents[1] / "dbt_project" / "macros" / "health_rules.sql").read_text()
    body = rules.split("macro health_daily_columns()", 1)[1].split("endmacro", 1)[0]
    dbt = ["account", "year", "month"] + [n for n, _ in re.findall(r"\('(\w+)',\s*'(\w+)'\)", body)]
    daily = DATASETS["daily_health"]
    assert [c["column_name"] for c in daily["columns"] if not c["expression"]] == dbt
    monthly = DATASETS["agg_monthly_health"]
    assert [c["column_name"] for c in monthly["columns"]][:3] == ["account", "year", "month"]
    assert {"avg_stress", "avg_sleep_score", "avg_awake_bpm", "avg_rest_bpm"} <= {
        c["column_name"] for c in monthly["columns"]
    }
    assert daily["main_dttm_col"] == "day" and monthly["main_dttm_col"] == "last_day"


def test_health_metrics_are_portable_sql() -> None:
    """One expression for DuckDB and Trino: plain aggregates, no engine-only functions."""
    allowed = {"AVG", "COUNT", "CASE", "WHEN", "THEN", "END", "DATE_TRUNC", "CURRENT_DATE"}
    for name in ("daily_health", "agg_monthly_health"):
        for m in DATASETS[name]["metrics"]:
            words = set(re.findall(r"[A-Z_]{3,}", m["expression"]))
            assert words <= allowed, (m["metric_name"], words - allowed)
            assert "SELECT" not in m["expression"].upper()  # Superset refuses subqueries


# ------------------------------------------------------------------- the Chess dashboard
CHESS = DASHBOARDS["Chess"]
CHESS_FILTERS = {f["name"]: f for f in CHESS["metadata"]["native_filter_configuration"]}
CHESS_CHARTS = {n: c for n, c in CHARTS.items() if c["uuid"] in _placed_ids(CHESS)}
RAPID_ONLY = {"current_rapid_rating", "best_openings", "worst_openings"}


def test_chess_native_filters_target_existing_columns_and_charts() -> None:
    assert set(CHESS_FILTERS) == {"Player", "Time class", "Date range"}
    placed = _placed_ids(CHESS)
    by_id = {placed[c["uuid"]]: name for name, c in CHESS_CHARTS.items()}
    for f in CHESS_FILTERS.values():
        assert f["id"].startswith("NATIVE_FILTER-chess-") and f["type"] == "NATIVE_FILTER"
        assert f["scope"]["rootPath"] == ["ROOT_ID"] and "chartsInScope" not in f
        assert set(f["scope"]["excluded"]) <= set(by_id)
        for chart_id, name in by_id.items():  # a select filter's column is in every dataset
            if chart_id in f["scope"]["excluded"] or f["filterType"] != "filter_select":
                continue
            columns = {c["column_name"] for c in _dataset_of(CHESS_CHARTS[name])["columns"]}
            assert f["targets"][0]["column"]["name"] in columns, (f["name"], name)

    # Player: several at once, none = every player (one tracked player: nothing to pick).
    player = CHESS_FILTERS["Player"]
    assert player["targets"][0]["column"]["name"] == "player"
    values = player["controlValues"]
    assert values["multiSelect"] and not values["enableEmptyFilter"]
    assert not values["defaultToFirstItem"] and player["scope"]["excluded"] == []
    # Ratings do not add up: the rating metric is empty unless one player is in view.
    (metric,) = [
        m
        for m in DATASETS["agg_chess_rating_daily"]["metrics"]
        if m["metric_name"] == "current_rating"
    ]
    assert "COUNT(DISTINCT player) = 1" in metric["expression"]

    # Time class and date: everywhere but the rapid-only charts, which the descriptions name.
    for name in ("Time class", "Date range"):
        f = CHESS_FILTERS[name]
        assert {by_id[i] for i in f["scope"]["excluded"]} == RAPID_ONLY, name
        assert "Current rapid rating" in f["description"] and "openings" in f["description"]
    assert CHESS_FILTERS["Time class"]["targets"][0]["column"]["name"] == "time_class"
    for name, chart in CHESS_CHARTS.items():
        if name in RAPID_ONLY:
            continue
        temporal = {
            f["subject"]
            for f in chart["params"]["adhoc_filters"]
            if f["operator"] == "TEMPORAL_RANGE"
        }
        dataset = _dataset_of(chart)
        assert temporal == {dataset["main_dttm_col"]}, name  # where the date range lands


def test_chess_results_split_by_outcome_and_keep_the_result_code() -> None:
    for name in (
        "results_by_color",
        "results_per_month",
        "results_by_termination",
        "results_by_clock",
    ):
        assert CHARTS[name]["params"]["groupby"] == ["my_outcome"], name
    games = DATASETS["fct_chess_games"]
    columns = {c["column_name"] for c in games["columns"]}
    assert {"my_result", "opponent_result", "my_outcome", "opponent_outcome"} <= columns
    for m in games["metrics"]:
        assert "my_result" not in m["expression"], m["metric_name"]
