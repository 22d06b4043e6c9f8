"""The ingestion job under its real launchers: `spark-submit`, and the AWS Glue argument form.

Each test starts a real spark-submit (a JVM of its own) against the API sandbox, with the
Spark properties written by `lakehouse spark-conf`, and reads the result back with
pyiceberg. The Glue test puts AWS Glue's own Python library (`awsglue`, installed by
`make setup` into .venv/glue-libs) on the path, so the job resolves its arguments with
`getResolvedOptions` exactly as on Glue, Glue's own parameters included. The README's
local spark-submit block runs verbatim, as a user of a fresh clone would (no venv on PATH).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from spark_jobs.sandbox.chesscom import ChessComApp, ChessComStore
from spark_jobs.sandbox.chesscom_generator import generate_history, generate_history_until
from spark_jobs.sandbox.server import SandboxServer
from tests.conftest import recent_month
from tests.readme_commands import (
    Command,
    failed,
    fresh_clone_env,
    readme_block,
    root_files,
    run_readme,
    script,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
JOB = ROOT / "spark_jobs" / "jobs" / "ingest.py"
GLUE_LIBS = ROOT / ".venv" / "glue-libs"
PLAYER = "submit_player"
NOW = datetime.now(UTC)
# What README.md's spark-submit example ingests (the sandbox serves them, with a month
# either side that must stay out of bronze).
README_PLAYERS = ("hikaru", "magnuscarlsen")
README_MONTHS = ("2024-01", "2024-02", "2024-03")


@pytest.fixture(scope="module")
def store() -> ChessComStore:
    store = ChessComStore()
    store.add_player(PLAYER, generate_history_until(PLAYER, recent_month(2), NOW))
    for player in README_PLAYERS:
        store.add_player(player, generate_history(player, "2023-12", "2024-04"))
    return store


@pytest.fixture(scope="module")
def api(store: ChessComStore) -> Iterator[str]:
    with SandboxServer() as server:
        server.mount("chesscom", ChessComApp(store))
        yield server.base_url("chesscom")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("submit-lakehouse")


def _env(home: Path | None, api: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "PYSPARK_"))}
    env.update(
        CHESSCOM_API_BASE=api,
        CHESSCOM_USER_AGENT="lakehouse-tests/0.1 (tests@example.com)",
        SPARK_LOCAL_IP="127.0.0.1",
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
    )
    if home is not None:
        env["LAKEHOUSE_HOME"] = str(home)
    return env


@pytest.fixture(scope="module")
def properties(home: Path, api: str) -> Path:
    """The properties file, written the way users and the Airflow DAGs write it."""
    path = home / "spark" / "lakehouse.conf"
    done = subprocess.run(
        [str(BIN / "lakehouse"), "spark-conf", "--output", str(path)],
        env=_env(home, api), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = path.read_text()
    assert "spark.jars=" in text and f"jdbc:sqlite:{home}" in text
    assert "password" not in text and "secret" not in text
    return path


def _submit(properties: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [
        str(BIN / "spark-submit"),
        "--properties-file", str(properties),
        "--conf", "spark.sql.shuffle.partitions=3",
        str(JOB), *args,
    ]  # fmt: skip
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600, check=False, cwd=ROOT
    )


def _bronze_games(home: Path, month: str, player: str = PLAYER) -> set[str]:
    from pyiceberg.expressions import EqualTo

    from spark_jobs.common.catalog import load_pyiceberg_catalog
    from spark_jobs.settings import load_settings

    catalog = load_pyiceberg_catalog(load_settings({"LAKEHOUSE_HOME": str(home)}))
    rows = (
        catalog.load_table("bronze.chesscom_games")
        .scan(row_filter=EqualTo("player", player), selected_fields=("uuid", "end_time"))
        .to_arrow()
        .to_pylist()
    )
    return {r["uuid"] for r in rows if r["end_time"].strftime("%Y-%m") == month}


def _sandbox_games(store: ChessComStore, month: str, player: str = PLAYER) -> set[str]:
    return {g["uuid"] for g in store.games(player, month)}


def test_spark_submit_runs_the_job_unchanged(
    store: ChessComStore, api: str, home: Path, properties: Path
) -> None:
    month = recent_month(1)
    args = ["--source", "chesscom", "--players", PLAYER, "--from", month, "--to", month]
    done = _submit(properties, args, _env(home, api))
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    assert "records merged" in done.stdout
    expected = _sandbox_games(store, month)
    assert expected and _bronze_games(home, month) == expected
    assert not _bronze_games(home, recent_month(0)), "only the requested month is ingested"


def test_glue_argument_form(store: ChessComStore, api: str, home: Path, properties: Path) -> None:
    """Glue's parameters, its own ones included, and settings passed as job parameters."""
    assert (GLUE_LIBS / "awsglue" / "utils.py").exists(), "run `make setup` (installs awsglue)"
    month = recent_month(2)
    env = _env(None, api)  # LAKEHOUSE_HOME arrives as a Glue job parameter instead
    env["PYTHONPATH"] = str(GLUE_LIBS)
    args = [
        "--JOB_NAME", "lakehouse-chesscom-ingest",
        "--job-bookmark-option", "job-bookmark-disable",
        "--TempDir", str(home / "glue-tmp"),
        "--LAKEHOUSE_HOME", str(home),
        "--source", "chesscom",
        "--players", PLAYER,
        "--from", month,
        "--to", month,
        "--refresh", "true",
    ]  # fmt: skip
    done = _submit(properties, args, env)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    expected = _sandbox_games(store, month)
    assert expected and _bronze_games(home, month) == expected


