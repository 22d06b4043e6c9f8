"""README's `lakehouse stack` section, run as written on the session's stack.

The block's commands run verbatim (`bash -e -c`) from the repository root in a fresh
clone's environment: no venv on PATH, the stack fixture's LAKEHOUSE_HOME and ports
(LAKEHOUSE_STACK_*_PORT; the defaults when they were free), the chess.com sandbox's URL.
`-p NAME` is the sandbox's player `name` (chess.com names are case-insensitive).
`dashboards serve` runs until Superset answers, then gets Ctrl-C. The block's `stack up`
and `stack down` are run verbatim by the session's `stack` fixture (tests/stack/conftest.py).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from spark_jobs.trino_sql import run_trino_query
from tests.readme_commands import (
    Command,
    failed,
    fresh_clone_env,
    interrupt_group,
    readme_block,
    run_readme,
    start_readme,
    wait_until_answers,
)
from tests.stack.conftest import README_PLAYER, RunningStack
from tests.superset_browser import free_port

pytestmark = [pytest.mark.slow, pytest.mark.stack, pytest.mark.timeout(1800)]

STACK = "Production on one machine (`lakehouse stack`)"


def _env(stack: RunningStack, **extra: str) -> dict[str, str]:
    ports = {f"LAKEHOUSE_STACK_{k.upper()}_PORT": str(v) for k, v in stack.ports.items()}
    keep = ("CHESSCOM_API_BASE", "CHESSCOM_USER_AGENT")
    return fresh_clone_env(stack.home, **ports, **{k: stack.env[k] for k in keep}, **extra)


def test_stack_section(ingested: RunningStack, tmp_path: Path) -> None:
    """The stack block (its `stack up` and `stack down` are the session fixture's), with
    the Trino CLI line once the marts are published."""
    from tests.integration.test_readme import runnable

    commands = runnable(STACK)
    serve = next(i for i, c in enumerate(commands) if "dashboards serve" in c.text)
    env_line = commands[0]
    assert env_line.text.startswith('eval "$('), "the block points the shell at the stack first"
    port = free_port()
    env = _env(ingested, LAKEHOUSE_SUPERSET_PORT=str(port))

    # env, ingest -p NAME, transform --target trino, sql --engine trino.
    started = time.monotonic()
    done = run_readme(commands[:serve], env, timeout=1800)
    assert done.returncode == 0, failed(done)
    print(f"README stack block up to the dashboards: {time.monotonic() - started:.0f} s")
    _, rows = run_trino_query(
        f"select count(*) from lake.marts.fct_chess_games where player = '{README_PLAYER}'",
        ingested.env,
    )
    assert rows[0][0] > 0, "NAME's games reached the Trino marts"
    _, total = run_trino_query("select count(*) from lake.marts.fct_chess_games", ingested.env)
    assert re.search(rf"\b{total[0][0]}\b", done.stdout), done.stdout[-2000:]

    # The Trino CLI: verbatim when the stack got Trino's default port 8085 (the fixture
    # takes the defaults when they are free), else with the fixture's port in the URL.
    (cli,) = readme_block(STACK, 1).commands
    text = cli.text
    if ingested.ports["trino"] != 8085:
        text = text.replace("127.0.0.1:8085", f"127.0.0.1:{ingested.ports['trino']}")
    listed = run_readme(Command(text, cli.line, cli.heading, cli.block), env)
    assert listed.returncode == 0, failed(listed, text)
    _, tables = run_trino_query("show tables from lake.marts", ingested.env)
    names = set(re.findall(r"\w+", listed.stdout))
    assert tables and {r[0] for r in tables} <= names, listed.stdout

    # `dashboards import && dashboards serve` (on Trino), until Superset answers.
    log = tmp_path / "serve.log"
    proc = start_readme([env_line, commands[serve]], env, log)
    try:
        wait_until_answers(proc, f"http://127.0.0.1:{port}/health", log, timeout=900)
    finally:
        interrupt_group(proc)
    assert "imported (engine trino)" in log.read_text()

    # stack status: every service ready, on the fixture's ports.
    done = run_readme([env_line, *commands[serve + 1 :]], env, timeout=600)
    assert done.returncode == 0, failed(done)
    for name in ("postgres", "s3", "trino", "spark"):
        assert re.search(rf"\| {name} +\| ready ", done.stdout), done.stdout
    assert f"127.0.0.1:{ingested.ports['trino']}" in done.stdout
