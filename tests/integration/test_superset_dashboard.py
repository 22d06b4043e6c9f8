"""The Chess dashboard end to end: demo -> marts -> Superset -> a real headless Chromium.

The session's demo lakehouse (tests/integration/conftest.py: `lakehouse demo --no-serve`
with two people, as a user would run it) and its Superset on a free port;
tests/browser/check_dashboard.mjs (playwright-core driving Debian's
/usr/bin/chromium) logs in and opens the dashboard. Every process started here is stopped
by process group, also on failure. The screenshot lands in
test-output/superset/chess_dashboard.png.
"""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spark_jobs.dashboards import BUNDLE_DIR, admin_password_file
from spark_jobs.serving import duckdb_config, serving_path
from spark_jobs.settings import load_settings
from tests.integration.conftest import DemoLakehouse
from tests.superset_browser import ALL_CHARTS, check_chess_dashboard

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
    assert "lakehouse dashboards serve" in lakehouse.demo_output


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


def test_chess_dashboard_renders_in_chromium(lakehouse: DemoLakehouse, superset_url: str) -> None:
    password = (lakehouse.home / "superset" / "admin_password").read_text().strip()
    settings = load_settings({"LAKEHOUSE_HOME": str(lakehouse.home)})
    check_chess_dashboard(superset_url, password, settings, "chess_dashboard.png")
