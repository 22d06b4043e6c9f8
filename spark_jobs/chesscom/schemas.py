"""Explicit schemas for chess.com: the monthly archive payload and the bronze games table.

`ARCHIVE_SCHEMA` is what `from_json` parses a raw `games_month` body with (never inferred:
an inferred schema would drift with whatever fields one month happens to contain). Fields a
payload lacks come back null, unknown fields are ignored.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

RAW_ARCHIVE_COLUMNS: tuple[str, ...] = (
    "run_id",
    "account",
    "period",
    "url",
    "fetched_at",
    "payload",
)
"""Raw-layer columns the archive transforms read (a subset of the raw table)."""

PLAYER_SCHEMA = StructType(
    [
        StructField("username", StringType()),
        StructField("rating", IntegerType()),
        StructField("result", StringType()),
        StructField("@id", StringType()),  # https://api.chess.com/pub/player/<name>
        StructField("uuid", StringType()),
    ]
)

ACCURACIES_SCHEMA = StructType(
    [
        # Only reviewed games have accuracies; JSON ints (e.g. 100) parse fine as doubles.
        StructField("white", DoubleType()),
        StructField("black", DoubleType()),
    ]
)

GAME_SCHEMA = StructType(
    [
        StructField("url", StringType()),
        StructField("pgn", StringType()),  # missing on some games
        StructField("time_control", StringType()),  # "600", "180+2", "1/86400"
        StructField("start_time", LongType()),  # epoch seconds, daily games only
        StructField("end_time", LongType()),  # epoch seconds
        StructField("rated", BooleanType()),
        StructField("accuracies", ACCURACIES_SCHEMA),
        StructField("tcn", StringType()),
        StructField("uuid", StringType()),
        StructField("initial_setup", StringType()),
        StructField("fen", StringType()),
        StructField("time_class", StringType()),
        StructField("rules", StringType()),
        StructField("white", PLAYER_SCHEMA),
        StructField("black", PLAYER_SCHEMA),
        StructField("eco", StringType()),  # opening URL; absent in older captures
        StructField("tournament", StringType()),  # URL, tournament games only
        StructField("match", StringType()),  # URL, team-match games only
    ]
)

ARCHIVE_SCHEMA = StructType([StructField("games", ArrayType(GAME_SCHEMA))])
"""A monthly archive body: `{"games": [...]}`."""

_GAME_COLUMNS: list[tuple[str, DataType]] = [
    ("player", StringType()),
    ("uuid", StringType()),
    ("archive_month", StringType()),
    ("url", StringType()),
    ("end_time", TimestampType()),
    ("start_time", TimestampType()),
    ("time_control", StringType()),
    ("time_class", StringType()),
    ("rules", StringType()),
    ("rated", BooleanType()),
    ("tcn", StringType()),
    ("initial_setup", StringType()),
    ("fen", StringType()),
    ("eco_url", StringType()),
    ("tournament_url", StringType()),
    ("match_url", StringType()),
    ("white_username", StringType()),
    ("white_uuid", StringType()),
    ("white_id", StringType()),
    ("white_rating", IntegerType()),
    ("white_result", StringType()),
    ("black_username", StringType()),
    ("black_uuid", StringType()),
    ("black_id", StringType()),
    ("black_rating", IntegerType()),
    ("black_result", StringType()),
    ("white_accuracy", DoubleType()),
    ("black_accuracy", DoubleType()),
    ("player_color", StringType()),
    ("pgn", StringType()),
    ("pgn_event", StringType()),
    ("pgn_site", StringType()),
    ("pgn_date", DateType()),
    ("pgn_round", StringType()),
    ("pgn_white", StringType()),
    ("pgn_black", StringType()),
    ("pgn_result", StringType()),
    ("pgn_eco", StringType()),
    ("pgn_eco_url", StringType()),
    ("pgn_termination", StringType()),
    ("pgn_time_control", StringType()),
    ("pgn_timezone", StringType()),
    ("pgn_variant", StringType()),
    ("pgn_current_position", StringType()),
    ("pgn_start_at", TimestampType()),
    ("pgn_end_at", TimestampType()),
    ("full_moves", IntegerType()),
    ("white_first_move", StringType()),
    ("black_first_move", StringType()),
    ("white_final_clock_seconds", DoubleType()),
    ("black_final_clock_seconds", DoubleType()),
    ("opening_slug", StringType()),
    ("_run_id", StringType()),
    ("_fetched_at", TimestampType()),
]

# Every column is nullable: the API omits fields freely, and the bronze table must accept
# whatever a real archive holds (the key columns are checked by the MERGE, not the schema).
GAMES_SCHEMA = StructType([StructField(name, dtype, True) for name, dtype in _GAME_COLUMNS])
"""`lake.bronze.chesscom_games`: one row per (player, uuid)."""
