"""The Health dashboard end to end: Oura -> bronze -> dbt marts -> Superset -> Chromium.

The session's demo lakehouse (tests/integration/conftest.py): a first person's Oura data
through `lakehouse sandbox` + `ingest oura`, then `lakehouse demo` for a second person (its
one transform builds both). tests/browser/check_dashboard.mjs (playwright-core driving Debian's
/usr/bin/chromium) opens /superset/dashboard/health/ once per person: the person filter is
preselected through the dashboard URL (`native_filters=`, Superset's own URL state), so
every chart query goes through the native filters exactly as after a click in the filter
bar. Screenshots land in test-output/superset/health_dashboard*.png.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from spark_jobs.dashboards import BUNDLE_DIR
from spark_jobs.serving import duckdb_config, serving_path
from spark_jobs.settings import load_settings
from tests.integration.conftest import DEMO_PEOPLE, DemoLakehouse
from tests.superset_browser import OUTPUT, dashboard_charts, open_dashboard

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
CHARTS = dashboard_charts("Health.yaml")
ACCOUNTS = DEMO_PEOPLE  # generated people: their nights (and numbers) differ
PERSON_FILTER = "NATIVE_FILTER-health-person"
DAY_FILTER = "NATIVE_FILTER-health-day"
SCREENSHOT = OUTPUT / "health_dashboard.png"


@pytest.fixture(scope="module")
def lakehouse(demo_lakehouse: DemoLakehouse) -> DemoLakehouse:
    return demo_lakehouse


def test_health_datasets_list_the_columns_of_the_marts(lakehouse: DemoLakehouse) -> None:
    import duckdb

    settings = load_settings({"LAKEHOUSE_HOME": str(lakehouse.home)})
    con = duckdb.connect(str(serving_path(settings)), read_only=True, config=duckdb_config())
    try:
        for name in ("daily_health", "agg_monthly_health"):
            path = BUNDLE_DIR / "datasets" / "Lakehouse" / f"{name}.yaml"
            dataset = yaml.safe_load(path.read_text())
            physical = [c["column_name"] for c in dataset["columns"] if not c["expression"]]
            actual = [r[0] for r in con.execute(f"describe marts.{name}").fetchall()]
            assert physical == actual, name
            # The array of structs (agg_monthly_health.daily_details) reads back whole.
        (n,) = con.execute(
            "select count(*) from marts.agg_monthly_health, unnest(daily_details)"
        ).fetchone()
        (days,) = con.execute("select count(*) from marts.daily_health").fetchone()
        assert n == days > 0
        (people,) = con.execute("select count(distinct account) from marts.daily_health").fetchone()
        assert people == len(ACCOUNTS)
    finally:
        con.close()


def test_health_dashboard_is_imported_with_its_charts(lakehouse: DemoLakehouse) -> None:
    con = sqlite3.connect(lakehouse.home / "superset" / "superset.db")
    try:
        (dashboard_id, metadata) = con.execute(
            "select id, json_metadata from dashboards where slug = 'health'"
        ).fetchone()
        names = {
            r[0]
            for r in con.execute(
                "select s.slice_name from slices s join dashboard_slices d on d.slice_id = s.id"
                " where d.dashboard_id = ?",
                (dashboard_id,),
            )
        }
    finally:
        con.close()
    assert names == {c["slice_name"] for c in CHARTS}
    filters = json.loads(metadata)["native_filter_configuration"]
    assert {f["name"] for f in filters} == {"Person", "Date range"}
    for f in filters:  # dataset UUIDs became the imported datasets' ids
        assert all("datasetUuid" not in t for t in f["targets"])


# ------------------------------------------------------------------ the browser
def _rison_str(value: str) -> str:
    return "'" + value.replace("!", "!!").replace("'", "!'") + "'"


def filtered_path(account: str, time_range: str) -> str:
    """The dashboard with the person and date-range filters set (Superset's URL state)."""
    acc = _rison_str(account)
    person = _rison_str(PERSON_FILTER)
    day = _rison_str(DAY_FILTER)
    span = _rison_str(time_range)
    state = (
        f"({person}:(id:{person},"
        f"extraFormData:(filters:!((col:account,op:IN,val:!({acc})))),"
        f"filterState:(label:{acc},value:!({acc}))),"
        f"{day}:(id:{day},extraFormData:(time_range:{span}),"
        f"filterState:(label:{span},value:{span})))"
    )
    return f"/superset/dashboard/health/?native_filters={quote(state, safe='')}"


def run_browser(url: str, password: str, path: str, screenshot: Path) -> dict[str, dict]:
    """The Health dashboard at `path` in Chromium; its charts by title, each with data."""
    charts = open_dashboard(url, password, CHARTS, screenshot, path)["charts"]
    for name, chart in charts.items():
        assert "No results" not in chart["text"], f"{name} has no data: {chart['text']}"
    return charts


def expected_numbers(home: Path, account: str, since: date | None = None) -> dict[str, str]:
    """The big numbers of one account as the marts give them (pyiceberg, not Superset)."""
    import pyarrow.compute as pc

    from spark_jobs.common.catalog import load_pyiceberg_catalog

    catalog = load_pyiceberg_catalog(load_settings({"LAKEHOUSE_HOME": str(home)}))
    where = f"account == '{account}'" + (f" and day >= '{since}'" if since else "")
    rows = catalog.load_table("marts.daily_health").scan(row_filter=where).to_arrow()
    hours = pc.mean(rows["main_sleep_total_seconds"]).as_py() / 3600
    return {
        "Days tracked": f"{rows.num_rows:,}",
        "Average sleep score": f"{pc.mean(rows['sleep_score']).as_py():.1f}",
        "Average readiness score": f"{pc.mean(rows['readiness_score']).as_py():.1f}",
        "Average sleep (hours)": f"{hours:.1f}",
    }


@pytest.fixture(scope="module")
def superset_url(demo_superset: str) -> str:
    return demo_superset


def test_health_dashboard_renders_and_its_filters_change_the_numbers(
    lakehouse: DemoLakehouse, superset_url: str
) -> None:
    password = (lakehouse.home / "superset" / "admin_password").read_text().strip()
    first, second = sorted(ACCOUNTS)
    home = lakehouse.home

    # The bare URL: the first person (the filter is required, first value by default),
    # every day.
    charts = run_browser(superset_url, password, "/superset/dashboard/health/", SCREENSHOT)
    mine = expected_numbers(home, first)
    assert {t: charts[t]["bigNumber"] for t in mine} == mine
    for table in ("This month vs all-time", "Monthly averages"):
        assert first in charts[table]["text"] and second not in charts[table]["text"]
    all_time = mine["Average sleep score"]
    assert all_time in charts["This month vs all-time"]["text"]

    # The other person over the last 30 days: other numbers, fewer days; the comparison
    # table ignores the date range (its all-time column is still every day's average).
    since = date.today() - timedelta(days=29)
    span = f"{since.isoformat()} : {(date.today() + timedelta(days=1)).isoformat()}"
    path = filtered_path(second, span)
    charts = run_browser(superset_url, password, path, OUTPUT / "health_dashboard_filtered.png")
    theirs = expected_numbers(home, second, since=since)
    assert {t: charts[t]["bigNumber"] for t in theirs} == theirs
    assert theirs["Days tracked"] == "30"
    assert theirs["Average sleep score"] != mine["Average sleep score"]
    for table in ("This month vs all-time", "Monthly averages"):
        assert second in charts[table]["text"] and first not in charts[table]["text"]
    their_all_time = expected_numbers(home, second)["Average sleep score"]
    assert their_all_time in charts["This month vs all-time"]["text"]
