"""One production-shaped stack for every test in tests/stack (started once, ~1-2 min).

README's `lakehouse stack up` runs as written, on the default ports where they are free (else
free ones), in a throwaway LAKEHOUSE_HOME:
PostgreSQL (JDBC catalog), versitygw (S3), Trino 476 and a Spark standalone cluster. The
tests then point every command at it with the variables `lakehouse stack env` prints; the
session ends with README's `lakehouse stack down`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.readme_commands import fresh_clone_env, readme_block, run_readme

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
STACK_PLAYER = "stack_player"
README_PLAYER = "name"


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int, start: int) -> int:
    """The first of `count` consecutive free ports at or after `start`."""
    port = start
    while not all(_free(p) for p in range(port, port + count)):
        port += count
    return port


def _default_or_free(default: int, count: int, fallback: int) -> int:
    """The stack's default port when it is free (README commands name the defaults, e.g.
    the Trino CLI's 8085), else the first free ones at or after `fallback`."""
    if all(_free(p) for p in range(default, default + count)):
        return default
    return _free_ports(count, fallback)


def base_env(**extra: str) -> dict[str, str]:
    """This process's environment without any lakehouse deployment variable."""
    drop = ("LAKEHOUSE_", "CHESSCOM_", "TRINO_", "SUPERSET_", "AWS_", "DBT_TARGET")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(SPARK_LOCAL_IP="127.0.0.1", **extra)
    return env


def parse_exports(text: str) -> dict[str, str]:
    """The variables of `export K=V` lines (shell-quoted values), as `eval` would set them."""
    out = {}
    for line in text.splitlines():
        assert line.startswith("export "), line
        key, _, value = line[len("export ") :].partition("=")
        out[key] = shlex.split(value)[0] if value else ""
    return out


