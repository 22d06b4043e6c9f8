"""The demo lakehouse the dashboard tests share: one `lakehouse demo` for the session.

A first person arrives the way a user's data would: `lakehouse sandbox` in the background,
then `lakehouse ingest oura` and `lakehouse ingest chesscom` with the exports it printed.
Then `lakehouse demo --no-serve` runs as a user would run it (its own sandbox, every source
ingested twice for `demo_player`, one `lakehouse transform` over both people's bronze
through write-audit-publish, dashboards imported); so the dashboards' person and player
filters have two people to split. Superset is then served on a free port for every
browser test.
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

from tests.superset_browser import serve_superset

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
DEMO_PEOPLE = ("demo_player", "rival_player")  # both play chess and wear a ring


@dataclass
class DemoLakehouse:
    home: Path
    env: dict[str, str]
    demo_output: str


def demo_env(home: Path, **extra: str) -> dict[str, str]:
    drop = ("CHESSCOM_", "OURA_", "LAKEHOUSE_", "SUPERSET_", "TRINO_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(LAKEHOUSE_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1", **extra)
    return env


@pytest.fixture(scope="session")
def demo_lakehouse(tmp_path_factory: pytest.TempPathFactory) -> DemoLakehouse:
    home = tmp_path_factory.mktemp("demo-lakehouse")
    env = demo_env(home)
    # Two to three months: enough days for the dashboards' 30-day filters, short to build.
    since = time.strftime("%Y-%m", time.gmtime(time.time() - 62 * 86400))
    start = time.monotonic()
    _ingest_person(home, env, DEMO_PEOPLE[1], since)
    print(f"sandbox + ingest of {DEMO_PEOPLE[1]}: {time.monotonic() - start:.0f} s")
    start = time.monotonic()
    demo = subprocess.run(
        [LAKEHOUSE, "demo", "--no-serve", "--since", since, "--player", DEMO_PEOPLE[0]],
        env=env, cwd=home, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]
    print(f"demo --no-serve: {time.monotonic() - start:.0f} s")
    return DemoLakehouse(home=home, env=env, demo_output=demo.stdout)


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
def demo_superset(demo_lakehouse: DemoLakehouse) -> Iterator[str]:
    with serve_superset(demo_lakehouse.env, demo_lakehouse.home) as url:
        yield url
