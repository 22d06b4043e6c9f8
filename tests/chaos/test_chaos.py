"""The crash suite: kill -9 anywhere, rerun, and the lakehouse is as if nothing happened.

    make chaos          # every kill point (LAKEHOUSE_CHAOS=all .venv/bin/pytest tests/chaos)
    .venv/bin/pytest tests/chaos   # what CI runs: three points (see POINTS), ingests at once

One person (chess.com games for about three months, twelve days of Oura ring data, three
months of WHOOP) is served by the in-process sandbox. A clean run (ingest chesscom, ingest
oura, ingest whoop, transform)
gives the reference: a content hash of every raw, state, bronze and mart table. Then, on a
lakehouse in the state the step starts from, each kill point runs the step, kills its
process group with SIGKILL at a given line of its output (mid-fetch, mid-MERGE, mid-rebuild,
mid-dbt build, between the audit and the publish, mid-publish), runs the same command
again, and compares every table the step writes with the clean run. The last case starts
every writer at once (two ingests of the same player, the Oura ingest and a transform,
each with --wait), then transforms once more: the result must equal the serial run.

A source added later joins by adding its ingest to the clean run, its name to SOURCES,
and its kill points.
The suite's report (kill points, tables compared, mismatches) ends the pytest output.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.chaos.crash import (
    RESULTS,
    Digest,
    Result,
    catalog_of,
    fingerprint,
    kill_at,
    left_behind,
    run,
    start,
)

pytestmark = [pytest.mark.slow, pytest.mark.chaos, pytest.mark.timeout(1200)]

PERSON = "chaos_carla"
OURA_DAYS = 12
SOURCES = ["chesscom", "oura", "whoop"]


@dataclass(frozen=True)
class KillPoint:
    name: str
    args: tuple[str, ...]
    at: str
    """A regular expression: the output line the kill follows."""
    after: float = 0.0
    """Seconds between that line and the kill (to land inside a step that prints once)."""
    starts_from: str = "empty"
    """`empty`, or `ingested`: bronze of every source, no marts yet."""
    compares: tuple[str, ...] = ()
    source: str | None = None
    every_ci_run: bool = False
    """Also run by `make test` (CI's time budget); `make chaos` runs every point."""


INGEST_CHESS = ("ingest", "chesscom", "--player", PERSON)
INGEST_OURA = ("ingest", "oura", "--account", PERSON)  # --from is added per session
INGEST_WHOOP = ("ingest", "whoop", "--account", PERSON, "--from", "")  # its --from: per session
KILL_POINTS = [
    KillPoint("ingest chesscom: mid-fetch", INGEST_CHESS, r"\[2/\d+\] games_month",
              compares=("chesscom",), source="chesscom"),
    KillPoint("ingest chesscom: mid-MERGE", INGEST_CHESS, r"merging \d+ periods into bronze$",
              after=2.0, compares=("chesscom",), source="chesscom"),
    KillPoint("ingest oura: mid-fetch", INGEST_OURA, r"\[20/\d+\]",
              compares=("oura",), source="oura", every_ci_run=True),
    KillPoint("ingest oura: mid-MERGE", INGEST_OURA, r"merging \d+ periods into bronze$",
              after=3.0, compares=("oura",), source="oura"),
    KillPoint("ingest whoop: mid-MERGE", INGEST_WHOOP, r"merging \d+ periods into bronze$",
              after=2.0, compares=("whoop",), source="whoop", every_ci_run=True),
    KillPoint("rebuild chesscom: mid-MERGE", ("rebuild", "chesscom"),
              r"rebuilding chess.com bronze from raw$", after=2.0, starts_from="ingested",
              compares=("chesscom",), source="chesscom", every_ci_run=True),
    KillPoint("transform: mid-dbt build", ("transform",), r"OK created sql incremental model",
              starts_from="ingested", compares=("marts",)),
    KillPoint("transform: audited, not published", ("transform",), r"^audit passed",
              starts_from="ingested", compares=("marts",)),
    KillPoint("transform: mid-publish", ("transform",), r"^\s+marts\.\w+: published",
              starts_from="ingested", compares=("marts",)),
]  # fmt: skip


@dataclass
class Lakehouse:
    """The clean run's figures, and the one LAKEHOUSE_HOME every case reuses in turn
    (Iceberg's metadata holds absolute paths: a saved state is restored at the same path)."""

    home: Path
    saved: Path
    env: dict[str, str]
    oura_from: str
    whoop_from: str
    clean: dict[str, Digest]

    def reset(self, starts_from: str) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
        if starts_from == "ingested":
            shutil.copytree(self.saved, self.home, symlinks=True)
        else:
            self.home.mkdir()

    def clean_marts(self) -> None:
        """The clean run's marts, built on first need (a full dbt build: the points that
        compare marts pay for it, the others do not)."""
        if any(t.startswith("marts.") for t in self.clean):
            return
        self.reset("ingested")
        run(["transform"], self.env, self.home.parent)
        self.clean.update(fingerprint(self.home, ["marts"]))
        for table in ("marts.fct_chess_games", "marts.daily_health"):
            assert self.clean[table].rows > 0, (table, self.clean[table])

    def args(self, args: tuple[str, ...]) -> list[str]:
        if args == INGEST_OURA:
            return [*args, "--from", self.oura_from]
        if args == INGEST_WHOOP:
            return [*args[:-1], self.whoop_from]
        return list(args)


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lakehouse]:
    from spark_jobs.sandbox import SandboxServer
    from spark_jobs.sandbox import chesscom as chess_sandbox
    from spark_jobs.sandbox import oura as oura_sandbox
    from spark_jobs.sandbox import whoop as whoop_sandbox

    now = datetime.now(UTC)
    since = (now.replace(day=1) - timedelta(days=62)).strftime("%Y-%m")
    oura_from = (date.today() - timedelta(days=OURA_DAYS)).isoformat()
    root = tmp_path_factory.mktemp("chaos")
    drop = ("LAKEHOUSE_", "CHESSCOM_", "OURA_", "WHOOP_", "SUPERSET_", "TRINO_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    with SandboxServer() as server:
        env.update(chess_sandbox.mount_demo(server, [PERSON], since, now))
        env.update(oura_sandbox.mount_demo(server, [PERSON], since, now))
        env.update(whoop_sandbox.mount_demo(server, [PERSON], since, now))
        # Every run must be served the same records, so nothing turns from PENDING_SCORE to
        # SCORED between the clean run and a rerun (tests/integration/test_whoop_ingest.py
        # covers that convergence).
        whoop_store = server.apps["whoop"].store
        for resource, key in whoop_store.pending(PERSON):
            whoop_store.set_pending(PERSON, resource, key, reads=0)
        env.update(LAKEHOUSE_HOME=str(root / "lakehouse"), SPARK_LOCAL_IP="127.0.0.1")
        home = root / "lakehouse"
        home.mkdir()
        began = time.monotonic()
        run(list(INGEST_CHESS), env, root)
        run([*INGEST_OURA, "--from", oura_from], env, root)
        run([*INGEST_WHOOP[:-1], since], env, root)
        saved = root / "ingested"
        shutil.copytree(home, saved, symlinks=True)
        clean = fingerprint(home, SOURCES)
        print(f"clean run (ingests): {time.monotonic() - began:.0f} s, {len(clean)} tables")
        for table in ("bronze.chesscom_games", "bronze.oura_sleep", "bronze.whoop_sleep"):
            assert clean[table].rows > 0, (table, clean[table])
        yield Lakehouse(
            home=home, saved=saved, env=env, oura_from=oura_from, whoop_from=since, clean=clean
        )


def _compare(lakehouse: Lakehouse, groups: tuple[str, ...], result: Result) -> None:
    assert "marts" not in groups or any(t.startswith("marts.") for t in lakehouse.clean)
    after = fingerprint(lakehouse.home, list(groups))
    result.tables = len(after)
    expected = {t for t in lakehouse.clean if any(_in_group(t, g) for g in groups)}
    assert set(after) == expected, (sorted(after), sorted(expected))
    result.mismatches = sorted(
        f"{t} ({after[t].rows} rows, clean {lakehouse.clean[t].rows})"
        for t in after
        if after[t] != lakehouse.clean[t]
    )
    for table in sorted(t for t in after if after[t] != lakehouse.clean[t]):
        print(f"{table}: {after[table].diff(lakehouse.clean[table])}")


def _in_group(table: str, group: str) -> bool:
    if group == "marts":
        return table.startswith("marts.")
    return table.startswith((f"bronze.{group}_", f"raw.{group}_")) or table.endswith(f"[{group}]")


# `make chaos` sets LAKEHOUSE_CHAOS=all. Without it (`make test`, CI) three points run,
# one per kind of step that no other test kills (CI's time budget): Oura mid-fetch, WHOOP
# mid-MERGE (the shared loop's MERGE, as chess.com's), rebuild mid-MERGE.
# tests/integration/test_cli.py kills chess.com mid-fetch and a transform mid-publish in
# every CI run; the transform points here each pay a full dbt build.
EVERY_POINT = os.environ.get("LAKEHOUSE_CHAOS") == "all"
POINTS = [p for p in KILL_POINTS if p.every_ci_run or EVERY_POINT]


@pytest.mark.parametrize("point", POINTS, ids=[p.name for p in POINTS])
def test_a_run_killed_here_is_completed_by_the_next_run(
    lakehouse: Lakehouse, point: KillPoint
) -> None:
    if "marts" in point.compares:
        lakehouse.clean_marts()
    lakehouse.reset(point.starts_from)
    args = lakehouse.args(point.args)
    cwd = lakehouse.home.parent
    seconds, line = kill_at(args, lakehouse.env, cwd, point.at, point.after)
    result = Result(point.name, seconds, left_behind(lakehouse.home, point.source))
    RESULTS.append(result)
    run(args, lakehouse.env, cwd)
    _compare(lakehouse, point.compares, result)
    assert not result.mismatches, f"after the kill at {line!r}: {result.mismatches}"


def _bronze_exists(home: Path) -> bool:
    from spark_jobs.common.catalog import _sqlite_catalog_initialised

    # Not before an ingest made the catalog file: pyiceberg would create its tables first.
    if not _sqlite_catalog_initialised(f"jdbc:sqlite:{home / 'catalog.db'}"):
        return False
    catalog = catalog_of(home)
    return ("bronze",) in catalog.list_namespaces() and bool(catalog.list_tables("bronze"))


def test_every_writer_at_once_equals_the_serial_run(lakehouse: Lakehouse) -> None:
    """Two ingests of one player, the Oura ingest and a transform, run together with
    --wait: none fails; one more transform then gives exactly the clean run's marts.

    The transform starts once a bronze table exists (so while the ingests fetch
    and MERGE): on a lakehouse without any, it rightly stops with exit 2 and "no bronze
    table exists yet". CI (without LAKEHOUSE_CHAOS=all) runs the three ingests at once
    only and compares their tables: that guards both concurrency fixes (first runs at once
    on the SQLite catalog; two sources' MERGEs into the run log) for a third of the cost;
    the transform's part runs in `make chaos`."""
    if EVERY_POINT:
        lakehouse.clean_marts()
    lakehouse.reset("empty")
    cwd = lakehouse.home.parent
    commands = [
        [*INGEST_CHESS, "--wait"],
        [*INGEST_CHESS, "--wait"],
        [*lakehouse.args(INGEST_OURA), "--wait"],
        ["transform", "--wait"],
    ]
    if not EVERY_POINT:
        commands.pop()
    began = time.monotonic()
    procs = [start(args, lakehouse.env, cwd) for args in commands if args[0] == "ingest"]
    if EVERY_POINT:
        while not _bronze_exists(lakehouse.home):
            assert time.monotonic() - began < 300, "no ingest created a bronze table in 5 min"
            time.sleep(0.5)
        procs.append(start(commands[-1], lakehouse.env, cwd))
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    for args, proc, out in zip(commands, procs, outputs, strict=True):
        assert proc.returncode == 0, f"lakehouse {' '.join(args)}: rc {proc.returncode}\n{out}"
        assert "Traceback" not in out and "audit FAILED" not in out, out
    result = Result(
        "every writer at once (--wait)",
        None,
        f"{len(commands)} runs in {time.monotonic() - began:.0f} s",
    )
    RESULTS.append(result)
    if EVERY_POINT:
        run(["transform"], lakehouse.env, cwd)
    _compare(
        lakehouse, ("chesscom", "oura", "marts") if EVERY_POINT else ("chesscom", "oura"), result
    )
    assert not result.mismatches, result.mismatches
