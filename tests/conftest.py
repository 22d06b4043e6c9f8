"""Shared fixtures: one SparkSession per test run on a throwaway lakehouse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
# `make test-all` sets it: the tests marked `extended` run too (`make test` and CI leave
# them out to keep CI's run short; each says which other tests cover its parts).
EXTENDED = os.environ.get("LAKEHOUSE_EXTENDED") == "1"
_LEFT_OUT = pytest.StashKey[list[str]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if EXTENDED:
        return
    left_out = [item for item in items if item.get_closest_marker("extended")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]
        config.stash[_LEFT_OUT] = [item.nodeid for item in left_out]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    left_out = config.stash.get(_LEFT_OUT, [])
    if left_out:
        terminalreporter.write_line(
            f"{len(left_out)} extended test(s) left out (`make test-all` runs them): "
            + ", ".join(left_out)
        )


def recent_month(months_back: int, now: datetime | None = None) -> str:
    """The UTC month `months_back` months before `now` (default: now), as YYYY-MM."""
    now = now or datetime.now(UTC)
    y, m = now.year, now.month - months_back
    while m < 1:
        y, m = y - 1, m + 12
    return f"{y:04d}-{m:02d}"


@pytest.fixture(scope="session")
def lakehouse_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh LAKEHOUSE_HOME (catalog DB + warehouse) shared by the Spark tests."""
    return tmp_path_factory.mktemp("lakehouse")


@pytest.fixture(scope="session")
def settings(lakehouse_home: Path):
    from spark_jobs.settings import load_settings

    env = {"LAKEHOUSE_HOME": str(lakehouse_home), "LAKEHOUSE_SPARK_DRIVER_MEMORY": "2g"}
    return load_settings(env)


@pytest.fixture(scope="session")
def spark(settings) -> Iterator:
    """The one SparkSession of the test run, wired to the throwaway `lake` catalog."""
    from spark_jobs.common.session import build_spark

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = build_spark(settings, app_name="lakehouse-tests")
    yield session
    session.stop()


# ------------------------------------------------------------------------------ Airflow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def airflow_bin() -> Path:
    """bin/ of the Airflow venv (.venv-airflow), created by infra/setup/airflow-env.sh.

    Airflow cannot share the main venv, so Airflow tests drive it through subprocesses.
    The set-up script is idempotent: instant when the venv matches its pins.
    """
    import subprocess

    subprocess.run(["bash", str(ROOT / "infra/setup/airflow-env.sh")], check=True)
    return ROOT / ".venv-airflow" / "bin"


@pytest.fixture
def airflow_environ(tmp_path: Path):
    """Factory: a clean environment for Airflow CLI/python subprocesses on a tmp AIRFLOW_HOME.

    Inherited AIRFLOW_*, LAKEHOUSE_* and CHESSCOM_* variables are dropped so the developer's
    own deployment never leaks into a test; `extra` adds the test's own.
    """

    def build(**extra: str) -> dict[str, str]:
        home = tmp_path / "airflow-home"
        home.mkdir(exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "LAKEHOUSE_", "CHESSCOM_", "PYSPARK_", "SPARK_HOME"))
        }
        env.update(
            AIRFLOW_HOME=str(home),
            AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            SPARK_LOCAL_IP="127.0.0.1",
        )
        env.update(extra)
        return env

    return build
