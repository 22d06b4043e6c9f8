"""Many processes, one lakehouse: the writer locks and the embedded catalog under load.

    .venv/bin/pytest tests/integration/test_concurrency.py

The lock tests hold a lock from a child process (no Spark) and check what a second writer
sees: LockHeld with the holder's pid and command, waiting, release on SIGKILL, and the
CLI's exit 75 before Spark starts. The end-to-end tests run real `lakehouse` processes
against an in-process chess.com sandbox, each on its own LAKEHOUSE_HOME: two ingests of one
player at once (without and with --wait), and `lakehouse sql` readers during an ingest
(the embedded SQLite catalog once failed such writers with SQLITE_BUSY).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spark_jobs.common import lock as lock_module
from spark_jobs.common.catalog import load_pyiceberg_catalog
from spark_jobs.common.lock import (
    LockHeld,
    LockScope,
    held_scopes,
    hold_locks,
    ingest_locks,
    rebuild_locks,
)
from spark_jobs.sandbox.chesscom import ChessComApp, ChessComStore
from spark_jobs.sandbox.chesscom_generator import generate_history
from spark_jobs.sandbox.server import Fault, SandboxServer
from spark_jobs.settings import load_settings

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
UA = "lakehouse-tests/0.1 (tests@example.com)"
MONTHS = ("2024-01", "2024-03")  # three final months of a few games each: fast runs
GAMES = "lake.bronze.chesscom_games"

HOLDER = """\
import sys
from spark_jobs.common.lock import hold_locks, ingest_locks, LockScope
home, scope = sys.argv[1], sys.argv[2]
scopes = ingest_locks("chesscom", [scope]) if scope != "transform" else [LockScope(scope)]
with hold_locks(home, scopes):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes stdin (or kills this process)
"""


# ------------------------------------------------------------------------ lock only
@pytest.fixture
def holder(tmp_path: Path) -> Iterator:
    """Start a child process (`holder.py HOME SCOPE`) that holds ingest locks until its stdin
    closes; yields a function starting one and returning it once it holds them."""
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    started: list[subprocess.Popen] = []

    def start(home: Path, account: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(home), account],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[2],
        )  # fmt: skip
        started.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_held_lock_raises_with_the_holders_pid_and_command(tmp_path: Path, holder) -> None:
    proc = holder(tmp_path, "rita")
    rita = ingest_locks("chesscom", ["rita"])
    with pytest.raises(LockHeld) as caught, hold_locks(tmp_path, rita):
        pass
    exc = caught.value
    assert exc.scope == "chesscom/rita"
    assert exc.holder is not None and exc.holder.pid == proc.pid
    assert exc.holder.command == f"holder.py {tmp_path} rita"
    assert exc.holder.since.endswith("Z")
    assert str(exc) == (
        f"another run (pid {proc.pid}, `holder.py {tmp_path} rita`, since {exc.holder.since}) "
        "holds the lakehouse lock chesscom/rita; rerun with --wait"
    )
    # Another account of the same source is free: ingests of different accounts coexist.
    with hold_locks(tmp_path, ingest_locks("chesscom", ["other"])):
        assert held_scopes() == ["chesscom+other.lock", "chesscom.lock"]
    # A rebuild wants the source exclusively: the ingest's shared hold is in the way, and
    # the message names the ingest (found through its account lock).
    with pytest.raises(LockHeld) as rebuild, hold_locks(tmp_path, rebuild_locks("chesscom")):
        pass
    assert rebuild.value.scope == "chesscom"
    assert rebuild.value.holder is not None and rebuild.value.holder.pid == proc.pid
    assert held_scopes() == []


@pytest.mark.slow
def test_wait_gets_the_lock_once_the_holder_exits(
    tmp_path: Path, holder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lock_module, "PROGRESS_EVERY", 0.5)
    proc = holder(tmp_path, "rita")
    threading.Timer(2.0, proc.stdin.close).start()  # the holder finishes in 2 s
    lines: list[str] = []
    start = time.monotonic()
    with hold_locks(
        tmp_path, ingest_locks("chesscom", ["rita"]), wait=True, timeout=60, progress=lines.append
    ):
        waited = time.monotonic() - start
        assert held_scopes() == ["chesscom+rita.lock", "chesscom.lock"]
    assert 1.5 < waited < 30
    assert lines and lines[0].startswith(
        f"waiting for the lakehouse lock chesscom/rita held by pid {proc.pid}, `holder.py"
    )
    # A wait that runs out says so, and how long it waited.
    proc2 = holder(tmp_path, "rita")
    rita = ingest_locks("chesscom", ["rita"])
    with (
        pytest.raises(LockHeld, match=r"still holds .* after waiting 1 s"),
        hold_locks(tmp_path, rita, wait=True, timeout=1),
    ):
        pass
    proc2.stdin.close()


@pytest.mark.slow
def test_a_killed_holder_releases_the_lock(tmp_path: Path, holder) -> None:
    proc = holder(tmp_path, "rita")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    # The kernel dropped the flock with the process: no stale lock, no waiting.
    start = time.monotonic()
    with hold_locks(tmp_path, ingest_locks("chesscom", ["rita"])):
        pass
    assert time.monotonic() - start < 1


def test_locks_are_reentrant_in_one_process(tmp_path: Path) -> None:
    # The CLI locks before Spark, run_ingest locks again: one process, no self-deadlock
    # (two flock descriptors of one process on one file would conflict).
    with hold_locks(tmp_path, ingest_locks("chesscom", ["a", "b"])):
        with hold_locks(tmp_path, ingest_locks("chesscom", ["a"])):
            assert held_scopes() == ["chesscom+a.lock", "chesscom+b.lock", "chesscom.lock"]
        assert held_scopes() == ["chesscom+a.lock", "chesscom+b.lock", "chesscom.lock"]
    assert held_scopes() == []
    # Exclusive covers a later shared request of the same scope.
    with (
        hold_locks(tmp_path, [LockScope("chesscom")]),
        hold_locks(tmp_path, ingest_locks("chesscom", [])),
    ):
        pass
    assert (tmp_path / "locks" / "chesscom.lock").read_text() == ""  # no stale holder


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHESSCOM_", "LAKEHOUSE_"))}
    env.update(LAKEHOUSE_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1", **extra)
    return env


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "scope"),
    [
        ([LAKEHOUSE, "ingest", "chesscom", "--player", "rita"], "chesscom/rita"),
        ([LAKEHOUSE, "rebuild", "chesscom"], "chesscom"),
        ([LAKEHOUSE, "transform"], "transform"),
        ([sys.executable, "-m", "spark_jobs.transform"], "transform"),
    ],
)
def test_cli_exits_75_before_spark_starts(
    tmp_path: Path, holder, args: list[str], scope: str
) -> None:
    proc = holder(tmp_path, "transform" if scope == "transform" else "rita")
    start = time.monotonic()
    out = subprocess.run(
        args, env=_env(tmp_path, CHESSCOM_USER_AGENT=UA), cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 75, out.stderr
    assert f"error: another run (pid {proc.pid}, `holder.py" in out.stderr
    assert f"holds the lakehouse lock {scope}; rerun with --wait" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "catalog.db").exists()  # nothing was started
    assert time.monotonic() - start < 30


# ---------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def chess_server() -> Iterator[tuple[SandboxServer, ChessComStore]]:
    store = ChessComStore()
    for i, player in enumerate(("race_rita", "wait_walt", "read_rhea")):
        store.add_player(
            player, generate_history(player, *MONTHS, seed=40 + i, games_per_month=(4, 8))
        )
    with SandboxServer() as srv:
        srv.mount("chesscom", ChessComApp(store))
        yield srv, store


def _ingest(home: Path, server: SandboxServer, player: str, *extra: str) -> subprocess.Popen:
    env = _env(home, CHESSCOM_USER_AGENT=UA, CHESSCOM_API_BASE=server.base_url("chesscom"))
    return subprocess.Popen(
        [LAKEHOUSE, "ingest", "chesscom", "--player", player, *extra],
        env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _holder_pid(home: Path, scope_file: str, timeout: float = 60) -> int:
    """The pid written into a lock file, once a run holds it."""
    path = home / "locks" / scope_file
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = lock_module._read_holder(path)
        if holder is not None:
            return holder.pid
        time.sleep(0.1)
    raise AssertionError(f"nobody took {path}")


def _bronze_uuids(home: Path, player: str) -> list[str]:
    catalog = load_pyiceberg_catalog(load_settings({"LAKEHOUSE_HOME": str(home)}))
    table = catalog.load_table("bronze.chesscom_games")
    rows = table.scan(row_filter=f"player == '{player}'", selected_fields=("uuid",)).to_arrow()
    return rows.column("uuid").to_pylist()


def _expected_uuids(store: ChessComStore, player: str) -> set[str]:
    return {g["uuid"] for m in store.months(player) for g in store.games(player, m)}


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One LAKEHOUSE_HOME for the end-to-end tests (each ingests its own player): later
    tests run on a catalog that already has its tables, as a user's does."""
    return tmp_path_factory.mktemp("concurrent-lakehouse")


