"""End to end: `airflow dags test` of chesscom_daily, then of lakehouse_transform, against
the API sandbox on a tmp lakehouse.

The real DAGs run in the Airflow venv: chesscom_daily (spark-submit of the ingestion job,
whose success updates the asset `lakehouse://bronze/chesscom`), then lakehouse_transform
(the DAG scheduled on that asset: `lakehouse transform` with its write-audit-publish gate).
`airflow dags test` runs no scheduler, so the test runs the transform DAG itself after each
ingest, as the asset would. The chess.com sandbox is served from this pytest process, and
the published marts are read back with pyiceberg (no Spark here).

1. The runs for yesterday's interval publish exactly the sandbox's games of that month.
2. New games played today appear in the sandbox; the runs for today's interval publish
   them, and nothing is duplicated.
3. A game with an impossible time class reaches bronze (appended with pyiceberg: the ingest
   path is steps 1 and 2's); the transform's DAG run fails its audit and leaves the
   published marts exactly as they were.
"""

from __future__ import annotations

import copy
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import pytest

# Six `airflow dags test` runs, each a spark-submit or a dbt build: slow on 2 busy cores.
# extended (`make test-all`): its first day runs in every CI run on the stack
# (tests/stack/test_stack_airflow.py, the same scenario code), the DAGs' parsing and
# wiring in tests/integration/test_airflow_dags.py, the failing audit's publish-nothing
# in tests/stack/test_stack.py and tests/integration/test_dbt_chess.py.
pytestmark = [pytest.mark.slow, pytest.mark.extended, pytest.mark.timeout(3600)]

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


def _games_today(store, count: int) -> list[dict]:
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


def _append_bad_game(deployment: dict[str, str]) -> str:
    """A copy of PLAYER's newest bronze game with a new uuid and a time class the marts'
    accepted_values test rejects (bronze takes it), appended with pyiceberg; its uuid."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyiceberg.expressions import EqualTo

    from spark_jobs.common.catalog import load_pyiceberg_catalog
    from spark_jobs.settings import load_settings

    table = load_pyiceberg_catalog(load_settings(deployment)).load_table("bronze.chesscom_games")
    games = table.scan(row_filter=EqualTo("player", PLAYER)).to_arrow()
    newest = games.take([pc.index(games["end_time"], pc.max(games["end_time"])).as_py()])
    bad = str(uuid.uuid4())
    for name, value in {
        "uuid": bad,
        "url": f"{newest['url'][0]}-bad",
        "time_class": "hyperbullet",
    }.items():
        column = newest.schema.get_field_index(name)
        newest = newest.set_column(column, newest.schema.field(column), pa.array([value]))
    table.append(newest)
    return bad


def _snapshots(deployment: dict[str, str]) -> dict[str, int | None]:
    from spark_jobs.common.catalog import load_pyiceberg_catalog
    from spark_jobs.settings import load_settings

    catalog = load_pyiceberg_catalog(load_settings(deployment))
    out = {}
    for ident in catalog.list_tables("marts"):
        snapshot = catalog.load_table(ident).current_snapshot()
        out[".".join(ident)] = snapshot.snapshot_id if snapshot else None
    return out


def _bronze_asset_events(env: dict[str, str]) -> int:
    """How many events the asset `lakehouse://bronze/chesscom` has in Airflow's metadata DB
    (the default SQLite database of the test's AIRFLOW_HOME)."""
    import sqlite3

    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute(
            "select count(*) from asset_event e join asset a on a.id = e.asset_id "
            "where a.uri = 'lakehouse://bronze/chesscom'"
        ).fetchone()
    return count


def _dags_test(
    airflow_bin: Path, env: dict[str, str], dag_id: str, logical_date: datetime, log: IO[str]
) -> int:
    started = time.monotonic()
    print(f"===== airflow dags test {dag_id} {logical_date.isoformat()}", file=log, flush=True)
    proc = subprocess.run(
        [str(airflow_bin / "airflow"), "dags", "test", dag_id, logical_date.isoformat()],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        timeout=1500,
    )
    print(f"airflow dags test {dag_id} {logical_date:%Y-%m-%d}: {time.monotonic() - started:.0f} s")
    return proc.returncode


def _run_day(
    airflow_bin: Path, env: dict[str, str], logical_date: datetime, log: Path
) -> tuple[int, int | None, str]:
    """chesscom_daily for `logical_date`, then lakehouse_transform (what its asset triggers).

    Both runs' output go to `log`, in that order. Returns (ingest exit code, transform exit
    code, the log); the transform is not run when the ingest failed. A successful ingest
    must have updated the asset the transform DAG is scheduled on.
    """
    events = _bronze_asset_events(env)
    with log.open("w") as out:
        ingest = _dags_test(airflow_bin, env, "chesscom_daily", logical_date, out)
        transform = None
        if ingest == 0:
            assert _bronze_asset_events(env) == events + 1, "no asset event from the ingest"
            transform = _dags_test(airflow_bin, env, "lakehouse_transform", logical_date, out)
    return ingest, transform, log.read_text()


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
        # The failing audit fails again on every retry (same data): no retries here
        # (test_airflow_dags.py checks the deployed DAGs' retry settings).
        LAKEHOUSE_AIRFLOW_RETRIES="0",
        LAKEHOUSE_AIRFLOW_RETRY_DELAY="1",
    )
    run_daily_scenario(airflow_bin, env, store, deployment, tmp_path)


