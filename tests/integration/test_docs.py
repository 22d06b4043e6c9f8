"""`lakehouse docs`: dbt's documentation of the session's demo lakehouse, served over HTTP.

The demo lakehouse (tests/integration/conftest.py) has published marts; `lakehouse docs
--port FREE` runs in the background as a user would run it (generate on the local
target, then serve), the site is read over HTTP like a browser reads it, and the server
is stopped by process group. A lakehouse that was never transformed is refused with the
command to run first.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.conftest import DemoLakehouse, demo_env
from tests.superset_browser import free_port, stop_group

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
FCT = "model.lakehouse.fct_chess_games"


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def _status(url: str) -> int | None:
    """The HTTP status, or None while nothing listens."""
    try:
        return _get(url)[0]
    except OSError:
        return None


def test_docs_refuse_a_lakehouse_without_marts(tmp_path: Path) -> None:
    run = subprocess.run(
        [LAKEHOUSE, "docs", "--no-serve"], env=demo_env(tmp_path), cwd=tmp_path,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    assert "lakehouse transform" in run.stderr
    assert not (tmp_path / "catalog.db").exists()  # nothing was created


def test_docs_serve_models_columns_tests_and_lineage(demo_lakehouse: DemoLakehouse) -> None:
    home = demo_lakehouse.home
    port = free_port()
    log_path = home / "docs-serve.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [LAKEHOUSE, "docs", "--port", str(port)], env=demo_lakehouse.env, cwd=home,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            while _status(f"{base}/") is None:
                assert proc.poll() is None, log_path.read_text()[-4000:]
                assert time.monotonic() - started < 900, "docs did not serve in 900 s"
                time.sleep(2)
            print(f"lakehouse docs: serving after {time.monotonic() - started:.0f} s")
            assert f"dbt docs: {base}/" in log_path.read_text()

            status, index = _get(f"{base}/")
            assert status == 200 and b"dbt" in index and b"<html" in index.lower()
            manifest = json.loads(_get(f"{base}/manifest.json")[1])
            catalog = json.loads(_get(f"{base}/catalog.json")[1])
            # Only the site: no compiled SQL, run results or logs.
            assert _get(f"{base}/run_results.json")[0] == 404
            assert _get(f"{base}/compiled/")[0] == 404
        finally:
            stop_group(proc)

    # Models with their descriptions and column descriptions.
    fct = manifest["nodes"][FCT]
    assert "One row per game" in fct["description"]
    assert "chess.com username" in fct["columns"]["player"]["description"]
    marts = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {"fct_chess_games", "agg_chess_rating_daily", "daily_health"} <= marts
    # The data tests on it (generic tests by name) and its unit tests.
    tests = {
        n["test_metadata"]["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "test" and n.get("attached_node") == FCT
    }
    assert {"not_null", "accepted_values", "relationships", "unique_combination"} <= tests
    assert any(u["model"] == "fct_chess_games" for u in manifest["unit_tests"].values())
    # Lineage both ways: from staging through intermediate, into the aggregates.
    assert "model.lakehouse.int_chess_games_oriented" in manifest["parent_map"][FCT]
    assert "model.lakehouse.agg_chess_rating_daily" in manifest["child_map"][FCT]
    assert any(s.startswith("source.lakehouse.") for s in manifest["sources"])
    # The catalog comes from the warehouse: the published tables' real columns and types.
    columns = {c.lower(): v["type"] for c, v in catalog["nodes"][FCT]["columns"].items()}
    assert columns["player"] == "string" and "game_date" in columns
    assert catalog["errors"] in (None, [])
