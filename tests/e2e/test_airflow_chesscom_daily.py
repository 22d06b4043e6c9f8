"""End to end: `airflow dags test chesscom_daily` against the API sandbox on a tmp lakehouse.

The real DAG runs in the Airflow venv (spark-submit of the ingestion job, then `lakehouse
transform` with its write-audit-publish gate); the chess.com sandbox is served from this
pytest process, and the published marts are read back with pyiceberg (no Spark here).

1. The run for yesterday's interval publishes exactly the sandbox's games of that month.
2. New games played today appear in the sandbox; the run for today's interval publishes
   them, and nothing is duplicated.
3. A run whose audit fails (a game with an impossible time class) fails the DAG run and
   leaves the published marts exactly as they were.
"""

from __future__ import annotations

import copy
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

PLAYER = "airflow_e2e_player"


def _months_between(first: datetime, last: datetime) -> list[str]:
    out, (y, m) = [], (first.year, first.month)
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


@pytest.fixture(scope="module")
def sandbox() -> Iterator[tuple[str, object]]:
    """The chess.com sandbox with a generated player: about two months of history to now."""
    from spark_jobs.sandbox import ChessComApp, ChessComStore, SandboxServer
    from spark_jobs.sandbox.chesscom_generator import generate_history_until

    now = datetime.now(UTC)
    start = (now.replace(day=1) - timedelta(days=40)).strftime("%Y-%m")
    store = ChessComStore()
    store.add_player(PLAYER, generate_history_until(PLAYER, start, now))
    with SandboxServer() as server:
        server.mount("chesscom", ChessComApp(store))
        yield server.base_url("chesscom"), store


def _games_today(store, count: int, kind: str = "valid") -> list[dict]:
    """New games of PLAYER that ended today (copies of older ones with new ids and times)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    template = next(
        g
        for m in reversed(store.months(PLAYER))
        for g in store.games(PLAYER, m)
        if g["time_class"] != "daily"
    )
    games = []
    for i in range(count):
        game = copy.deepcopy(template)
        game["uuid"] = str(uuid.uuid4())
        game["url"] = f"https://www.chess.com/game/live/{9_000_000_000 + int(time.time()) + i}"
        game["end_time"] = int(today.timestamp()) + 60 * (i + 1)
        if kind == "bad":
            # Bronze takes it; the marts' accepted_values test on time_class rejects it.
            game["time_class"] = "hyperbullet"
        games.append(game)
    return games


def _marts_uuids(deployment: dict[str, str]) -> list[str]:
    from pyiceberg.expressions import EqualTo

    from spark_jobs.common.catalog import load_pyiceberg_catalog
    from spark_jobs.settings import load_settings

    catalog = load_pyiceberg_catalog(load_settings(deployment))
    table = catalog.load_table("marts.fct_chess_games")
    rows = table.scan(row_filter=EqualTo("player", PLAYER), selected_fields=("uuid",))
    return rows.to_arrow().column("uuid").to_pylist()


def _snapshots(deployment: dict[str, str]) -> dict[str, int | None]:
    from spark_jobs.common.catalog import load_pyiceberg_catalog
    from spark_jobs.settings import load_settings

    catalog = load_pyiceberg_catalog(load_settings(deployment))
    out = {}
    for ident in catalog.list_tables("marts"):
        snapshot = catalog.load_table(ident).current_snapshot()
        out[".".join(ident)] = snapshot.snapshot_id if snapshot else None
    return out


def _dags_test(airflow_bin: Path, env: dict[str, str], logical_date: datetime, log: Path):
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.run(
            [
                str(airflow_bin / "airflow"),
                "dags",
                "test",
                "chesscom_daily",
                logical_date.isoformat(),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=900,
        )
    print(f"airflow dags test {logical_date:%Y-%m-%d}: {time.monotonic() - started:.0f} s")
    return proc.returncode, log.read_text()


def test_chesscom_daily_end_to_end(
    airflow_bin: Path, airflow_environ, sandbox, tmp_path: Path
) -> None:
    base_url, store = sandbox
    deployment = {"LAKEHOUSE_HOME": str(tmp_path / "lakehouse")}
    env = airflow_environ(
        **deployment,
        CHESSCOM_API_BASE=base_url,
        CHESSCOM_USER_AGENT="lakehouse-airflow-e2e/0.1 (e2e@example.com)",
        AIRFLOW_VAR_CHESSCOM_PLAYERS=PLAYER,
        AIRFLOW_CONN_SPARK_DEFAULT='{"conn_type": "spark", "host": "local[2]"}',
        # A failing run retries twice; keep the waits short here.
        LAKEHOUSE_AIRFLOW_RETRY_DELAY="1",
    )
    run_daily_scenario(airflow_bin, env, store, deployment, tmp_path)


def run_daily_scenario(
    airflow_bin: Path, env: dict[str, str], store, deployment: dict[str, str], tmp_path: Path
) -> None:
    """Yesterday, then today with new games, then a failing audit (module docstring).

    `deployment` holds the settings' variables, to read the published marts with pyiceberg.
    """
    started = time.monotonic()
    subprocess.run(
        [str(airflow_bin / "airflow"), "db", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    print(f"airflow db migrate: {time.monotonic() - started:.0f} s")

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)

    # 1. Yesterday's interval [yesterday, today): a manual run with logical date `today`
    #    (CronDataIntervalTimetable gives it the last complete day).
    code, log = _dags_test(airflow_bin, env, today, tmp_path / "run1.log")
    assert code == 0, log[-6000:]
    assert f"data_interval_start={yesterday:%Y-%m-%d} 00:00:00+00:00" in log
    month = f"{yesterday:%Y-%m}"
    assert f"--from {month} --to {month}" in log
    expected = {g["uuid"] for g in store.games(PLAYER, month)}
    assert expected, "the sandbox has no games in yesterday's month"
    published = _marts_uuids(deployment)
    assert len(published) == len(set(published))
    assert set(published) == expected

    # 2. New games today, then today's interval [today, tomorrow).
    new_games = _games_today(store, 3)
    store.add_games(PLAYER, f"{today:%Y-%m}", new_games)
    code, log = _dags_test(airflow_bin, env, today + timedelta(days=1), tmp_path / "run2.log")
    assert code == 0, log[-6000:]
    assert f"--from {today:%Y-%m} --to {today:%Y-%m}" in log
    months = _months_between(yesterday, today)
    expected = {g["uuid"] for m in months for g in store.games(PLAYER, m)}
    assert {g["uuid"] for g in new_games} <= expected
    published = _marts_uuids(deployment)
    assert len(published) == len(set(published)), "a game was published twice"
    assert set(published) == expected

    # 3. A game the audit rejects: the DAG run fails and nothing is published.
    before_snapshots = _snapshots(deployment)
    bad = _games_today(store, 1, kind="bad")
    store.add_games(PLAYER, f"{today:%Y-%m}", bad)
    # Another manual run of today's interval (logical dates must differ between runs).
    third = today + timedelta(days=1, hours=1)
    code, log = _dags_test(airflow_bin, env, third, tmp_path / "run3.log")
    assert code != 0
    assert "audit FAILED: nothing published" in log
    assert "time_class" in log
    assert _snapshots(deployment) == before_snapshots
    assert set(_marts_uuids(deployment)) == expected