@pytest.mark.slow
def test_second_ingest_without_wait_exits_75_while_the_first_completes(
    shared_home: Path, chess_server
) -> None:
    server, store = chess_server
    first = _ingest(shared_home, server, "race_rita")
    assert _holder_pid(shared_home, "chesscom+race_rita.lock") == first.pid
    env = _env(shared_home, CHESSCOM_USER_AGENT=UA, CHESSCOM_API_BASE=server.base_url("chesscom"))
    second = subprocess.run(
        [LAKEHOUSE, "ingest", "chesscom", "--player", "race_rita"],
        env=env, cwd=shared_home, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out, err = first.communicate(timeout=400)
    assert first.returncode == 0, out[-3000:] + err[-3000:]
    assert second.returncode == 75, second.stderr
    # One line, nothing else (no traceback, no Spark start-up), naming the first run.
    assert re.fullmatch(
        rf"error: another run \(pid {first.pid}, `lakehouse ingest chesscom --player "
        r"race_rita`, since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\) holds the lakehouse lock "
        r"chesscom/race_rita; rerun with --wait",
        second.stderr.strip(),
    ), second.stderr
    assert "Traceback" not in second.stderr and "Py4J" not in second.stderr
    uuids = _bronze_uuids(shared_home, "race_rita")
    assert len(uuids) == len(set(uuids)) and set(uuids) == _expected_uuids(store, "race_rita")


@pytest.mark.slow
def test_two_ingests_with_wait_both_complete_without_duplicates(
    shared_home: Path, chess_server
) -> None:
    server, store = chess_server
    runs = [_ingest(shared_home, server, "wait_walt", "--wait", "--wait-timeout", "600")]
    _holder_pid(shared_home, "chesscom+wait_walt.lock")
    runs.append(_ingest(shared_home, server, "wait_walt", "--wait", "--wait-timeout", "600"))
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out[-3000:] + err[-3000:]
        assert "SQLITE_BUSY" not in err and "Traceback" not in err
    waiting = f"waiting for the lakehouse lock chesscom/wait_walt held by pid {runs[0].pid}"
    assert waiting in outputs[1][1]
    uuids = _bronze_uuids(shared_home, "wait_walt")
    # Exactly the games of one serial run: the second run found the months final (no dup).
    assert len(uuids) == len(set(uuids)) and set(uuids) == _expected_uuids(store, "wait_walt")


@pytest.mark.slow
def test_readers_during_an_ingest_never_make_it_fail(shared_home: Path, chess_server) -> None:
    server, store = chess_server
    # A catalog that already has its tables (the module's earlier tests leave them): the
    # case where every JVM used to keep a read open on it (Iceberg's unclosed table check)
    # and so failed other processes' commits with SQLITE_BUSY.
    if not (shared_home / "catalog.db").exists():  # this test alone
        seed = _ingest(shared_home, server, "race_rita")
        out, err = seed.communicate(timeout=400)
        assert seed.returncode == 0, out[-3000:] + err[-3000:]
    # Slow months keep the ingest running (and committing) while readers come and go.
    server.faults.add(Fault(source="chesscom", kind="delay", delay=3, path=r"read_rhea/games/2"))
    ingest = _ingest(shared_home, server, "read_rhea")
    env = _env(shared_home)
    reads: list[subprocess.CompletedProcess] = []
    py_reads: list[int] = []
    stop = threading.Event()

    def pyiceberg_reader() -> None:
        catalog = load_pyiceberg_catalog(load_settings({"LAKEHOUSE_HOME": str(shared_home)}))
        while not stop.is_set():
            py_reads.append(len(catalog.load_table("bronze.chesscom_games").scan().plan_files()))
            time.sleep(0.2)

    thread = threading.Thread(target=pyiceberg_reader)
    thread.start()
    try:
        query = [LAKEHOUSE, "sql", f"select count(*) as n from {GAMES}", "--format", "json"]
        while ingest.poll() is None:
            read = subprocess.run(
                query, env=env, cwd=shared_home, capture_output=True, text=True, timeout=300
            )
            reads.append(read)
    finally:
        stop.set()
        thread.join(timeout=30)
        server.faults.clear()
    out, err = ingest.communicate(timeout=60)
    assert ingest.returncode == 0, out[-3000:] + err[-3000:]
    assert "SQLITE_BUSY" not in out + err and "database is locked" not in out + err
    assert reads, "no reader ran during the ingest"
    for read in reads:
        assert read.returncode == 0, read.stderr[-3000:]
    assert py_reads
    uuids = _bronze_uuids(shared_home, "read_rhea")
    assert len(uuids) == len(set(uuids)) and set(uuids) == _expected_uuids(store, "read_rhea")