def run_daily_scenario(
    airflow_bin: Path,
    env: dict[str, str],
    store,
    deployment: dict[str, str],
    tmp_path: Path,
    steps: int = 3,
) -> None:
    """Yesterday, then today with new games, then a failing audit (module docstring).

    `deployment` holds the settings' variables, to read the published marts with pyiceberg;
    `steps` stops the scenario early (the stack runs the first day only: its failing audit
    on Trino is tests/stack/test_stack.py's).
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
    ingest, transform, log = _run_day(airflow_bin, env, today, tmp_path / "run1.log")
    assert (ingest, transform) == (0, 0), log[-6000:]
    assert f"data_interval_start={yesterday:%Y-%m-%d} 00:00:00+00:00" in log
    month = f"{yesterday:%Y-%m}"
    assert f"--from {month} --to {month}" in log
    expected = {g["uuid"] for g in store.games(PLAYER, month)}
    assert expected, "the sandbox has no games in yesterday's month"
    published = _marts_uuids(deployment)
    assert len(published) == len(set(published))
    assert set(published) == expected
    if steps == 1:
        return

    # 2. New games today, then today's interval [today, tomorrow).
    new_games = _games_today(store, 3)
    store.add_games(PLAYER, f"{today:%Y-%m}", new_games)
    second = today + timedelta(days=1)
    ingest, transform, log = _run_day(airflow_bin, env, second, tmp_path / "run2.log")
    assert (ingest, transform) == (0, 0), log[-6000:]
    assert f"--from {today:%Y-%m} --to {today:%Y-%m}" in log
    months = _months_between(yesterday, today)
    expected = {g["uuid"] for m in months for g in store.games(PLAYER, m)}
    assert {g["uuid"] for g in new_games} <= expected
    published = _marts_uuids(deployment)
    assert len(published) == len(set(published)), "a game was published twice"
    assert set(published) == expected

    # 3. A game the audit rejects reaches bronze: the transform's DAG run fails and nothing
    #    is published.
    before_snapshots = _snapshots(deployment)
    bad = _append_bad_game(deployment)
    # Another manual run (logical dates must differ between runs).
    third = today + timedelta(days=1, hours=1)
    with (tmp_path / "run3.log").open("w") as out:
        transform = _dags_test(airflow_bin, env, "lakehouse_transform", third, out)
    log = (tmp_path / "run3.log").read_text()
    assert transform != 0, log[-6000:]
    assert "audit FAILED: nothing published" in log
    assert "time_class" in log
    assert _snapshots(deployment) == before_snapshots
    assert bad not in _marts_uuids(deployment)
    assert set(_marts_uuids(deployment)) == expected
