"""The demo lakehouse the dashboard tests share: one `lakehouse demo` for the session.

A first person arrives the way a user's data would: `lakehouse sandbox` in the background,
then `lakehouse ingest oura` and `lakehouse ingest chesscom` with the exports it printed.
Then README's `make demo` runs verbatim, from the repository root in a fresh clone's
environment, with DEMO_ARGS for the period, the person and a free Superset port (its own
sandbox, every source ingested twice for `demo_player`, one `lakehouse transform` over
both people's bronze through write-audit-publish, dashboards imported, Superset served);
so the dashboards' person and player filters have two people to split. The Superset
`make demo` ends serving is the one every browser test uses; it is stopped (Ctrl-C) at
the end of the session.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
DEMO_PEOPLE = ("demo_player", "rival_player")  # both play chess and wear a ring


@dataclass
class DemoLakehouse:
    home: Path
    env: dict[str, str]
    demo_output: str
    """What `make demo` printed until its Superset answered."""
    superset_url: str
    """The Superset `make demo` serves (until the session ends)."""


def demo_env(home: Path, **extra: str) -> dict[str, str]:
    drop = ("CHESSCOM_", "OURA_", "WHOOP_", "LAKEHOUSE_", "SUPERSET_", "TRINO_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(LAKEHOUSE_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1", **extra)
    return env


@pytest.fixture(scope="session")
def demo_lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoLakehouse]:
    from tests.readme_commands import (
        fresh_clone_env,
        interrupt_group,
        readme_block,
        start_readme,
        wait_until_answers,
    )
    from tests.superset_browser import free_port

    home = tmp_path_factory.mktemp("demo-lakehouse")
    env = demo_env(home)
    # Two to three months: enough days for the dashboards' 30-day filters, short to build.
    since = time.strftime("%Y-%m", time.gmtime(time.time() - 62 * 86400))
    start = time.monotonic()
    _ingest_person(home, env, DEMO_PEOPLE[1], since)
    print(f"sandbox + ingest of {DEMO_PEOPLE[1]}: {time.monotonic() - start:.0f} s")
    start = time.monotonic()
    (make_demo,) = [
        c for c in readme_block("Two commands").commands if c.text.startswith("make demo")
    ]
    port = free_port()
    args = f"--since {since} --player {DEMO_PEOPLE[0]} --port {port}"
    log = home / "make-demo.log"
    demo = start_readme(make_demo, fresh_clone_env(home, DEMO_ARGS=args), log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(demo, f"{url}/health", log, timeout=1500)
        print(f"make demo, until Superset answered: {time.monotonic() - start:.0f} s")
        yield DemoLakehouse(home=home, env=env, demo_output=log.read_text(), superset_url=url)
    finally:
        interrupt_group(demo)


def _ingest_person(home: Path, env: dict[str, str], person: str, since: str) -> None:
    """A person's bronze through `lakehouse sandbox` + `ingest oura` + `ingest chesscom`
    (the sandbox serves both sources for every account it is given)."""
    from tests.superset_browser import free_port, stop_group

    port = free_port()
    sandbox = subprocess.Popen(
        [LAKEHOUSE, "sandbox", "--port", str(port), "--account", person, "--since", since],
        env=env, cwd=home, stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        exports: dict[str, str] = {}
        deadline = time.monotonic() + 300
        for line in sandbox.stdout:  # the sandbox prints its exports, then serves
            if line.strip().startswith("export "):
                key, value = shlex.split(line.strip()[len("export ") :])[0].split("=", 1)
                exports[key] = value
            if "OURA_ACCOUNTS" in exports or time.monotonic() > deadline:
                break
        for key in ("OURA_API_BASE", "CHESSCOM_API_BASE"):
            assert exports.get(key, "").startswith("http://127.0.0.1:"), exports
        run_env = {**env, **exports}
        first = f"{since}-01"
        for args in (
            ["ingest", "oura", "--account", person, "--from", first],
            ["ingest", "chesscom", "--player", person],
        ):
            done = subprocess.run(
                [LAKEHOUSE, *args], env=run_env, cwd=home, capture_output=True, text=True,
                timeout=1200,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    finally:
        stop_group(sandbox)


@pytest.fixture(scope="session")
def demo_superset(demo_lakehouse: DemoLakehouse) -> str:
    """The Superset `make demo` serves on the demo lakehouse."""
    return demo_lakehouse.superset_url
