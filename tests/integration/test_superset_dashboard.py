"""The Chess dashboard end to end: demo -> marts -> Superset -> a real headless Chromium.

The session's demo lakehouse (tests/integration/conftest.py: `lakehouse demo --no-serve`
as a user would run it, then a second chess player and Oura wearer) and its Superset on
a free port; tests/browser/check_dashboard.mjs (playwright-core driving Debian's
/usr/bin/chromium) logs in and opens the dashboard, unfiltered and with its native
filters set through the URL (Superset's own `native_filters=` state). Every process
started here is stopped by process group, also on failure. Screenshots land in
test-output/superset/chess_dashboard*.png.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from spark_jobs.dashboards import BUNDLE_DIR, admin_password_file
from spark_jobs.serving import duckdb_config, serving_path
from spark_jobs.settings import load_settings
from tests.integration.conftest import DEMO_PEOPLE, DemoLakehouse
from tests.superset_browser import (
    ALL_CHARTS,
    CHARTS,
    CHESS_DATE,
    CHESS_PLAYER,
    CHESS_TIME_CLASS,
    check_chess_dashboard,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


def _lakehouse(args: list[str], env: dict[str, str], cwd: Path, timeout: int = 300):
    return subprocess.run(
        [LAKEHOUSE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def lakehouse(demo_lakehouse: DemoLakehouse) -> DemoLakehouse:
    return demo_lakehouse


def _metadata_counts(home: Path) -> dict[str, object]:
    con = sqlite3.connect(home / "superset" / "superset.db")
    try:
        one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "dashboards": one("select count(*) from dashboards where slug = 'chess'"),
            "charts": one("select count(*) from slices"),
            "datasets": one("select count(*) from tables"),
            "databases": one("select count(*) from dbs"),
            "dashboard_charts": one("select count(*) from dashboard_slices"),
            "uri": one("select sqlalchemy_uri from dbs"),
            "extra": one("select extra from dbs"),
        }
    finally:
        con.close()


def test_admin_password_is_generated_private_and_printed_once(lakehouse: DemoLakehouse) -> None:
    path = admin_password_file(load_settings({"LAKEHOUSE_HOME": str(lakehouse.home)}))
    password = path.read_text().strip()
    assert password.lower() != "admin" and len(password) >= 16
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert password in lakehouse.demo_output  # shown once, when the user was created
    assert "Ctrl-C stops it." in lakehouse.demo_output  # `make demo` ends serving Superset


def test_reimport_is_idempotent(lakehouse: DemoLakehouse) -> None:
    before = _metadata_counts(lakehouse.home)
    assert before["uri"].startswith("duckdb:///") and before["dashboards"] == 1
    assert before["charts"] == len(ALL_CHARTS)
    assert before["dashboard_charts"] == len(ALL_CHARTS)  # every chart is on a dashboard

    again = _lakehouse(["dashboards", "import"], lakehouse.env, lakehouse.home)
    assert again.returncode == 0, again.stdout + again.stderr
    password = (lakehouse.home / "superset" / "admin_password").read_text().strip()
    assert password not in again.stdout + again.stderr  # never shown again
    after = _metadata_counts(lakehouse.home)
    assert after == before  # same rows, same connection: nothing duplicated


def test_datasets_list_the_columns_of_the_marts(lakehouse: DemoLakehouse) -> None:
    import duckdb

    settings = load_settings({"LAKEHOUSE_HOME": str(lakehouse.home)})
    con = duckdb.connect(str(serving_path(settings)), read_only=True, config=duckdb_config())
    for path in (BUNDLE_DIR / "datasets").rglob("*.yaml"):
        dataset = yaml.safe_load(path.read_text())
        physical = [c["column_name"] for c in dataset["columns"] if not c["expression"]]
        actual = [r[0] for r in con.execute(f"describe marts.{dataset['table_name']}").fetchall()]
        assert physical == actual, dataset["table_name"]


@pytest.fixture(scope="module")
def superset_url(demo_superset: str) -> str:
    return demo_superset


def test_chess_dashboard_is_imported_with_its_filters(lakehouse: DemoLakehouse) -> None:
    con = sqlite3.connect(lakehouse.home / "superset" / "superset.db")
    try:
        metadata, position = con.execute(
            "select json_metadata, position_json from dashboards where slug = 'chess'"
        ).fetchone()
    finally:
        con.close()
    filters = {f["id"]: f for f in json.loads(metadata)["native_filter_configuration"]}
    assert set(filters) == {CHESS_PLAYER, CHESS_TIME_CLASS, CHESS_DATE}
    player = filters[CHESS_PLAYER]["controlValues"]
    assert player["multiSelect"] and not player["enableEmptyFilter"]  # none = all players
    assert not player["defaultToFirstItem"]
    assert filters[CHESS_PLAYER]["scope"]["excluded"] == []  # every dataset has `player`
    # The rapid-only charts ignore time class and date; the import renumbered the charts,
    # so the scope is read back through the imported layout.
    names = {
        node["meta"]["chartId"]: node["meta"]["sliceName"]
        for node in json.loads(position).values()
        if isinstance(node, dict) and node.get("type") == "CHART"
    }
    assert len(names) == len(CHARTS)
    for fid in (CHESS_TIME_CLASS, CHESS_DATE):
        excluded = {names[i].split(" (")[0] for i in filters[fid]["scope"]["excluded"]}
        assert excluded == {"Current rapid rating", "Best openings", "Worst openings"}, fid
        assert "Current rapid rating" in filters[fid]["description"]
        assert "openings tables" in filters[fid]["description"]


def _count(text: str) -> int:
    return int(text.replace(",", ""))


def test_chess_dashboard_renders_and_its_filters_split_the_players(
    lakehouse: DemoLakehouse, superset_url: str
) -> None:
    password = (lakehouse.home / "superset" / "admin_password").read_text().strip()
    settings = load_settings({"LAKEHOUSE_HOME": str(lakehouse.home)})
    first, second = DEMO_PEOPLE

    # Unfiltered: every tracked player's games add up; a rating needs one player.
    every = check_chess_dashboard(superset_url, password, settings, "chess_dashboard.png")
    every = every["charts"]
    for name, chart in every.items():
        assert "No results" not in chart["text"], f"{name} has no data: {chart['text']}"
    assert every["Current rapid rating"]["bigNumber"] == "No data"

    # One player each: that player's numbers (asserted against the marts inside).
    each = {}
    for person in DEMO_PEOPLE:
        report = check_chess_dashboard(
            superset_url, password, settings, f"chess_dashboard_{person}.png", players=[person]
        )
        each[person] = report["charts"]
        other = second if person == first else first
        for table in ("Best openings", "Worst openings"):
            (text,) = [c["text"] for n, c in report["charts"].items() if n.startswith(table)]
            assert person in text and other not in text
    numbers = {p: {t: c["bigNumber"] for t, c in each[p].items() if c["bigNumber"]} for p in each}
    assert numbers[first] != numbers[second]
    assert numbers[first]["Current rapid rating"] != "No data"
    for title in ("Games played", "Wins", "Losses", "Draws"):  # additive
        split = sum(_count(numbers[p][title]) for p in DEMO_PEOPLE)
        assert split == _count(every[title]["bigNumber"]), title

    # Time class and date range, with one player: fewer games, still the marts' numbers.
    since = date.today() - timedelta(days=29)
    report = check_chess_dashboard(
        superset_url, password, settings, "chess_dashboard_filtered.png",
        players=[second], time_classes=["rapid"], since=since,
    )  # fmt: skip
    rapid_recent = _count(report["charts"]["Games played"]["bigNumber"])
    assert 0 < rapid_recent < _count(numbers[second]["Games played"])
    # Current rapid rating is outside the time class and date filters' scope.
    rating = report["charts"]["Current rapid rating"]["bigNumber"]
    assert rating == numbers[second]["Current rapid rating"]
