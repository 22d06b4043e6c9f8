"""games_from_archives / malformed_archives on tiny inline archives, one edge case per game.

All cases go through Spark together (one raw DataFrame, a few collects) to keep the run
short; each parametrized test then checks its own game's row.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StringType, StructField, StructType, TimestampType

from spark_jobs.chesscom.schemas import GAMES_SCHEMA, RAW_ARCHIVE_COLUMNS
from spark_jobs.chesscom.transforms import games_from_archives, malformed_archives

pytestmark = pytest.mark.spark

ACCOUNT = "alice"
START_FEN = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1"
ECO = "https://www.chess.com/openings/Kings-Pawn-Opening"
FETCHED_AT = datetime(2024, 7, 1, 8, 30)
DROP = object()  # marks a key the game object does not have at all

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


def pgn(movetext: str, **tags: Any) -> str:
    """A chess.com-shaped PGN; a tag set to DROP is left out."""
    headers = {
        "Event": "Live Chess",
        "Site": "Chess.com",
        "Date": "2024.01.05",
        "Round": "-",
        "White": "Alice",
        "Black": "bob",
        "Result": "1-0",
        "CurrentPosition": "8/8/8/8/8/8/8/8 w - -",
        "Timezone": "UTC",
        "ECO": "C20",
        "ECOUrl": ECO,
        "UTCDate": "2024.01.05",
        "UTCTime": "10:00:00",
        "WhiteElo": "1500",
        "BlackElo": "1480",
        "TimeControl": "180",
        "Termination": "Alice won by resignation",
        "StartTime": "10:00:00",
        "EndDate": "2024.01.05",
        "EndTime": "10:05:30",
        "Link": "https://www.chess.com/game/live/1",
        **tags,
    }
    block = "".join(f'[{k} "{v}"]\n' for k, v in headers.items() if v is not DROP)
    return f"{block}\n{movetext}\n"


def game(uuid: str, movetext: str | None = None, tags: dict | None = None, **fields: Any) -> dict:
    """A game object of the monthly archive API; a field set to DROP is left out."""
    obj: dict[str, Any] = {
        "url": f"https://www.chess.com/game/live/{uuid}",
        "pgn": pgn(movetext or "1. e4 e5 1-0", **(tags or {})),
        "time_control": "180",
        "end_time": 1704449130,  # 2024-01-05 10:05:30 UTC
        "rated": True,
        "accuracies": {"white": 91.5, "black": 100},  # JSON int for black
        "tcn": "mC0K",
        "uuid": uuid,
        "initial_setup": START_FEN,
        "fen": "8/8/8/8/8/8/8/8 w - -",
        "time_class": "blitz",
        "rules": "chess",
        "white": {
            "rating": 1500,
            "result": "win",
            "@id": "https://api.chess.com/pub/player/alice",
            "username": "Alice",  # the archive owner, capitalised: matched case-insensitively
            "uuid": "w-uuid",
        },
        "black": {
            "rating": 1480,
            "result": "resigned",
            "@id": "https://api.chess.com/pub/player/bob",
            "username": "bob",
            "uuid": "b-uuid",
        },
        "eco": ECO,
    }
    obj.update(fields)
    return {k: v for k, v in obj.items() if v is not DROP}


LONG_MOVETEXT = (
    " ".join(
        f"{i}. Nf3 {{[%clk 0:01:{i:02d}]}} {i}... Nf6 {{[%clk 0:00:{i:02d}]}}" for i in range(1, 60)
    )
    + " 60. Nc3 {[%clk 0:00:42.5]} 1-0"
)

GAMES = [
    # Clocks on every ply, white delivers mate: white's move is the last one.
    game(
        "ends-after-white",
        "1. e4 {[%clk 0:02:59.9]} 1... e5 {[%clk 0:02:58]} 2. Qh5 {[%clk 0:02:50]} "
        "2... Nc6 {[%clk 0:02:40.5]} 3. Bc4 {[%clk 0:02:45]} 3... Nf6 {[%clk 0:02:30]} "
        "4. Qxf7# {[%clk 0:02:44.1]} 1-0",
    ),
    # Fool's mate: black's move is the last one.
    game(
        "ends-after-black",
        "1. f3 {[%clk 0:03:00]} 1... e5 {[%clk 0:02:59]} 2. g4 {[%clk 0:02:58.2]} "
        "2... Qh4# {[%clk 0:02:57]} 0-1",
        tags={"Result": "0-1"},
    ),
    # No [%clk] comments at all, black moves written without `1...`.
    game("no-clocks", "1. e4 e5 2. Nf3 1-0"),
    # The API omitted `pgn` (seen once in the aegboye7 archive).
    game("no-pgn", pgn=DROP),
    # Older captures have no `eco` field: the opening comes from the PGN's ECOUrl.
    game(
        "no-eco",
        tags={
            "ECOUrl": "https://www.chess.com/openings/Queens-Pawn-Opening-Chigorin-Variation-2...Nf6"
        },
        eco=DROP,
        accuracies=DROP,
    ),
    # Daily game: start_time present, clocks count down from a day.
    game(
        "daily",
        "1. d4 {[%clk 23:59:48]} 1... d5 {[%clk 23:59:17]} 2. Nc3 {[%clk 21:51:54]} 0-1",
        tags={"TimeControl": "1/86400", "Event": "Let's Play!"},
        time_class="daily",
        time_control="1/86400",
        start_time=1717180346,  # 2024-05-31 18:32:26 UTC
        tournament="https://www.chess.com/tournament/daily-1",
        match="https://www.chess.com/club/matches/2",
    ),
    # Chess960: Variant, SetUp and FEN headers; castling as the second white move.
    game(
        "chess960",
        "1. g3 {[%clk 0:02:59]} 1... g6 {[%clk 0:02:58]} 2. O-O {[%clk 0:02:57]} 1-0",
        tags={
            "Variant": "Chess960",
            "SetUp": "1",
            "FEN": "nrbbqkrn/pppppppp/8/8/8/8/PPPPPPPP/NRBBQKRN w GBgb - 0 1",
        },
        rules="chess960",
        initial_setup="nrbbqkrn/pppppppp/8/8/8/8/PPPPPPPP/NRBBQKRN w GBgb - 0 1",
    ),
    # Set up with black to move: the movetext starts with `1...`.
    game(
        "black-starts",
        "1... e5 {[%clk 0:02:59]} 2. Nf3 {[%clk 0:02:58]} 2... Nc6 {[%clk 0:02:57]} "
        "3. Bb5 {[%clk 0:02:56]} 1-0",
        tags={"SetUp": "1", "FEN": "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1"},
    ),
    # Black abandoned after white's first move: every black move field is null.
    game("one-move", "1. e4 {[%clk 0:02:59.9]} 1-0"),
    # Abandoned before any move: the movetext is only the result.
    game("no-moves", "0-1", tags={"Result": "0-1"}),
    # Header values with escaped quotes and backslashes, and an unknown date.
    game(
        "escaped-headers",
        tags={"Event": r"Rated \"Blitz\" game", "White": r"back\\slash", "Date": "????.??.??"},
    ),
    # d:hh:mm:ss clocks, black plies without `N...` after a comment.
    game(
        "four-part-clocks",
        "1. e4 {[%clk 1:00:00:05]} e5 {[%clk 0:23:59:59]} 2. Nf3 {[%clk 1:00:00:00]} 1-0",
    ),
    # Longer than the tail window: 60 moves, white's 60th is the last.
    game("long-game", LONG_MOVETEXT),
    # NAGs, `!?` suffixes and other commands in comments ([%eval 10.25] is no move number).
    game(
        "annotations",
        "1. e4! $1 {[%clk 0:03:00] [%eval 0.3]} 1... e5?! {[%eval 10.25] [%clk 0:02:59]} "
        "2. Nf3 {[%clk 0:02:58]} 1-0",
    ),
    # An opening URL with a trailing slash: the slug is the last non-empty segment.
    game("eco-trailing-slash", eco="https://www.chess.com/openings/Sicilian-Defense/"),
    # Neither side is the archive owner.
    game(
        "not-the-owner",
        white={"username": "carol", "rating": 1, "result": "win", "@id": "x", "uuid": "c"},
    ),
]
DAILY = {"ends-after-black", "daily"}  # these two go into a second archive (2024-06)

# (account, period, payload): payloads that are not archives, plus an empty archive.
MALFORMED = [
    ("mallory", "2024-01", "this is not json"),
    ("mallory", "2024-02", '{"code": 0, "message": "Data provider not found for key"}'),
    ("mallory", "2024-03", None),
    ("mallory", "2024-04", '{"games": "oops"}'),
]
EMPTY = ("alice", "2024-05", '{"games": []}')


@pytest.fixture(scope="module")
def raw(spark: SparkSession) -> DataFrame:
    payloads = [
        (ACCOUNT, "2024-01", json.dumps({"games": [g for g in GAMES if g["uuid"] not in DAILY]})),
        (ACCOUNT, "2024-06", json.dumps({"games": [g for g in GAMES if g["uuid"] in DAILY]})),
        *MALFORMED,
        EMPTY,
    ]
    rows = [
        ("run-1", "chesscom", "games_month", a, p, f"https://api/{a}/{p}", 200, FETCHED_AT, body)
        for a, p, body in payloads
    ]
    # NOT NULL lineage columns, as in the raw table: the output must still be all-nullable.
    return spark.createDataFrame(rows, RAW_SCHEMA).select(*RAW_ARCHIVE_COLUMNS)


@pytest.fixture(scope="module")
def games(raw: DataFrame) -> DataFrame:
    return games_from_archives(raw)


@pytest.fixture(scope="module")
def rows(games: DataFrame) -> dict[str, Row]:
    collected = games.collect()
    by_uuid = {r["uuid"]: r for r in collected}
    assert len(by_uuid) == len(collected)
    return by_uuid


def test_schema_is_exactly_games_schema(games: DataFrame) -> None:
    assert games.schema == GAMES_SCHEMA


def test_one_row_per_game_and_nothing_from_bad_payloads(rows: dict[str, Row]) -> None:
    assert sorted(rows) == sorted(g["uuid"] for g in GAMES)
    assert {r["player"] for r in rows.values()} == {ACCOUNT}


def test_malformed_archives_lists_only_bad_payloads(raw: DataFrame) -> None:
    bad = {
        (r["account"], r["period"], r["url"], r["run_id"])
        for r in malformed_archives(raw).collect()
    }
    assert bad == {(a, p, f"https://api/{a}/{p}", "run-1") for a, p, _ in MALFORMED}


def test_lineage_and_archive_columns(rows: dict[str, Row]) -> None:
    row = rows["no-clocks"]
    assert (row["player"], row["archive_month"]) == (ACCOUNT, "2024-01")
    assert rows["daily"]["archive_month"] == "2024-06"
    assert (row["_run_id"], row["_fetched_at"]) == ("run-1", FETCHED_AT)
    assert row["end_time"] == datetime(2024, 1, 5, 10, 5, 30)
    assert row["start_time"] is None
    assert (row["white_accuracy"], row["black_accuracy"]) == (91.5, 100.0)
    assert (row["white_id"], row["black_uuid"]) == (
        "https://api.chess.com/pub/player/alice",
        "b-uuid",
    )
    assert (row["white_rating"], row["black_result"]) == (1500, "resigned")
    assert row["pgn_start_at"] == datetime(2024, 1, 5, 10, 0, 0)
    assert row["pgn_end_at"] == datetime(2024, 1, 5, 10, 5, 30)
    assert row["pgn_date"] == date(2024, 1, 5)
    assert row["pgn_current_position"] == "8/8/8/8/8/8/8/8 w - -"
    assert row["pgn"].startswith('[Event "Live Chess"]\n')


MOVE_COLUMNS = [
    "uuid",
    "full_moves",
    "white_first_move",
    "black_first_move",
    "white_final_clock_seconds",
    "black_final_clock_seconds",
]
# uuid -> (full_moves, white first, black first, white final clock, black final clock);
# each case is described where it is built, in GAMES.
EXPECTED_MOVES: dict[str, tuple] = {
    "ends-after-white": (4, "e4", "e5", 164.1, 150.0),
    "ends-after-black": (2, "f3", "e5", 178.2, 177.0),
    "no-clocks": (2, "e4", "e5", None, None),
    "no-pgn": (None, None, None, None, None),
    "no-eco": (1, "e4", "e5", None, None),
    "daily": (2, "d4", "d5", 78714.0, 86357.0),
    "chess960": (2, "g3", "g6", 177.0, 178.0),
    "black-starts": (3, "Nf3", "e5", 176.0, 177.0),
    "one-move": (1, "e4", None, 179.9, None),
    "no-moves": (None, None, None, None, None),
    "escaped-headers": (1, "e4", "e5", None, None),
    "four-part-clocks": (2, "e4", "e5", 86400.0, 86399.0),
    "long-game": (60, "Nf3", "Nf6", 42.5, 59.0),
    "annotations": (2, "e4", "e5", 178.0, 179.0),
    "not-the-owner": (1, "e4", "e5", None, None),
    "eco-trailing-slash": (1, "e4", "e5", None, None),
}


def test_move_columns_of_every_case(spark: SparkSession, games: DataFrame) -> None:
    schema = StructType([GAMES_SCHEMA[c] for c in MOVE_COLUMNS])
    expected = spark.createDataFrame(
        [(uuid, *values) for uuid, values in sorted(EXPECTED_MOVES.items())], schema
    )
    actual = games.select(*MOVE_COLUMNS).orderBy("uuid")
    assert_approx_df_equality(actual, expected, precision=1e-9)


@pytest.mark.parametrize(
    ("uuid", "expected"),
    [
        # No pgn key: every PGN-derived column is null, the API's eco still names the opening.
        (
            "no-pgn",
            {
                "pgn": None,
                "pgn_event": None,
                "pgn_date": None,
                "pgn_eco_url": None,
                "pgn_start_at": None,
                "opening_slug": "Kings-Pawn-Opening",
            },
        ),
        # No eco field: eco_url is null and the slug falls back to the PGN's ECOUrl.
        (
            "no-eco",
            {
                "eco_url": None,
                "white_accuracy": None,
                "black_accuracy": None,
                "opening_slug": "Queens-Pawn-Opening-Chigorin-Variation-2...Nf6",
            },
        ),
        # Daily: start_time is set, tournament and match URLs come through.
        (
            "daily",
            {
                "start_time": datetime(2024, 5, 31, 18, 32, 26),
                "time_class": "daily",
                "pgn_time_control": "1/86400",
                "pgn_event": "Let's Play!",
                "tournament_url": "https://www.chess.com/tournament/daily-1",
                "match_url": "https://www.chess.com/club/matches/2",
            },
        ),
        # Chess960: rules and the Variant header; the other games have no Variant.
        (
            "chess960",
            {
                "rules": "chess960",
                "pgn_variant": "Chess960",
                "initial_setup": "nrbbqkrn/pppppppp/8/8/8/8/PPPPPPPP/NRBBQKRN w GBgb - 0 1",
            },
        ),
        # A plain standard game: headers read as written, no Variant header.
        (
            "no-clocks",
            {
                "pgn_variant": None,
                "pgn_eco": "C20",
                "pgn_result": "1-0",
                "pgn_termination": "Alice won by resignation",
                "pgn_timezone": "UTC",
            },
        ),
        # Escapes are undone; "????.??.??" is an unknown date, not an error.
        (
            "escaped-headers",
            {
                "pgn_event": 'Rated "Blitz" game',
                "pgn_white": "back\\slash",
                "pgn_date": None,
                "pgn_site": "Chess.com",
                "pgn_round": "-",
            },
        ),
        # Archive owner matched case-insensitively ("Alice" vs account "alice").
        ("ends-after-white", {"player_color": "white"}),
        ("ends-after-black", {"player_color": "white", "pgn_result": "0-1"}),
        # Trailing slash on the API's opening URL.
        ("eco-trailing-slash", {"opening_slug": "Sicilian-Defense"}),
        # Neither player is the owner.
        ("not-the-owner", {"player_color": None, "white_username": "carol"}),
        # No moves: headers are still parsed.
        ("no-moves", {"pgn_result": "0-1", "pgn_black": "bob", "full_moves": None}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_edge_case_columns(rows: dict[str, Row], uuid: str, expected: dict[str, Any]) -> None:
    row = rows[uuid]
    assert {c: row[c] for c in expected} == expected


def test_generated_code_stays_jit_compilable(spark: SparkSession, games: DataFrame) -> None:
    """No whole-stage-codegen method may exceed HotSpot's 8000-byte JIT limit.

    Larger methods are never compiled and run in the bytecode interpreter; fusing all the
    PGN projections into one stage did that and cost ~25% of the throughput.
    """
    plan = games._jdf.queryExecution().executedPlan()
    debug = spark._jvm.org.apache.spark.sql.execution.debug.package
    stages = debug.codegenStringSeq(plan)
    sizes = [stages.apply(i)._3().maxMethodCodeSize() for i in range(stages.size())]
    assert sizes and max(sizes) < 8000, sizes


def test_pgn_timestamps_do_not_depend_on_the_session_time_zone(
    spark: SparkSession, games: DataFrame
) -> None:
    key = "spark.sql.session.timeZone"
    before = spark.conf.get(key)
    spark.conf.set(key, "America/New_York")
    try:
        row = (
            games.where("uuid = 'no-clocks'")
            .select(
                F.unix_timestamp("pgn_end_at").alias("end_at"),
                F.unix_timestamp("end_time").alias("end"),
            )
            .first()
        )
    finally:
        spark.conf.set(key, before)
    assert row["end_at"] == row["end"] == 1704449130


def test_empty_input_gives_an_empty_typed_frame(spark: SparkSession) -> None:
    empty = spark.createDataFrame([], RAW_SCHEMA)
    assert games_from_archives(empty).schema == GAMES_SCHEMA


def test_a_game_listed_twice_in_one_archive_yields_one_row(spark: SparkSession) -> None:
    first = game("dup-1", "1. e4 e5 1-0", rated=False)
    again = game("dup-1", "1. e4 e5 1-0", rated=True)  # the later copy wins
    other = game("solo-1", "1. d4 d5 1-0")
    body = json.dumps({"games": [first, other, again]})
    raw = spark.createDataFrame(
        [("run-1", "chesscom", "games_month", ACCOUNT, "2024-01", "u", 200, FETCHED_AT, body)],
        RAW_SCHEMA,
    )
    out = [(r["uuid"], r["rated"]) for r in games_from_archives(raw).collect()]
    assert sorted(u for u, _ in out) == ["dup-1", "solo-1"]
    assert dict(out)["dup-1"] is True
