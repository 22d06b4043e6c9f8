"""The `trino` target without a Trino server: dbt parses and compiles, and every compiled
model is valid Trino SQL (sqlglot) that calls no function Trino lacks.

No Trino can run here (FACTS.md), so the adapter's catalog lookups are replaced by "the
relation does not exist yet" (a first run); everything else is the real dbt-trino.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
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
# The health models whose SQL is checked the same way (the canonical model over both
# sources, and the WHOOP staging with its quoted `end` and offset-zoned local dates).
HEALTH = {
    "daily_health",
    "agg_monthly_health",
    "fct_daily_health",
    "fct_sleep_sessions",
    "int_health__daily_by_source",
    "int_health__sleep_sessions",
    "stg_whoop__sleep",
    "stg_whoop__recovery",
    "stg_whoop__cycle",
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
    assert MARTS | HEALTH | {"stg_chesscom__games", "int_chess_games_oriented"} <= set(models)


@pytest.mark.parametrize(
    "name",
    sorted(MARTS | HEALTH | {"stg_chesscom__games", "int_chess_games_oriented"}),
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
    tests = [p for p in tests if p.parent.name.endswith(".yml")]  # not the models
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


def _mocked_trino_run(args: list[str], target_path: Path) -> tuple[Any, list[str]]:
    """`dbt <args> --target trino` against a fake server: every relation exists, every query
    answers "player 'me', newest local date 2024-03-10", every statement is recorded."""
    import agate
    from dbt.adapters.contracts.connection import AdapterResponse
    from dbt.adapters.trino.column import TrinoColumn
    from dbt.adapters.trino.impl import TrinoAdapter

    statements: list[str] = []

    def existing(self, database, schema, identifier):
        return self.Relation.create(
            database=database, schema=schema, identifier=identifier, type="table"
        )

    def execute(self, sql, auto_begin=False, fetch=False, limit=None):
        statements.append(sql)
        table = agate.Table([["me", "2024-03-10"]], ["player", "last_date"])
        return AdapterResponse(_message="OK"), table

    def columns(self, relation):
        # The fct columns, typed by name: enough for fixtures and schema checks.
        types = {"end_time": "timestamp(6) with time zone", "game_date": "date"}
        ints = {"year", "month", "my_rating", "opponent_rating", "number_of_rounds"}
        doubles = {"my_remaining_time_seconds", "opponent_remaining_time_seconds"}
        return [
            TrinoColumn(
                column=name,
                dtype=types.get(name)
                or ("integer" if name in ints else "double" if name in doubles else "varchar"),
            )
            for name in FCT_COLUMNS
        ]

    connections = "dbt.adapters.trino.connections.TrinoConnectionManager"
    env = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "TRINO_HOST": "trino.invalid"}
    with (
        mock.patch.dict(os.environ, env),
        mock.patch.object(TrinoAdapter, "get_relation", existing),
        mock.patch.object(TrinoAdapter, "execute", execute),
        mock.patch.object(TrinoAdapter, "get_columns_in_relation", columns),
        mock.patch(f"{connections}.begin"),
        mock.patch(f"{connections}.commit"),
    ):
        result = _dbt([*args, "--target", "trino", "--no-populate-cache"], target_path)
    return result, statements


FCT_COLUMNS = [
    "player", "uuid", "year", "month", "game_date", "end_time", "time_class", "time_control",
    "my_color", "my_rating", "opponent_username", "opponent_rating", "my_first_move",
    "opponent_first_move", "my_remaining_time_seconds", "opponent_remaining_time_seconds",
    "my_result", "opponent_result", "my_outcome", "opponent_outcome", "number_of_rounds",
    "termination", "opening",
]  # fmt: skip


def test_incremental_run_deletes_the_reread_window_on_trino(tmp_path: Path) -> None:
    """An incremental run first deletes, per player, the rows of the window it re-reads
    (pre-hook chess_delete_window_hook), so games that vanished from bronze leave the marts;
    the DELETEs are Trino SQL with the very bounds of the compiled windows."""
    result, statements = _mocked_trino_run(["run", "--select", "marts.chess"], tmp_path)
    assert result.success, result.exception
    deletes = {}
    for sql in statements:
        text = " ".join(sql.split())
        if text.startswith("delete from"):
            deletes[text.split('"')[5]] = text
            sqlglot.parse_one(text, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
    incremental = MARTS - {
        "agg_rapid_chess_monthly_openings",
        "ranked_best_openings",
        "ranked_worst_openings",
    }
    assert set(deletes) == incremental  # the rebuilt marts are Trino tables: no delete
    # lookback 3 days + 1 (local vs UTC): the window starts on 2024-03-06 (local date).
    fct = deletes["fct_chess_games"]
    assert "player = 'me' and (year > 2024 or (year = 2024 and month >= 3))" in fct
    assert "end_time >= timestamp '2024-03-05 00:00:00 UTC'" in fct
    assert "game_date >= date '2024-03-06'" in deletes["agg_rapid_chess_daily"]
    assert "game_date >= date '2024-03-06'" in deletes["agg_chess_rating_daily"]
    for name in ("agg_chess_results_by_clock", "agg_chess_results_by_termination"):
        # Whole months: the month of 2024-03-06 and later.
        assert deletes[name].endswith(
            "where (player = 'me' and (year > 2024 or (year = 2024 and month >= 3)))"
        )
    # The window the models re-read is the deleted one.
    models = _models(tmp_path / "compiled" / "lakehouse")
    assert (
        "player = 'me' and end_time >= timestamp '2024-03-05 00:00:00 UTC'"
        in (models["fct_chess_games"])
    )
    merges = [i for i, sql in enumerate(statements) if "merge into" in sql.lower()]
    first_delete = min(i for i, sql in enumerate(statements) if sql.strip().startswith("delete"))
    assert merges and first_delete < min(merges)


def test_incremental_unit_tests_compile_for_trino(tmp_path: Path) -> None:
    """The incremental unit tests of fct_chess_games (is_incremental overridden, `this` a
    fixture) compile to Trino SQL with the window as subqueries on the fixture (run here
    against the fake server, so only the compiled SQL is checked, not the result)."""
    names = [
        "fct_incremental_run_on_published_games",
        "fct_incremental_merges_only_the_recent_window",
    ]
    _mocked_trino_run(["test", "--select", *(f"unit_test:{n}" for n in names)], tmp_path)
    compiled = {p.stem: p.read_text() for p in (tmp_path / "compiled").rglob("*.sql")}
    for name in names:
        sql = compiled[name]
        sqlglot.parse_one(sql, read="trino", error_level=sqlglot.ErrorLevel.RAISE)
        assert "from __dbt__cte__fct_chess_games group by player" in sql
    # lookback 3: 4 days before the local date, one more for the UTC end_time.
    assert "end_time >= (\n        select date_add('day', -5, min(last_date))" in compiled[names[0]]
