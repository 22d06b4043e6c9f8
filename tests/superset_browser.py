"""Superset in a real browser, shared by the embedded and the stack (Trino) tests.

`serve_superset` runs `lakehouse dashboards serve` on a free port until the block ends;
`check_chess_dashboard` drives tests/browser/check_dashboard.mjs (playwright-core with
Debian's /usr/bin/chromium) and asserts every chart rendered without an error, every data
request succeeded and the big numbers equal the marts read through pyiceberg, unfiltered
or with the dashboard's native filters set through its URL (`dashboard_path`: Superset's
own `native_filters=` state, so every chart query goes through the filters exactly as
after a click in the filter bar).
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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
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
CHESS_PLAYER = "NATIVE_FILTER-chess-player"
CHESS_TIME_CLASS = "NATIVE_FILTER-chess-time-class"
CHESS_DATE = "NATIVE_FILTER-chess-date"
BIG_NUMBERS = ("Current rapid rating", "Games played", "Wins", "Losses", "Draws", "Win rate")


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


def _rison(value: str) -> str:
    return "'" + value.replace("!", "!!").replace("'", "!'") + "'"


def dashboard_path(
    slug: str,
    selects: Mapping[str, tuple[str, Sequence[str]]] | None = None,
    time_ranges: Mapping[str, str] | None = None,
) -> str:
    """The dashboard's URL with native filters set, in Superset's URL state (rison).

    Args:
        slug: the dashboard's slug.
        selects: filter id -> (column, values) for select filters.
        time_ranges: filter id -> Superset time range ("2026-01-01 : 2026-02-01").
    """
    state = []
    for fid, (column, values) in (selects or {}).items():
        vals = ",".join(_rison(v) for v in values)
        state.append(
            f"{_rison(fid)}:(id:{_rison(fid)},"
            f"extraFormData:(filters:!((col:{column},op:IN,val:!({vals})))),"
            f"filterState:(label:{_rison(', '.join(values))},value:!({vals})))"
        )
    for fid, span in (time_ranges or {}).items():
        state.append(
            f"{_rison(fid)}:(id:{_rison(fid)},extraFormData:(time_range:{_rison(span)}),"
            f"filterState:(label:{_rison(span)},value:{_rison(span)}))"
        )
    path = f"/superset/dashboard/{slug}/"
    return f"{path}?native_filters={quote('(' + ','.join(state) + ')', safe='')}" if state else path


def since_span(since: date) -> str:
    """A date-range filter's value from `since` through today."""
    return f"{since.isoformat()} : {(date.today() + timedelta(days=1)).isoformat()}"


def expected_numbers(
    settings: Settings,
    players: Sequence[str] | None = None,
    time_classes: Sequence[str] | None = None,
    since: date | None = None,
) -> dict[str, str]:
    """The big numbers as the marts give them (pyiceberg, not Superset's SQL), for the
    Chess dashboard's filters: None = not set. Current rapid rating ignores time class and
    date (its filters' scope) and shows a number only when one player is in view."""
    catalog = load_pyiceberg_catalog(settings)
    games = catalog.load_table("marts.fct_chess_games").scan().to_arrow()
    ratings = (
        catalog.load_table("marts.agg_chess_rating_daily")
        .scan(row_filter="time_class == 'rapid'")
        .to_arrow()
    )
    if players is not None:
        games = games.filter(pc.is_in(games["player"], pa.array(players)))
        ratings = ratings.filter(pc.is_in(ratings["player"], pa.array(players)))
    if time_classes is not None:
        games = games.filter(pc.is_in(games["time_class"], pa.array(time_classes)))
    if since is not None:
        games = games.filter(pc.greater_equal(games["game_date"], pa.scalar(since)))
    current = "No data"
    if len(pc.unique(ratings["player"])) == 1:
        latest = pc.max(ratings["game_date"])
        current = str(ratings.filter(pc.equal(ratings["game_date"], latest))["rating"][0].as_py())
    outcomes = games["my_outcome"]
    wins = pc.sum(pc.equal(outcomes, "win")).as_py() or 0
    return {
        "Current rapid rating": current,
        "Games played": f"{games.num_rows:,}",
        "Wins": f"{wins:,}",
        "Losses": f"{pc.sum(pc.equal(outcomes, 'loss')).as_py() or 0:,}",
        "Draws": f"{pc.sum(pc.equal(outcomes, 'draw')).as_py() or 0:,}",
        "Win rate": f"{wins / games.num_rows:.1%}" if games.num_rows else "No data",
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
    size = screenshot.stat().st_size
    texts = {name: chart["text"][:80] for name, chart in report["charts"].items()}
    assert size > 50_000, f"{screenshot.name}: {size} bytes, nearly blank; charts: {texts}"
    return report


def check_chess_dashboard(
    url: str,
    password: str,
    settings: Settings,
    screenshot_name: str,
    *,
    players: Sequence[str] | None = None,
    time_classes: Sequence[str] | None = None,
    since: date | None = None,
) -> dict:
    """Open the Chess dashboard in Chromium, its native filters set to the given players,
    time classes and first day (None: not set), and assert that its big numbers are the
    marts' for that selection. Returns the report (`charts` keyed by title)."""
    selects = {}
    if players is not None:
        selects[CHESS_PLAYER] = ("player", players)
    if time_classes is not None:
        selects[CHESS_TIME_CLASS] = ("time_class", time_classes)
    spans = {CHESS_DATE: since_span(since)} if since else {}
    path = dashboard_path("chess", selects, spans)
    report = open_dashboard(url, password, CHARTS, OUTPUT / screenshot_name, path)
    shown = {title: report["charts"][title]["bigNumber"] for title in BIG_NUMBERS}
    assert shown == expected_numbers(settings, players, time_classes, since), path
    return report
