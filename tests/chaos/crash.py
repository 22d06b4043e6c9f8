"""What the crash suite needs: kill a `lakehouse` command at a line of its output, and a
content hash of every table of the lakehouse that a clean run can be compared with."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")

# Columns that say when or by which run a row was written: they differ between any two
# runs, so the content hash leaves them out (bronze's lineage columns start with `_`).
VOLATILE = {"run_id", "fetched_at", "checked_at", "changed_at", "started_at", "finished_at"}
# Raw is append-only: a killed run's responses stay beside the rerun's. Two runs agree on
# raw when they hold the same responses (the same bytes from the same URL), whatever the
# number of copies; every other table must hold the same rows, duplicates counted.
RAW_RESPONSE = ("source", "resource", "account", "period", "url", "http_status", "payload_sha256")


@dataclass
class Result:
    """One kill point: where the run died, what it left, and how the rerun compared."""

    point: str
    killed_after_s: float | None
    """None: nothing was killed (runs at once)."""
    left: str
    tables: int = 0
    mismatches: list[str] = field(default_factory=list)

    def line(self) -> str:
        verdict = "identical" if not self.mismatches else "MISMATCH " + ", ".join(self.mismatches)
        killed = "" if self.killed_after_s is None else f"killed at {self.killed_after_s:.1f} s, "
        return f"  {self.point:<34} {killed}left {self.left}; then {self.tables} tables {verdict}"


RESULTS: list[Result] = []


def run(args: list[str], env: dict[str, str], cwd: Path, timeout: int = 900):
    """`lakehouse ARGS` to the end; fails the test, with its output, unless it exits 0."""
    done = subprocess.run(
        [LAKEHOUSE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"lakehouse {' '.join(args)}: rc {done.returncode}\n" + (
        done.stdout[-3000:] + done.stderr[-3000:]
    )
    return done


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """`lakehouse ARGS` in its own process group (kill -9 reaches Spark's JVM too)."""
    return subprocess.Popen(
        [LAKEHOUSE, *args], env=env, cwd=cwd, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def kill_at(
    args: list[str], env: dict[str, str], cwd: Path, at: str, after: float = 0.0
) -> tuple[float, str]:
    """Run `lakehouse ARGS`, kill -9 its process group `after` seconds past the first
    output line matching `at`; returns (seconds from start to the kill, that line)."""
    began = time.monotonic()
    proc = start(args, env, cwd)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if re.search(at, line):
            time.sleep(after)
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (
        f"lakehouse {' '.join(args)} ended (rc {proc.returncode}) before /{at}/:\n"
        + "".join(seen)[-4000:]
    )
    return time.monotonic() - began, seen[-1].strip()


def catalog_of(home: Path):
    from spark_jobs.common.catalog import load_pyiceberg_catalog
    from spark_jobs.settings import load_settings

    return load_pyiceberg_catalog(load_settings({"LAKEHOUSE_HOME": str(home)}))


def _rounded(value: Any) -> Any:
    """Doubles to 10 significant digits: an average's last bits follow the order in which
    Spark's tasks summed it, which differs between two runs over the same rows."""
    if isinstance(value, float):
        return float(f"{value:.10g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _canonical(row: dict) -> str:
    kept = {k: v for k, v in row.items() if not k.startswith("_") and k not in VOLATILE}
    return json.dumps(_rounded(kept), sort_keys=True, default=str)


@dataclass(frozen=True)
class Digest:
    """A table's content hash (volatile columns aside), the number of lines hashed (rows;
    distinct responses for raw), and those lines (kept to show what differs)."""

    sha256: str
    rows: int
    lines: tuple[str, ...] = field(compare=False, repr=False)

    def diff(self, other: Digest, limit: int = 3) -> str:
        mine, theirs = set(self.lines), set(other.lines)
        only = sorted(mine - theirs)[:limit], sorted(theirs - mine)[:limit]
        return f"only here: {only[0]}; only in the clean run: {only[1]}"


def table_hash(
    home: Path, table: str, where: str | None = None, ignore: tuple[str, ...] = ()
) -> Digest:
    """The Digest of a table's rows (or of the rows matching `where`), `ignore`d columns
    left out too."""
    loaded = catalog_of(home).load_table(table)
    scan = loaded.scan(row_filter=where) if where else loaded.scan()
    rows = scan.to_arrow().to_pylist()
    if table.endswith("_responses"):
        lines = sorted({json.dumps([r[c] for c in RAW_RESPONSE]) for r in rows})
    else:
        lines = sorted(_canonical({k: v for k, v in r.items() if k not in ignore}) for r in rows)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return Digest(digest, len(lines), tuple(lines))


def tables(home: Path, namespace: str, prefix: str = "") -> list[str]:
    return sorted(
        ".".join(t) for t in catalog_of(home).list_tables(namespace) if t[-1].startswith(prefix)
    )


def fingerprint(home: Path, groups: list[str]) -> dict[str, Digest]:
    """Every table of the named groups: a source's raw responses, its ingest state and
    bronze tables (e.g. `chesscom`), or `marts`."""
    out = {}
    for group in groups:
        if group == "marts":
            for table in tables(home, "marts"):
                out[table] = table_hash(home, table)
            continue
        out[f"raw.{group}_responses"] = table_hash(home, f"raw.{group}_responses")
        # The state without how its last check answered (200, or 304 on a second run of
        # the same period): the same data, whether one run or two fetched it.
        out[f"raw.ingest_state[{group}]"] = table_hash(
            home, "raw.ingest_state", f"source == '{group}'", ignore=("http_status",)
        )
        for table in tables(home, "bronze", f"{group}_"):
            out[table] = table_hash(home, table)
    return out


def left_behind(home: Path, source: str | None) -> str:
    """What a killed run left: responses in raw and rows in bronze (or marts on main)."""
    catalog = catalog_of(home)

    def rows(table: str) -> int:
        if not catalog.table_exists(table):
            return 0
        return catalog.load_table(table).scan().to_arrow().num_rows

    if source is None:
        marts = tables(home, "marts")
        filled = sum(1 for t in marts if rows(t))
        return f"{filled}/{len(marts)} marts with rows on main"
    bronze = sum(rows(t) for t in tables(home, "bronze", f"{source}_"))
    return f"{rows(f'raw.{source}_responses')} raw responses, {bronze} bronze rows"
