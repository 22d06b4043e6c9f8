"""The `lakehouse` command as a user runs it: real processes, exit codes, messages.

Each test gets its own LAKEHOUSE_HOME; results are checked through pyiceberg (no JVM), which
also proves the catalog the CLI writes is readable by another engine.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spark_jobs.common.catalog import load_pyiceberg_catalog
from spark_jobs.sandbox.chesscom import ChessComApp, ChessComStore
from spark_jobs.sandbox.chesscom_generator import generate_history
from spark_jobs.sandbox.server import Fault, SandboxServer
from spark_jobs.settings import load_settings

pytestmark = pytest.mark.slow

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
UA = "lakehouse-tests/0.1 (tests@example.com)"


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHESSCOM_", "LAKEHOUSE_"))}
    env.update(LAKEHOUSE_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1", **extra)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: int = 300):
    return subprocess.run(
        [LAKEHOUSE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def chess_server() -> Iterator[tuple[SandboxServer, ChessComStore]]:
    store = ChessComStore()
    with SandboxServer() as srv:
        srv.mount("chesscom", ChessComApp(store))
        yield srv, store


def test_help_explains_every_command(tmp_path: Path) -> None:
    out = _run(["--help"], _env(tmp_path), tmp_path)
    assert out.returncode == 0
    for command in ("ingest", "rebuild", "sql", "demo", "sandbox", "config", "status"):
        assert command in out.stdout
    sub = _run(["ingest", "chesscom", "--help"], _env(tmp_path), tmp_path)
    assert sub.returncode == 0
    for option in ("--player", "--from", "--to", "--refresh", "CHESSCOM_USER_AGENT"):
        assert option in sub.stdout


@pytest.mark.parametrize(
    ("args", "env_extra", "message"),
    [
        # No User-Agent: chess.com would answer 403, so refuse before any request.
        (["--player", "hikaru"], {}, "CHESSCOM_USER_AGENT"),
        # A User-Agent without contact info is refused the same way.
        (["--player", "hikaru"], {"CHESSCOM_USER_AGENT": "bot/1.0"}, "contact info"),
        # Not a chess.com username.
        (["--player", "../../etc"], {"CHESSCOM_USER_AGENT": UA}, "not a chess.com username"),
        # Not a month.
        (["-p", "hikaru", "--from", "2024-13"], {"CHESSCOM_USER_AGENT": UA}, "YYYY-MM"),
    ],
)
def test_bad_input_exits_2_with_a_fix(
    tmp_path: Path, args: list[str], env_extra: dict[str, str], message: str
) -> None:
    out = _run(["ingest", "chesscom", *args], _env(tmp_path, **env_extra), tmp_path)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert not (tmp_path / "catalog.db").exists()  # nothing was started or written


def _rows(home: Path, table: str, player: str) -> list[dict]:
    catalog = load_pyiceberg_catalog(load_settings({"LAKEHOUSE_HOME": str(home)}))
    if not catalog.table_exists(table):
        return []
    column = "player" if table.startswith("bronze.chesscom") else "account"
    arrow = catalog.load_table(table).scan(row_filter=f"{column} == '{player}'").to_arrow()
    return arrow.to_pylist()


@pytest.mark.timeout(1500)
def test_killed_runs_are_logged_and_completed_by_the_next_run(tmp_path: Path, chess_server) -> None:
    """kill -9 mid-ingest, then mid-publish; each time the run log and `lakehouse status`
    tell, and the next run completes the work. Meanwhile no command is silent for long."""
    server, store = chess_server
    player = "interrupted_ivan"
    store.add_player(player, generate_history(player, "2022-01", "2023-03", seed=21))
    expected = {g["uuid"] for m in store.months(player) for g in store.games(player, m)}
    # Month 14 hangs: by then 11 months and the archives list were flushed to raw.
    server.faults.add(Fault(source="chesscom", kind="delay", delay=60, path=r"/2023/02$"))
    env = _env(tmp_path, CHESSCOM_USER_AGENT=UA, CHESSCOM_API_BASE=server.base_url("chesscom"))
    proc = subprocess.Popen(
        [LAKEHOUSE, "ingest", "chesscom", "--player", player],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while not any(r.path.endswith("/2023/02") for r in server.requests):
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline, "the run never reached month 14"
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    raw = _rows(tmp_path, "raw.chesscom_responses", player)
    assert len(raw) >= 12  # the archives list and the first 11 months survived the kill
    assert _rows(tmp_path, "bronze.chesscom_games", player) == []  # no partial rows
    assert _rows(tmp_path, "raw.ingest_state", player) == []  # state never ran ahead
    # The run log knew of the run from its start; its process is gone, so status says so.
    (killed,) = _rows(tmp_path, "raw.ingest_runs", player)
    assert killed["status"] == "running" and killed["pid"] == proc.pid
    status = _run(["status", "chesscom"], env, tmp_path)
    assert status.returncode == 0, status.stderr
    ((_, runs, last, *_, note),) = _table_rows(status.stdout, player, columns=6)
    assert (runs, last) == ("1", "interrupted"), status.stdout
    assert f"process {proc.pid} ended" in note
    assert f"lakehouse ingest chesscom --player {player}" in note

    server.faults.clear()
    # Long steps are never silent (Spark's start, MERGE, rebuild, dbt): a line at least
    # every 5 s, from the first line to the last (README "Crashes and the run logs").
    silences = {}
    for args in (["ingest", "chesscom", "--player", player], ["rebuild", "chesscom"]):
        proc, output = _timed(args, env, tmp_path)
        lines = list(output)
        assert proc.wait(timeout=600) == 0, "".join(line for _, line in lines)
        silences[args[0]] = _longest_silence(lines)
    bronze = _rows(tmp_path, "bronze.chesscom_games", player)
    assert len(bronze) == len(expected) and {r["uuid"] for r in bronze} == expected
    assert len(_rows(tmp_path, "raw.ingest_state", player)) == len(store.months(player))
    # The rerun closed the killed run with what it had kept, then logged its own success.
    runs = {r["run_id"]: r for r in _rows(tmp_path, "raw.ingest_runs", player)}
    closed = runs.pop(killed["run_id"])
    assert closed["status"] == "interrupted" and closed["responses_kept"] == len(raw)
    assert f"kept {len(raw)} responses in raw" in closed["error"]
    ((_, done),) = runs.items()
    assert done["status"] == "success" and done["finished_at"] is not None
    status = _run(["status", "chesscom"], env, tmp_path).stdout
    ((_, runs, last, *_),) = _table_rows(status, player, columns=6)
    assert (runs, last) == ("2", "success"), status
    months = store.months(player)  # bronze per player: months, games, first and last month
    coverage = [player, str(len(months)), str(len(expected)), months[0], months[-1]]
    assert _table_rows(status, player, columns=5) == [coverage], status

    _kill_a_publish_then_complete_it(tmp_path, env, silences)

    # Data without a logged run (a lost run log, say): status names the command that logs one.
    catalog = load_pyiceberg_catalog(load_settings({"LAKEHOUSE_HOME": str(tmp_path)}))
    catalog.load_table("raw.ingest_runs").delete(f"account == '{player}'")
    status = _run(["status", "chesscom"], env, tmp_path).stdout
    assert f"{player}: data in bronze but no logged run" in status, status
    assert f"`lakehouse ingest chesscom --player {player}` checks it" in status


def _section(text: str, source: str) -> str:
    """One source's part of `lakehouse status` (from its `== Title (name)` line)."""
    (part,) = [p for p in text.split("== ")[1:] if p.split("\n", 1)[0].endswith(f"({source})")]
    return part