@dataclass
class RunningStack:
    home: Path
    ports: dict[str, int]
    env: dict[str, str]
    """What `eval "$(lakehouse stack env)"` gives, on top of a clean environment."""
    up_seconds: float

    def lakehouse(self, *args: str, timeout: int = 900, **extra: str):
        return subprocess.run(
            [LAKEHOUSE, *args],
            env={**self.env, **extra},
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def settings(self):
        from spark_jobs.settings import load_settings

        return load_settings(self.env)


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    # PostgreSQL runs as user `postgres` when the tests run as root: the home must be
    # reachable by it, which pytest's private tmp folders are not.
    home = Path(tempfile.mkdtemp(prefix="lakehouse-stack-"))
    home.chmod(0o755)
    ports = {
        "postgres": _default_or_free(5433, 1, 25433),
        "s3": _default_or_free(9000, 1, 29000),
        "trino": _default_or_free(8085, 1, 28085),
        "spark": _default_or_free(7077, 4, 27077),
    }
    port_env = {f"LAKEHOUSE_STACK_{k.upper()}_PORT": str(v) for k, v in ports.items()}
    env = base_env(LAKEHOUSE_HOME=str(home), **port_env)
    # README's `stack up` and `stack down`, verbatim from a fresh clone's shell.
    readme_env = fresh_clone_env(home, **port_env)
    started = time.monotonic()
    up = run_readme(readme_stack_command("up"), readme_env, timeout=900)
    up_seconds = time.monotonic() - started
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        print(f"\nlakehouse stack up: {up_seconds:.0f} s\n{up.stdout}")
        exported = subprocess.run(
            [LAKEHOUSE, "stack", "env"], env=env, capture_output=True, text=True, check=True
        )
        full = {**env, **parse_exports(exported.stdout)}
        yield RunningStack(home=home, ports=ports, env=full, up_seconds=up_seconds)
    finally:
        down = run_readme(readme_stack_command("down"), readme_env, timeout=300)
        print(down.stdout + down.stderr)
        status = subprocess.run(
            [LAKEHOUSE, "stack", "status"], env=env, capture_output=True, text=True, timeout=120
        )
        shutil.rmtree(home, ignore_errors=True)
        assert down.returncode == 0, down.stdout + down.stderr
        assert "stopped" in status.stdout and "ready" not in status.stdout, status.stdout


STACK_SECTION = "Production on one machine (`lakehouse stack`)"


def readme_stack_command(verb: str):
    """README's `.venv/bin/lakehouse stack <verb>` line of its stack block."""
    block = readme_block(STACK_SECTION)
    (command,) = [
        c for c in block.commands if c.text.startswith(f".venv/bin/lakehouse stack {verb} ")
    ]
    return command


@pytest.fixture(scope="session")
def stack_sandbox() -> Iterator[tuple[str, object]]:
    """The chess.com sandbox with a generated player, about three months to now (and
    README's player NAME, since last month)."""
    from spark_jobs.sandbox import ChessComApp, ChessComStore, SandboxServer
    from spark_jobs.sandbox.chesscom_generator import generate_history_until

    now = datetime.now(UTC)
    start = (now.replace(day=1) - timedelta(days=62)).strftime("%Y-%m")
    store = ChessComStore()
    store.add_player(STACK_PLAYER, generate_history_until(STACK_PLAYER, start, now))
    # README's `lakehouse ingest chesscom -p NAME` (chess.com names are case-insensitive).
    last_month = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    store.add_player(README_PLAYER, generate_history_until(README_PLAYER, last_month, now))
    with SandboxServer() as server:
        server.mount("chesscom", ChessComApp(store))
        yield server.base_url("chesscom"), store


@pytest.fixture(scope="session")
def oura_sandbox() -> Iterator[dict[str, str]]:
    """The Oura sandbox with the same person's ring, three months to now: the environment
    that points `lakehouse ingest oura` at it (sandbox-issued token files)."""
    from spark_jobs.sandbox import SandboxServer
    from spark_jobs.sandbox.oura import mount_demo

    now = datetime.now(UTC)
    start = (now.replace(day=1) - timedelta(days=62)).strftime("%Y-%m")
    with SandboxServer() as server:
        yield {**mount_demo(server, [STACK_PLAYER], start, now), "OURA_FROM": f"{start}-01"}


@pytest.fixture(scope="session")
def whoop_sandbox() -> Iterator[dict[str, str]]:
    """The WHOOP sandbox with the same person's strap since last month (worn alongside the
    ring then): the environment that points `lakehouse ingest whoop` at it."""
    from spark_jobs.sandbox import SandboxServer
    from spark_jobs.sandbox.whoop import mount_demo

    now = datetime.now(UTC)
    start = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    with SandboxServer() as server:
        yield mount_demo(server, [STACK_PLAYER], start, now)


@pytest.fixture(scope="session")
def ingested(stack: RunningStack, stack_sandbox) -> RunningStack:
    """STACK_PLAYER's games in bronze on S3, written by Spark on the stack's cluster."""
    base_url, _ = stack_sandbox
    stack.env.update(
        CHESSCOM_API_BASE=base_url,
        CHESSCOM_USER_AGENT="lakehouse-stack-tests/0.1 (tests@example.com)",
    )
    started = time.monotonic()
    run = stack.lakehouse("ingest", "chesscom", "--player", STACK_PLAYER)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    print(f"ingest chesscom on the stack: {time.monotonic() - started:.0f} s")
    return stack


@pytest.fixture(scope="session")
def ingested_health(
    ingested: RunningStack, oura_sandbox: dict[str, str], whoop_sandbox: dict[str, str]
) -> RunningStack:
    """The same person's Oura and WHOOP data in bronze on S3 too (the health marts get
    rows; fct_daily_health days from the ring alone and from both)."""
    env = dict(oura_sandbox)
    first = env.pop("OURA_FROM")
    ingested.env.update(env, **whoop_sandbox)
    for source, args in (("oura", ["--from", first]), ("whoop", [])):
        started = time.monotonic()
        run = ingested.lakehouse("ingest", source, "--account", STACK_PLAYER, *args)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        print(f"ingest {source} on the stack: {time.monotonic() - started:.0f} s")
    return ingested
