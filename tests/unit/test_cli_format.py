"""`lakehouse sql` output formats, without Spark."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

from spark_jobs.cli import format_rows

COLUMNS = ["player", "games", "first", "ratio", "tags"]
ROWS = [
    ("demo_player", 12, datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), Decimal("0.55"), ["a", "b"]),
    ("o'neil, jr", None, date(2024, 2, 1), None, []),
]


def test_json_is_one_array_of_row_objects() -> None:
    assert json.loads(format_rows(COLUMNS, ROWS, "json")) == [
        {
            "player": "demo_player",
            "games": 12,
            "first": "2024-01-02T03:04:05+00:00",
            "ratio": "0.55",
            "tags": ["a", "b"],
        },
        {"player": "o'neil, jr", "games": None, "first": "2024-02-01", "ratio": None, "tags": []},
    ]


def test_csv_quotes_and_leaves_nulls_empty() -> None:
    assert format_rows(COLUMNS, ROWS, "csv").splitlines() == [
        "player,games,first,ratio,tags",
        'demo_player,12,2024-01-02T03:04:05+00:00,0.55,"[""a"", ""b""]"',
        '"o\'neil, jr",,2024-02-01,,[]',
    ]


def test_table_is_aligned_and_counts_rows() -> None:
    lines = format_rows(["n"], [(1,), (22,)], "table").splitlines()
    assert lines == ["+----+", "| n  |", "+----+", "| 1  |", "| 22 |", "+----+", "(2 rows)"]
    assert format_rows(["n"], [], "table").endswith("(0 rows)")
