"""Oracle test: every game of every recorded archive, Spark transform vs python-chess.

The transform reads PGNs with a few regexes over small windows of the text; python-chess
parses each game properly (headers, mainline, `[%clk]` comments). Both must agree on
every game of the real chess.com archives in `tests/fixtures/chesscom/`.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import chess
import chess.pgn
import pytest
from pyspark.sql import Row
from pyspark.sql.types import (
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from spark_jobs.chesscom.schemas import GAMES_SCHEMA
from spark_jobs.chesscom.transforms import games_from_archives, malformed_archives

pytestmark = pytest.mark.spark

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "chesscom"

# (fixture file, archive owner as the raw layer stores it, archive month)
ARCHIVES = [
    ("chessWrapped__games_aegboye7_2025_03.json", "aegboye7", "2025-03"),
    ("chess_hair__games_magnuscarlsen_2024_01.json", "magnuscarlsen", "2024-01"),
    ("chess_hair__games_magnuscarlsen_2024_02.json", "magnuscarlsen", "2024-02"),
    ("chess_hair__games_ham_sammy_2024_06.json", "ham_sammy", "2024-06"),
    ("sarartur__games_fabianocaruana_2020_05.json", "fabianocaruana", "2020-05"),
    ("chess-opening-book__games_epictetusz1_2022_08.json", "epictetusz1", "2022-08"),
]

RAW_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("source", StringType(), False),
        StructField("resource", StringType(), False),
        StructField("account", StringType(), True),
        StructField("period", StringType(), True),
        StructField("url", StringType(), False),
        StructField("http_status", IntegerType(), False),
        StructField("fetched_at", TimestampType(), False),
        StructField("payload", StringType(), True),
    ]
)
FETCHED_AT = datetime(2025, 4, 1, 12, 0, 0)


@dataclass
class Output:
    rows: dict[tuple[str, str], Row]
    counts: dict[tuple[str, str], int]
    malformed: list[Row]


@pytest.fixture(scope="module")
def output(spark) -> Output:
    raw_rows = []
    for name, account, period in ARCHIVES:
        year, month = period.split("-")
        url = f"https://api.chess.com/pub/player/{account}/games/{year}/{month}"
        payload = (FIXTURES / name).read_text(encoding="utf-8")
        raw_rows.append(
            ("run-1", "chesscom", "games_month", account, period, url, 200, FETCHED_AT, payload)
        )
    raw = spark.createDataFrame(raw_rows, RAW_SCHEMA)
    games = games_from_archives(raw)
    assert games.schema == GAMES_SCHEMA
    collected = games.collect()  # one Spark job; everything else is plain Python
    rows = {(r["player"], r["uuid"]): r for r in collected}
    assert len(rows) == len(collected), "(player, uuid) must be unique"
    counts: dict[tuple[str, str], int] = {}
    for r in collected:
        key = (r["player"], r["archive_month"])
        counts[key] = counts.get(key, 0) + 1
    return Output(rows, counts, malformed_archives(raw).collect())


def _load(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["games"]


def _pgn_date(value: str | None) -> date | None:
    try:
        return datetime.strptime(value, "%Y.%m.%d").date() if value else None
    except ValueError:
        return None


def _pgn_datetime(day: str | None, time: str | None) -> datetime | None:
    if not day or not time:
        return None
    # The session time zone is UTC, so collected timestamps are naive UTC datetimes.
    return datetime.strptime(f"{day} {time}", "%Y.%m.%d %H:%M:%S")


def _utc(epoch: int | None) -> datetime | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def _expected(game: dict[str, Any], account: str) -> dict[str, Any]:
    """Every checked column, computed from the JSON and python-chess alone."""
    white, black = game["white"], game["black"]
    color = {white["username"].lower(): "white", black["username"].lower(): "black"}
    accuracies = game.get("accuracies") or {}
    exp: dict[str, Any] = {
        "url": game.get("url"),
        "end_time": _utc(game.get("end_time")),
        "start_time": _utc(game.get("start_time")),
        "time_control": game.get("time_control"),
        "time_class": game.get("time_class"),
        "rules": game.get("rules"),
        "rated": game.get("rated"),
        "eco_url": game.get("eco"),
        "tournament_url": game.get("tournament"),
        "match_url": game.get("match"),
        "white_username": white["username"],
        "white_rating": white["rating"],
        "white_result": white["result"],
        "white_id": white["@id"],
        "white_uuid": white["uuid"],
        "black_username": black["username"],
        "black_rating": black["rating"],
        "black_result": black["result"],
        "black_id": black["@id"],
        "black_uuid": black["uuid"],
        "white_accuracy": accuracies.get("white"),
        "black_accuracy": accuracies.get("black"),
        "player_color": color.get(account),
        "pgn": game.get("pgn"),
    }
    pgn = game.get("pgn")
    headers: dict[str, str] = {}
    first = {chess.WHITE: None, chess.BLACK: None}
    clock = {chess.WHITE: None, chess.BLACK: None}
    full_moves = None
    if pgn is not None:
        parsed = chess.pgn.read_game(io.StringIO(pgn))
        assert parsed is not None and not parsed.errors, parsed and parsed.errors
        headers = dict(parsed.headers)
        board = parsed.board()
        for node in parsed.mainline():
            side = board.turn
            full_moves = board.fullmove_number  # the number of the move being played
            if first[side] is None:
                first[side] = board.san(node.move)
            if node.clock() is not None:
                clock[side] = node.clock()
            board.push(node.move)
    exp.update(
        pgn_event=headers.get("Event"),
        pgn_site=headers.get("Site"),
        pgn_date=_pgn_date(headers.get("Date")),
        pgn_round=headers.get("Round"),
        pgn_white=headers.get("White"),
        pgn_black=headers.get("Black"),
        pgn_result=headers.get("Result"),
        pgn_eco=headers.get("ECO"),
        pgn_eco_url=headers.get("ECOUrl"),
        pgn_termination=headers.get("Termination"),
        pgn_time_control=headers.get("TimeControl"),
        pgn_timezone=headers.get("Timezone"),
        pgn_variant=headers.get("Variant"),
        pgn_current_position=headers.get("CurrentPosition"),
        pgn_start_at=_pgn_datetime(headers.get("UTCDate"), headers.get("UTCTime")),
        pgn_end_at=_pgn_datetime(headers.get("EndDate"), headers.get("EndTime")),
        full_moves=full_moves,
        white_first_move=first[chess.WHITE],
        black_first_move=first[chess.BLACK],
        white_final_clock_seconds=clock[chess.WHITE],
        black_final_clock_seconds=clock[chess.BLACK],
    )
    opening = game.get("eco") or headers.get("ECOUrl")
    exp["opening_slug"] = opening.rstrip("/").rsplit("/", 1)[-1] if opening else None
    return exp


def _differs(actual: Any, expected: Any) -> bool:
    if isinstance(expected, float) and actual is not None:
        # Clocks are tenths of a second; accuracies are compared as parsed.
        return not math.isclose(actual, expected, abs_tol=0.05)
    return actual != expected


@pytest.mark.parametrize(("name", "account", "period"), ARCHIVES, ids=[a[0] for a in ARCHIVES])
def test_every_game_matches_python_chess(output: Output, name: str, account: str, period: str):
    games = _load(name)
    assert output.counts.get((account, period), 0) == len(games)
    mismatches = []
    for game in games:
        row = output.rows[(account, game["uuid"])]
        assert row["archive_month"] == period
        assert row["_run_id"] == "run-1" and row["_fetched_at"] == FETCHED_AT
        for column, expected in _expected(game, account).items():
            if _differs(row[column], expected):
                mismatches.append(f"{game['url']} {column}: {row[column]!r} != {expected!r}")
    assert not mismatches, "\n".join(mismatches[:50])


def test_real_archives_are_not_malformed(output: Output):
    assert output.malformed == []


def test_fixture_quirks_are_covered(output: Output):
    """The quirks SOURCES.md lists are really exercised by the oracle above."""
    rows = list(output.rows.values())
    assert any(r["pgn"] is None for r in rows)  # a game without a `pgn` key
    no_clocks = [r for r in rows if r["pgn"] and "%clk" not in r["pgn"]]
    assert no_clocks and all(r["white_final_clock_seconds"] is None for r in no_clocks)
    assert any(r["eco_url"] is None and r["opening_slug"] for r in rows)  # ECOUrl fallback
    assert any(r["start_time"] is not None for r in rows)  # daily games
    assert any(r["tournament_url"] is not None for r in rows)
    assert any(r["white_accuracy"] is None for r in rows)
    assert any(r["player_color"] is None for r in rows)  # see fixtures README (epictetusz1)
