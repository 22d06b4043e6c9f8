"""Superset in a real browser, shared by the embedded and the stack (Trino) tests.

`serve_superset` runs `lakehouse dashboards serve` on a free port until the block ends;
`check_chess_dashboard` drives tests/browser/check_dashboard.mjs (playwright-core with
Debian's /usr/bin/chromium) and asserts every chart rendered without an error, every data
request succeeded and the big numbers equal the marts read through pyiceberg.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.compute as pc
import yaml

from spark_jobs.common.catalog import load_pyiceberg_catalog
from spark_jobs.dashboards import BUNDLE_DIR
from spark_jobs.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
BROWSER_DIR = ROOT / "tests" / "browser"
OUTPUT = ROOT / "test-output" / "superset"
ALL_CHARTS = [yaml.safe_load(p.read_text()) for p in (BUNDLE_DIR / "charts").glob("*.yaml")]


def dashboard_charts(slug_file: str) -> list[dict]:
    """The charts placed on one dashboard of the bundle (e.g. "Chess.yaml")."""
    board = yaml.safe_load((BUNDLE_DIR / "dashboards" / slug_file).read_text())
    uuids = {
        node["meta"]["uuid"]
        for node in board["position"].values()
        if isinstance(node, dict) and node.get("type") == "CHART"
    }
    return [c for c in ALL_CHARTS if c["uuid"] in uuids]


CHARTS = dashboard_charts("Chess.yaml")


def stop_group(proc: subprocess.Popen) -> None:
    """Stop a process started with start_new_session=True, and all its children."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_superset(env: dict[str, str], home: Path) -> Iterator[str]:
    """`lakehouse dashboards serve` on a free port; yields its URL once /health answers."""
    port = free_port()
    log_path = home / "superset-serve.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [LAKEHOUSE, "dashboards", "serve", "--port", str(port)],
        env=env,
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as res:
                    if res.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Superset did not answer /health in 180 s"
            time.sleep(1)
        yield url
    finally:
        stop_group(proc)
        log.close()


def expected_numbers(settings: Settings) -> dict[str, str]:
    """The big numbers as the marts give them (pyiceberg, not Superset's SQL)."""
    catalog = load_pyiceberg_catalog(settings)
    games = catalog.load_table("marts.fct_chess_games").scan().to_arrow()
    ratings = (
        catalog.load_table("marts.agg_chess_rating_daily")
        .scan(row_filter="time_class == 'rapid'")
        .to_arrow()
    )
    latest = pc.max(ratings["game_date"])
    current = ratings.filter(pc.equal(ratings["game_date"], latest))["rating"][0].as_py()
    wins = pc.sum(pc.equal(games["my_result"], "win")).as_py()
    return {
        "Current rapid rating": str(current),
        "Games played": f"{games.num_rows:,}",
        "Wins": f"{wins:,}",
    }


def open_dashboard(
    url: str, password: str, charts: list[dict], screenshot: Path, path: str | None = None
) -> dict:
    """tests/browser/check_dashboard.mjs on one dashboard (default: Chess); asserts every
    chart rendered without an error and every data request succeeded; returns the report
    with `charts` keyed by title."""
    node = shutil.which("node")
    assert node, "Node.js is needed for the browser test: run `make setup`"
    assert (BROWSER_DIR / "node_modules" / "playwright-core").is_dir(), "run `make setup`"
    assert Path("/usr/bin/chromium").exists(), "Debian chromium missing: run `make setup`"
    screenshot.unlink(missing_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SUPERSET_", "LAKEHOUSE_"))},
        "SUPERSET_URL": url,
        "SUPERSET_USER": "admin",
        "SUPERSET_PASSWORD": password,
        "EXPECTED_CHARTS": str(len(charts)),
        "SCREENSHOT": str(screenshot),
        **({"DASHBOARD_PATH": path} if path else {}),
    }
    start = time.monotonic()
    run = subprocess.run(
        [node, str(BROWSER_DIR / "check_dashboard.mjs")],
        env=env,
        cwd=BROWSER_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
    )
    print(f"browser check {(path or 'chess')[:60]}: {time.monotonic() - start:.0f} s")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    report = json.loads(run.stdout)
    report["charts"] = {c["name"]: c for c in report["charts"]}
    assert sorted(report["charts"]) == sorted(c["slice_name"] for c in charts)
    for name, chart in report["charts"].items():
        assert chart["error"] is None, f"{name}: {chart['error']}"
        assert chart["rendered"], f"{name} did not render: {chart['text']}"
    statuses = [r["status"] for r in report["chartData"]]
    assert len(statuses) >= len(charts)
    assert all(200 <= s < 300 for s in statuses), report["chartData"]
    assert report["failedRequests"] == []
    assert screenshot.stat().st_size > 50_000
    return report


def check_chess_dashboard(
    url: str, password: str, settings: Settings, screenshot_name: str
) -> dict:
    """Open the Chess dashboard in Chromium and assert on what a person would see."""
    report = open_dashboard(url, password, CHARTS, OUTPUT / screenshot_name)
    for title, value in expected_numbers(settings).items():
        assert report["charts"][title]["bigNumber"] == value, title
    return report
