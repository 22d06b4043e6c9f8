"""Shared fixtures: one SparkSession per test run on a throwaway lakehouse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


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
