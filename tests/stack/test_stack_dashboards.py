"""The Chess and Health dashboards served from Trino, checked in a real headless Chromium.

The same bundle as the embedded dashboards; `lakehouse stack env` sets
LAKEHOUSE_SUPERSET_ENGINE=trino, so the import renders the connection as
trino://lakehouse@127.0.0.1:PORT/lake and every chart's query runs on Trino.
Needs the marts test_stack.py published (it runs first, by file order).
"""

from __future__ import annotations

import sqlite3
import time

import pytest

from spark_jobs.trino_sql import run_trino_query
from tests.stack.conftest import STACK_PLAYER, RunningStack
from tests.superset_browser import (
    OUTPUT,
    check_chess_dashboard,
    dashboard_charts,
    open_dashboard,
    serve_superset,
)

pytestmark = [pytest.mark.slow, pytest.mark.stack, pytest.mark.timeout(1800)]


def test_dashboards_render_from_trino(ingested_health: RunningStack) -> None:
    ingested = ingested_health
    _, rows = run_trino_query(
        "select count(*) from lake.information_schema.tables where table_schema = 'marts'",
        ingested.env,
    )
    if rows[0][0] == 0:  # run alone: publish the marts first
        built = ingested.lakehouse("transform", "--target", "trino")
        assert built.returncode == 0, built.stdout[-4000:]
    _, health_rows = run_trino_query(
        "select account, count(*) from lake.marts.daily_health group by account", ingested.env
    )
    print(f"daily_health on trino: {health_rows}")
    assert dict(health_rows).get(STACK_PLAYER), f"no health rows for {STACK_PLAYER}: {health_rows}"
    started = time.monotonic()
    imported = ingested.lakehouse("dashboards", "import", timeout=900)
    assert imported.returncode == 0, imported.stdout[-4000:] + imported.stderr[-4000:]
    print(f"dashboards import (trino): {time.monotonic() - started:.0f} s")
    assert "imported (engine trino)" in imported.stdout

    con = sqlite3.connect(ingested.home / "superset" / "superset.db")
    uri = con.execute("select sqlalchemy_uri from dbs").fetchone()[0]
    con.close()
    assert uri == f"trino://lakehouse@127.0.0.1:{ingested.ports['trino']}/lake"

    password = (ingested.home / "superset" / "admin_password").read_text().strip()
    with serve_superset(ingested.env, ingested.home) as url:
        check_chess_dashboard(url, password, ingested.settings(), "chess_dashboard_trino.png")
        health = open_dashboard(
            url, password, dashboard_charts("Health.yaml"), OUTPUT / "health_dashboard_trino.png",
            "/superset/dashboard/health/",
        )["charts"]  # fmt: skip
        assert health["Days tracked"]["bigNumber"] not in (None, "0")
