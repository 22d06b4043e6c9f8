"""The `trino` target without a Trino server: dbt parses and compiles, and every compiled
model is valid Trino SQL (sqlglot) that calls no function Trino lacks.

No Trino can run here (FACTS.md), so the adapter's catalog lookups are replaced by "the
relation does not exist yet" (a first run); everything else is the real dbt-trino.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
import sqlglot
from sqlglot import exp

from spark_jobs.transform import DBT_PROJECT_DIR

# Functions sqlglot does not model but Trino has (checked against the Trino docs).
TRINO_EXTRA_FUNCTIONS = {"at_timezone"}
MARTS = {
    "fct_chess_games",
    "agg_rapid_chess_daily",
    "agg_rapid_chess_monthly_openings",
    "ranked_best_openings",
    "ranked_worst_openings",
    "agg_chess_rating_daily",
    "agg_chess_results_by_termination",
    "agg_chess_results_by_clock",
}


def _dbt(args: list[str], target_path: Path):
    from dbt.cli.main import dbtRunner

    return dbtRunner().invoke(
        [
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(target_path),
            "--log-path",
            str(target_path / "logs"),
            "--quiet",
        ]
    )


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from dbt.adapters.trino.impl import TrinoAdapter

    out = tmp_path_factory.mktemp("dbt-trino")
    env = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "TRINO_HOST": "trino.invalid"}
    with (
        mock.patch.dict(os.environ, env),
        # "Not built yet": is_incremental() is false, nothing connects to the server.
        mock.patch.object(TrinoAdapter, "get_relation", lambda self, database, schema, id: None),
    ):
        parsed = _dbt(["parse", "--target", "trino"], out)
        assert parsed.success, parsed.exception
        result = _dbt(
            [
                "compile",
                "--target",
                "trino",
                "--no-populate-cache",
                "--select",
                "resource_type:model resource_type:test resource_type:seed",
            ],
            out,
        )
        assert result.success, result.exception
    yield out / "compiled" / "lakehouse"


def _models(root: Path) -> dict[str, str]:
    return {p.stem: p.read_text() for p in (root / "models").rglob("*.sql")}


def test_every_model_compiles_for_trino(compiled: Path) -> None:
    models = _models(compiled)
    assert MARTS | {"stg_chesscom__games", "int_chess_games_oriented"} <= set(models)


@pytest.mark.parametrize(
    "name",
    sorted(MARTS | {"stg_chesscom__games", "int_chess_games_oriented"}),
)
def test_compiled_model_is_trino_sql(compiled: Path, name: str) -> None:
    sql = _models(compiled)[name]
    tree = sqlglot.parse_one(sql, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
    unknown = {f.name.lower() for f in tree.find_all(exp.Anonymous)} - TRINO_EXTRA_FUNCTIONS
    # A Spark-only function (from_utc_timestamp, named_struct, collect_list, ...) that
    # leaked past adapter.dispatch would show up here.
    assert not unknown, f"{name} calls functions Trino does not have: {sorted(unknown)}"


def test_engine_specific_sql_is_dispatched(compiled: Path) -> None:
    models = _models(compiled)
    daily = models["agg_rapid_chess_daily"].lower()
    assert "array_agg(" in daily and "order by end_time, uuid" in daily
    assert "collect_list" not in daily and "named_struct" not in daily
    oriented = models["int_chess_games_oriented"].lower()
    assert "at_timezone(" in oriented and "from_utc_timestamp" not in oriented
    assert '"lake"."bronze"."chesscom_games"' in models["stg_chesscom__games"]
    # Marts land in the published namespace, verbatim (generate_schema_name).
    assert '"lake"."marts"."fct_chess_games"' in daily


def test_data_tests_compile_for_trino(compiled: Path) -> None:
    tests = list((compiled / "models").rglob("*.sql"))
    tests = [p for p in tests if p.parent.name not in ("chesscom", "chess")]
    assert len(tests) >= 40, "data tests on every key"
    for path in tests:
        sqlglot.parse_one(path.read_text(), read="trino", error_level=sqlglot.ErrorLevel.RAISE)


def test_spark_sql_would_be_caught(compiled: Path) -> None:
    """The check above is not vacuous: Spark's dialect of the same logic is rejected."""
    spark_sql = "select to_date(from_utc_timestamp(end_time, 'UTC')) from t"
    tree = sqlglot.parse_one(spark_sql, read="trino")
    assert {f.name.lower() for f in tree.find_all(exp.Anonymous)} - TRINO_EXTRA_FUNCTIONS


def test_incremental_path_compiles_for_trino(tmp_path: Path) -> None:
    """is_incremental() true: the cursor read at run time becomes Trino literals."""
    import agate
    from dbt.adapters.contracts.connection import AdapterResponse
    from dbt.adapters.trino.impl import TrinoAdapter

    def existing(self, database, schema, identifier):
        return self.Relation.create(
            database=database, schema=schema, identifier=identifier, type="table"
        )

    def execute(self, sql, auto_begin=False, fetch=False, limit=None):
        # Every cursor query answers: player 'me', newest local date 2024-03-10.
        table = agate.Table([["me", "2024-03-10"]], ["player", "last_date"])
        return AdapterResponse(_message="OK"), table

    env = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "TRINO_HOST": "trino.invalid"}
    with (
        mock.patch.dict(os.environ, env),
        mock.patch.object(TrinoAdapter, "get_relation", existing),
        mock.patch.object(TrinoAdapter, "execute", execute),
    ):
        result = _dbt(
            ["compile", "--target", "trino", "--no-populate-cache", "--select", "marts"],
            tmp_path,
        )
        assert result.success, result.exception
    models = _models(tmp_path / "compiled" / "lakehouse")
    fct = models["fct_chess_games"]
    # lookback 3 days + 1 (local vs UTC) + 1 for the UTC timestamp: 2024-03-05.
    assert "player = 'me' and end_time >= timestamp '2024-03-05 00:00:00 UTC'" in fct
    assert "player not in ('me')" in fct
    daily = models["agg_rapid_chess_daily"]
    assert "(year > 2024 or (year = 2024 and month >= 3))" in daily
    assert "game_date >= date '2024-03-06'" in daily
    by_clock = models["agg_chess_results_by_clock"]
    assert "game_date >= date '2024-03-01'" in by_clock  # whole months
    for name in MARTS:
        tree = sqlglot.parse_one(models[name], read="trino", error_level=sqlglot.ErrorLevel.RAISE)
        unknown = {f.name.lower() for f in tree.find_all(exp.Anonymous)} - TRINO_EXTRA_FUNCTIONS
        assert not unknown, (name, unknown)
