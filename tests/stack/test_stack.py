"""The production path running for real: Spark -> Iceberg on S3 -> dbt on Trino -> SQL.

On one stack (tests/stack/conftest.py), in order:
1. the services answer, the credentials are private, `up` is idempotent, a busy port is
   named;
2. Spark (on the standalone cluster, S3FileIO) writes bronze to the S3 server, and Trino and
   pyiceberg read exactly the sandbox's games from it;
3. every mart (chess, and health from the same person's Oura ring) built by the `local`
   target (dbt-spark) equals, row for row, the same mart built by the `trino` target
   (dbt-trino: MERGE on Iceberg, GROUPING SETS, arrays of rows), with every data and unit
   test passing on Trino;
4. a failing test on Trino publishes nothing: every published mart keeps its snapshot and
   its rows (the rejected game is then deleted from bronze; the Airflow test's trino
   transform publishes again);
5. `lakehouse sql --engine trino` answers in table, CSV and JSON, and names the fix when
   Trino is down or the query is wrong.
"""

from __future__ import annotations

import json
import math
import re
import stat
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from spark_jobs.trino_sql import run_trino_query
from tests.stack.conftest import STACK_PLAYER, RunningStack, base_env

pytestmark = [pytest.mark.slow, pytest.mark.stack, pytest.mark.timeout(1800)]

FLOAT_TOLERANCE = 1e-9  # relative; the marts' ratios are DECIMAL, only averages are DOUBLE


@pytest.fixture(scope="module")
def marts(stack: RunningStack) -> list[str]:
    """Every published mart of the dbt project (from its manifest: new marts join in)."""
    from spark_jobs.transform import mart_models

    names = mart_models(stack.settings(), "trino")
    assert "fct_chess_games" in names and len(names) >= 8
    return names


def _trino(stack: RunningStack, sql: str) -> tuple[list[str], list[list[Any]]]:
    return run_trino_query(sql, stack.env)


