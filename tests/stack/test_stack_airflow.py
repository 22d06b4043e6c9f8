"""The daily DAG on the stack: spark-submit to the standalone master, dbt on Trino.

The first day of tests/e2e/test_airflow_chesscom_daily.py's scenario (`chesscom_daily`,
then `lakehouse_transform` on its asset; the failing audit on Trino is
tests/stack/test_stack.py's), with the variables `lakehouse stack env` prints:
the ingest task submits to spark://127.0.0.1:PORT and writes bronze to S3 through the
PostgreSQL catalog; the transform task runs `lakehouse transform --target trino`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_airflow_chesscom_daily import PLAYER, run_daily_scenario, sandbox
from tests.stack.conftest import RunningStack

pytestmark = [pytest.mark.slow, pytest.mark.stack, pytest.mark.timeout(2400)]

__all__ = ["sandbox"]  # the chess.com sandbox fixture of the embedded e2e test


def test_chesscom_daily_on_the_stack(
    stack: RunningStack, airflow_bin: Path, airflow_environ, sandbox, tmp_path: Path
) -> None:
    base_url, store = sandbox
    deployment = {
        k: v for k, v in stack.env.items() if k.startswith(("LAKEHOUSE_", "AWS_", "TRINO_"))
    }
    assert deployment["LAKEHOUSE_DBT_TARGET"] == "trino"
    master = json.dumps(
        {"conn_type": "spark", "host": "spark://127.0.0.1", "port": stack.ports["spark"]}
    )
    env = airflow_environ(
        **deployment,
        CHESSCOM_API_BASE=base_url,
        CHESSCOM_USER_AGENT="lakehouse-airflow-stack/0.1 (e2e@example.com)",
        AIRFLOW_VAR_CHESSCOM_PLAYERS=PLAYER,
        AIRFLOW_CONN_SPARK_DEFAULT=master,
        LAKEHOUSE_AIRFLOW_RETRY_DELAY="1",
    )
    run_daily_scenario(airflow_bin, env, store, deployment, tmp_path, steps=1)
    log = (tmp_path / "run1.log").read_text()
    assert f"spark://127.0.0.1:{stack.ports['spark']}" in log
    assert "transform --target trino" in log