def test_bad_arguments_exit_2_naming_the_option(api: str, home: Path, properties: Path) -> None:
    done = _submit(properties, ["--players", PLAYER, "--from", "2024-01"], _env(home, api))
    assert done.returncode == 2
    # spark-submit merges the Python driver's stderr into its stdout.
    assert "required: --source" in done.stdout + done.stderr
    # A month where the source takes months: refused before Spark starts.
    args = ["--source", "chesscom", "--players", PLAYER, "--from", "2024-01-15"]
    done = _submit(properties, args, _env(home, api))
    assert done.returncode == 2
    assert "--from" in done.stdout + done.stderr


def _readme_local_submit() -> list[Command]:
    """The commands of README's local spark-submit block (the section's first block; the
    second, a cluster's, uses a Spark distribution's spark-submit on a real cluster)."""
    commands = list(readme_block("spark-submit and AWS Glue", 0).commands)
    submit = re.compile(r"^(\w+=\S+ )*\.venv/bin/spark-submit ")
    assert [c for c in commands if submit.match(c.text)], f"no local spark-submit: {commands}"
    return commands


def _properties_of(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_readme_spark_submit_runs_as_written(
    store: ChessComStore, api: str, tmp_path: Path
) -> None:
    """README's local block, verbatim, in the repository root, without an activated venv."""
    commands = _readme_local_submit()
    home = tmp_path / "lakehouse"
    env = fresh_clone_env(
        home, CHESSCOM_API_BASE=api, CHESSCOM_USER_AGENT="lakehouse-tests/0.1 (tests@example.com)"
    )
    conf = ROOT / "lakehouse.conf"  # the block writes it where a user would: the root
    with root_files("lakehouse.conf"):
        done = run_readme(commands, env, timeout=600)
        written = _properties_of(conf) if conf.exists() else {}
    assert done.returncode == 0, failed(done, script(commands))
    assert "records merged" in done.stdout
    # The job's Python is the venv's, from the file (a local master: driver and workers).
    for key in ("spark.pyspark.python", "spark.pyspark.driver.python"):
        python = Path(written[key])
        assert python.parent == ROOT / ".venv" / "bin", written[key]
        assert python.resolve() == Path(sys.executable).resolve()
    assert not [k for k in written if "password" in k or "secret" in k]
    for player in README_PLAYERS:
        for month in README_MONTHS:
            expected = _sandbox_games(store, month, player)
            assert expected and _bronze_games(home, month, player) == expected, (player, month)
        for outside in ("2023-12", "2024-04"):
            assert not _bronze_games(home, outside, player), (player, outside)