def _table_rows(text: str, account: str, columns: int) -> list[list[str]]:
    """The rows of `account` in the tables of width `columns` that `lakehouse` printed."""
    rows = [
        [c.strip() for c in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ")
    ]
    return [r for r in rows if len(r) == columns and r[0] == account]


def _timed(args: list[str], env: dict[str, str], cwd: Path):
    """Start `lakehouse ARGS`; returns the process and an iterator of (seconds, line)."""
    proc = subprocess.Popen(
        [LAKEHOUSE, *args], env=env, cwd=cwd, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    return proc, ((time.monotonic(), line) for line in proc.stdout)


def _longest_silence(lines) -> tuple[float, str]:
    """The longest wait between two output lines, and the line that ended it."""
    gaps = [(b[0] - a[0], b[1].strip()) for a, b in itertools.pairwise(lines)]
    return max(gaps, default=(0.0, ""))


def _all_rows(home: Path, table: str) -> list[dict]:
    catalog = load_pyiceberg_catalog(load_settings({"LAKEHOUSE_HOME": str(home)}))
    return catalog.load_table(table).scan().to_arrow().to_pylist()


def _main_snapshots(home: Path, marts: list[str]) -> dict[str, int | None]:
    catalog = load_pyiceberg_catalog(load_settings({"LAKEHOUSE_HOME": str(home)}))
    snapshots = {}
    for mart in marts:
        current = catalog.load_table(f"marts.{mart}").current_snapshot()
        snapshots[mart] = current.snapshot_id if current else None
    return snapshots


def _kill_a_publish_then_complete_it(
    home: Path, env: dict[str, str], silences: dict[str, tuple[float, str]]
) -> None:
    """kill -9 a transform right after its first mart reached `main`; the next one
    completes the publish (and has nothing else to do)."""
    proc, lines = _timed(["transform"], env, home)
    seen = []
    for at, line in lines:  # kill -9 right after the first mart reached main
        seen.append((at, line))
        if re.match(r"\s+marts\.\w+: published", line):
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "".join(line for _, line in seen)
    silences["transform"] = _longest_silence(seen)
    print("longest silence per command:", {k: f"{v[0]:.1f} s" for k, v in silences.items()})
    assert all(gap <= 5.0 for gap, _ in silences.values()), silences

    (killed,) = _all_rows(home, "raw.transform_runs")
    assert killed["status"] == "publishing" and killed["pid"] == proc.pid
    audited = json.loads(killed["plan"])["snapshots"]
    before = _main_snapshots(home, list(audited))
    published = [m for m in audited if before[m] == audited[m]]
    assert published, before  # at least the mart whose line we saw
    print(f"killed after {len(published)} of {len(audited)} marts were published")
    status = _run(["status"], env, home)
    assert status.returncode == 0, status.stderr
    ((_, state, _, _, note),) = _table_rows(status.stdout, killed["run_id"], columns=5)
    assert state == "publish cut short" and "completes the publish" in note, status.stdout

    rerun = _run(["transform"], env, home, timeout=900)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"completed the publish of run {killed['run_id']}, cut short" in rerun.stdout
    # Completed as the killed run would have finished it: nothing left to build.
    assert "nothing to do" in rerun.stdout, rerun.stdout
    assert _main_snapshots(home, list(audited)) == audited
    runs = {r["run_id"]: r for r in _all_rows(home, "raw.transform_runs")}
    closed = runs.pop(killed["run_id"])
    assert closed["status"] == "published" and "publish cut short" in closed["note"]
    assert [r["status"] for r in runs.values()] == ["unchanged"]
    # The dashboards' serving file is pinned to the completed publish, mart by mart.
    import duckdb

    serving = home / "serving" / "lakehouse.duckdb"
    with duckdb.connect(str(serving), read_only=True) as con:
        views = dict(con.sql("select view_name, sql from duckdb_views()").fetchall())
    pinned = {m: s for m, s in audited.items() if s is not None}  # None: empty, never built
    assert pinned
    for mart, snapshot in pinned.items():
        assert re.search(rf"snapshot_from_id (=>|:=) {snapshot}\b", views[mart]), views[mart]


@pytest.mark.timeout(1800)
def test_demo_then_sql_in_every_format(demo_lakehouse) -> None:
    # The session's `make demo` (tests/integration/conftest.py).
    home, env, out = demo_lakehouse.home, demo_lakehouse.env, demo_lakehouse.demo_output
    assert "second run (incremental)" in out
    for slug in ("chess", "health"):  # ends with the dashboards imported
        assert f"/superset/dashboard/{slug}/" in out
    games = len(_rows(home, "bronze.chesscom_games", "demo_player"))
    assert games > 0
    # Oura went through every layer too: a night per day since --since, in the marts.
    nights = _rows(home, "bronze.oura_daily_sleep", "demo_player")
    days = _rows(home, "marts.daily_health", "demo_player")
    assert len(nights) >= 55 and len(days) == len(nights)
    # The demo person wears the ring and the strap: canonical days from both.
    canonical = _rows(home, "marts.fct_daily_health", "demo_player")
    assert len(canonical) >= len(nights)
    assert "oura,whoop" in {r["sources"] for r in canonical}
    assert "Oura second run (incremental)" in out

    # The fixture ingested a second player (rival_player) before the demo.
    query = (
        "select player, count(*) as games from lake.bronze.chesscom_games"
        " where player = 'demo_player' group by player"
    )
    as_json = _run(["sql", query, "--format", "json"], env, home)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [{"player": "demo_player", "games": games}]
    as_csv = _run(["sql", query, "--format", "csv"], env, home)
    assert as_csv.stdout.splitlines() == ["player,games", f"demo_player,{games}"]
    bad = _run(["sql", "select * from lake.bronze.no_such_table"], env, home)
    assert bad.returncode == 2 and "query failed" in bad.stderr

    # status: every source's runs and bronze per account.
    status = _run(["status"], env, home)
    assert status.returncode == 0, status.stderr
    chess, oura = _section(status.stdout, "chesscom"), _section(status.stdout, "oura")
    for player in ("demo_player", "rival_player"):
        ((_, runs, last, *_),) = _table_rows(chess, player, columns=6)
        assert int(runs) >= 1 and last == "success", status.stdout
    ((_, _, chess_games, *_),) = _table_rows(chess, "demo_player", columns=5)
    assert int(chess_games) == games
    ((_, days, *_),) = _table_rows(oura, "demo_player", columns=5)
    assert int(days) >= len(nights)
