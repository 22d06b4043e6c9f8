"""The DuckDB serving file over the Iceberg marts (spark_jobs/serving.py).

Marts are written with pyiceberg into a throwaway embedded lakehouse (no JVM: what is under
test is DuckDB reading Iceberg tables through the catalog's current metadata). The
Spark/dbt-written marts are read the same way in test_superset_dashboard.py.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from spark_jobs.common.catalog import load_pyiceberg_catalog
from spark_jobs.serving import duckdb_config, local_path, refresh_serving, serving_path
from spark_jobs.settings import SettingsError, load_settings


def _rows(n: int, start: int = 0) -> pa.Table:
    return pa.table(
        {
            "player": pa.array(["me"] * n, pa.string()),
            "game_date": pa.array([date(2024, 1, 1 + (i % 28)) for i in range(start, start + n)]),
            "rating": pa.array(list(range(1000 + start, 1000 + start + n)), pa.int32()),
        }
    )


@pytest.fixture
def lakehouse(tmp_path: Path):
    settings = load_settings({"LAKEHOUSE_HOME": str(tmp_path)})
    catalog = load_pyiceberg_catalog(settings)
    catalog.create_namespace("marts")
    return settings, catalog


def _open(settings) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(serving_path(settings)), read_only=True, config=duckdb_config())


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute(f"select count(*) from marts.{table}").fetchone()[0]


def test_views_match_the_iceberg_tables_and_follow_new_commits(lakehouse) -> None:
    settings, catalog = lakehouse
    ratings = catalog.create_table("marts.agg_chess_rating_daily", _rows(1).schema)
    ratings.append(_rows(30))
    games = catalog.create_table("marts.fct_chess_games", _rows(1).schema)
    games.append(_rows(7))
    catalog.create_table("marts.ranked_best_openings", _rows(1).schema)  # no snapshot yet

    path = refresh_serving(settings)
    assert path == settings.home / "serving" / "lakehouse.duckdb"
    old = _open(settings)
    for name in ("agg_chess_rating_daily", "fct_chess_games", "ranked_best_openings"):
        table = catalog.load_table(f"marts.{name}")
        assert _count(old, name) == len(table.scan().to_arrow()), name
    assert old.execute("select sum(rating) from marts.fct_chess_games").fetchone()[0] == sum(
        range(1000, 1007)
    )
    # A mart without a snapshot is an empty table with the mart's columns.
    columns = [r[0] for r in old.execute("describe marts.ranked_best_openings").fetchall()]
    assert columns == ["player", "game_date", "rating"]

    # A new commit is not visible until the refresh: views are pinned to a snapshot.
    catalog.load_table("marts.fct_chess_games").append(_rows(5, start=100))
    assert _count(_open(settings), "fct_chess_games") == 7
    refresh_serving(settings)
    # The file was replaced, not rewritten: a connection opened before still reads its copy.
    assert _count(old, "fct_chess_games") == 7
    # (DuckDB shares one open database per path within a process: close it first.)
    old.close()
    new = _open(settings)
    assert _count(new, "fct_chess_games") == 12 == len(games.refresh().scan().to_arrow())
    assert not list(path.parent.glob(".*tmp"))


def test_only_published_snapshot_is_served(lakehouse) -> None:
    settings, catalog = lakehouse
    table = catalog.create_table("marts.fct_chess_games", _rows(1).schema)
    table.append(_rows(3))
    # Write-audit-publish: a commit on the `audit` branch must not reach dashboards.
    table.append(_rows(4, start=50), branch="audit")
    refresh_serving(settings)
    assert _count(_open(settings), "fct_chess_games") == 3


def test_no_marts_yet_gives_an_empty_schema(tmp_path: Path) -> None:
    settings = load_settings({"LAKEHOUSE_HOME": str(tmp_path)})
    refresh_serving(settings)
    tables = _open(settings).execute(
        "select count(*) from information_schema.tables where table_schema = 'marts'"
    )
    assert tables.fetchone()[0] == 0


def test_remote_warehouse_is_refused_with_a_fix(tmp_path: Path) -> None:
    settings = load_settings(
        {"LAKEHOUSE_HOME": str(tmp_path), "LAKEHOUSE_WAREHOUSE": "s3://bucket/lake"}
    )
    with pytest.raises(SettingsError, match="LAKEHOUSE_SUPERSET_ENGINE=trino"):
        refresh_serving(settings)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        # pyiceberg writes file:/// URIs; percent-encoding must be undone.
        ("file:///data/lake/m/metadata/v1.metadata.json", "/data/lake/m/metadata/v1.metadata.json"),
        ("file:///data/my%20lake/v1.json", "/data/my lake/v1.json"),
        # Spark's Hadoop paths use file:/ with one slash.
        ("file:/data/lake/v1.json", "/data/lake/v1.json"),
        ("/already/a/path.json", "/already/a/path.json"),
    ],
)
def test_local_path(location: str, expected: str) -> None:
    assert local_path(location) == expected