def test_services_are_up_private_and_idempotent(stack: RunningStack) -> None:
    status = stack.lakehouse("stack", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    for name in ("postgres", "s3", "trino", "spark", "spark-worker"):
        assert re.search(rf"\| {name} +\| ready ", status.stdout), status.stdout
    assert f"127.0.0.1:{stack.ports['trino']}" in status.stdout

    creds = stack.home / "stack" / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    secrets = json.loads(creds.read_text())
    assert stack.env["LAKEHOUSE_CATALOG_PASSWORD"] == secrets["db_password"]
    assert stack.env["LAKEHOUSE_DBT_TARGET"] == "trino"
    # Trino's generated config holds no secret: it reads them from its environment.
    etc = (stack.home / "stack" / "trino" / "etc" / "catalog" / "lake.properties").read_text()
    assert secrets["db_password"] not in etc and secrets["s3_secret_key"] not in etc

    again = stack.lakehouse("stack", "up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("already running") == 5

    # A second stack (another LAKEHOUSE_HOME) on the same ports is refused, naming the fix.
    other = stack.home / "other-home"
    env = base_env(
        LAKEHOUSE_HOME=str(other),
        LAKEHOUSE_STACK_POSTGRES_PORT=str(stack.ports["postgres"]),
    )
    import subprocess

    from tests.stack.conftest import LAKEHOUSE

    busy = subprocess.run(
        [LAKEHOUSE, "stack", "up", "--only", "postgres"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert busy.returncode == 1
    assert f"port {stack.ports['postgres']}" in busy.stderr
    assert "LAKEHOUSE_STACK_POSTGRES_PORT" in busy.stderr
    assert "Traceback" not in busy.stderr


def test_bronze_on_s3_is_read_by_trino_and_pyiceberg(ingested: RunningStack, stack_sandbox) -> None:
    from spark_jobs.common.catalog import load_pyiceberg_catalog

    _, store = stack_sandbox
    expected = {g["uuid"] for m in store.months(STACK_PLAYER) for g in store.games(STACK_PLAYER, m)}
    assert len(expected) > 50

    table = load_pyiceberg_catalog(ingested.settings()).load_table("bronze.chesscom_games")
    assert table.location().startswith("s3://lakehouse/warehouse/")
    assert table.format_version == 2  # Trino 476 can read and MERGE v2
    uuids = table.scan(selected_fields=("uuid",)).to_arrow().column("uuid").to_pylist()
    assert sorted(uuids) == sorted(expected)
    # The data files are objects on the S3 server (its folder backend), not local files.
    data_files = list((ingested.home / "stack" / "s3" / "data" / "lakehouse").rglob("*.parquet"))
    assert data_files

    _, rows = _trino(
        ingested,
        "select count(*), count(distinct uuid) from lake.bronze.chesscom_games "
        f"where player = '{STACK_PLAYER}'",
    )
    assert rows == [[len(expected), len(expected)]]


def _normalise(value: Any) -> Any:
    """Engine-neutral form of a Trino value (rows of arrays of rows compare field by field)."""
    if isinstance(value, list | tuple):
        return tuple(_normalise(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _normalise(v)) for k, v in value.items()))
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    return value


def _mart_rows(stack: RunningStack, mart: str) -> tuple[list[str], list[tuple]]:
    columns, rows = _trino(stack, f"select * from lake.marts.{mart}")
    return columns, sorted((_normalise(r) for r in rows), key=repr)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=FLOAT_TOLERANCE, abs_tol=1e-12)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _transform(stack: RunningStack, target: str, **extra: str):
    started = time.monotonic()
    run = stack.lakehouse("transform", "--target", target, **extra)
    print(f"transform --target {target}: {time.monotonic() - started:.0f} s")
    return run


def test_every_mart_is_equal_on_the_local_and_the_trino_target(
    ingested_health: RunningStack, marts: list[str]
) -> None:
    ingested = ingested_health
    local = _transform(ingested, "local")
    assert local.returncode == 0, local.stdout[-5000:] + local.stderr[-3000:]
    # Trino reads the marts Spark wrote (the same catalog, the same S3 files).
    by_spark = {m: _mart_rows(ingested, m) for m in marts}
    assert by_spark["fct_chess_games"][1], "the local target published no games"
    assert by_spark["daily_health"][1], "the local target published no health days"
    # The person wore both devices last month: the canonical days come from both.
    columns, days = by_spark["fct_daily_health"]
    assert "oura,whoop" in {day[columns.index("sources")] for day in days}
    assert any(day[columns.index("whoop_recovery_score")] is not None for day in days)

    on_trino = _transform(ingested, "trino")
    assert on_trino.returncode == 0, on_trino.stdout[-5000:] + on_trino.stderr[-3000:]
    assert "PASS=" in on_trino.stdout and "ERROR=0" in on_trino.stdout
    assert re.search(r"\d+ unit tests?", on_trino.stdout), "no unit test ran on Trino"
    by_trino = {m: _mart_rows(ingested, m) for m in marts}

    for mart in marts:
        (cols_s, rows_s), (cols_t, rows_t) = by_spark[mart], by_trino[mart]
        assert cols_s == cols_t, mart
        assert len(rows_s) == len(rows_t), mart
        different = [(a, b) for a, b in zip(rows_s, rows_t, strict=True) if not _same(a, b)]
        assert not different, f"{mart}: first difference {different[0]}"


def _published(stack: RunningStack, marts: list[str]) -> dict[str, tuple[int, list[tuple]]]:
    out = {}
    for mart in marts:
        _, snap = _trino(
            stack,
            f'select snapshot_id from lake.marts."{mart}$snapshots" '
            "order by committed_at desc limit 1",
        )
        out[mart] = (snap[0][0], _mart_rows(stack, mart)[1])
    return out


def test_a_failing_test_on_trino_publishes_nothing(
    ingested: RunningStack, marts: list[str]
) -> None:
    """A game the audit rejects reaches bronze (Trino copies STACK_PLAYER's newest game with
    an impossible time class: the ingest path is the bronze test's); the trino transform
    fails and every published mart keeps its snapshot and its rows."""
    bad = str(uuid.uuid4())
    columns, _ = _trino(ingested, "select * from lake.bronze.chesscom_games limit 0")
    replaced = {
        "uuid": f"'{bad}'",
        "url": "concat(url, '-probe')",
        "time_class": "'hyperbullet'",  # bronze takes it; accepted_values rejects it
    }
    copied = ", ".join(replaced.get(c, f'"{c}"') for c in columns)
    _trino(
        ingested,
        f"insert into lake.bronze.chesscom_games select {copied} from lake.bronze.chesscom_games "
        f"where player = '{STACK_PLAYER}' order by end_time desc limit 1",
    )
    try:
        before = _published(ingested, marts)
        failed = _transform(ingested, "trino")
        assert failed.returncode == 1, failed.stdout[-3000:]
        assert "audit FAILED: nothing published to marts" in failed.stdout
        assert "time_class" in failed.stdout
        assert _published(ingested, marts) == before  # same snapshots, same rows
        _, rows = _trino(
            ingested, f"select count(*) from lake.marts.fct_chess_games where uuid = '{bad}'"
        )
        assert rows == [[0]]
    finally:
        # The input fixed: the next trino transform (the Airflow test's) publishes again.
        _trino(ingested, f"delete from lake.bronze.chesscom_games where uuid = '{bad}'")


def test_sql_on_trino_from_the_cli(ingested: RunningStack) -> None:
    query = "select count(*) as games from lake.marts.fct_chess_games"
    as_json = ingested.lakehouse("sql", "--engine", "trino", query, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    _, rows = _trino(ingested, query)
    assert json.loads(as_json.stdout) == [{"games": rows[0][0]}]
    assert rows[0][0] > 0

    as_csv = ingested.lakehouse("sql", "-e", "trino", query, "-f", "csv")
    assert as_csv.stdout.splitlines() == ["games", str(rows[0][0])]
    table = ingested.lakehouse("sql", "-e", "trino", "show schemas from lake")
    assert "| marts " in table.stdout and "| bronze " in table.stdout

    wrong = ingested.lakehouse("sql", "-e", "trino", "select * from lake.marts.no_such_table")
    assert wrong.returncode == 2
    assert "TABLE_NOT_FOUND" in wrong.stderr and "Traceback" not in wrong.stderr

    down = ingested.lakehouse("sql", "-e", "trino", "select 1", TRINO_PORT="1")
    assert down.returncode == 2
    assert "lakehouse stack up" in down.stderr and "Traceback" not in down.stderr
