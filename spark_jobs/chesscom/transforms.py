"""Pure transforms: raw chess.com monthly archives -> typed rows of `bronze.chesscom_games`.

Everything here is Spark SQL expressions (no Python UDFs). Each archive body is parsed once
with `from_json` and an explicit schema, the games are exploded, and each PGN is read with a
handful of regexes that each look at a small part of it:

* the header block (up to the first blank line) is scanned twice, for tag names and for
  values, and headers are then looked up by name;
* first moves come from the first `_HEAD_BYTES` bytes of the movetext;
* the last move number and both final clocks come from its last `_TAIL_BYTES` bytes.

chess.com movetext is `1. e4 {[%clk 0:02:59.9]} 1... e5 {[%clk 0:02:58]} 2. Nf3 ...` with
clocks and `1. e4 e5 2. Nf3 1-0` without; both are handled, and so are games set up from a
FEN with black to move (`5... Nf6`). The oracle test checks all of it against python-chess.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark_jobs.chesscom.schemas import ARCHIVE_SCHEMA, GAMES_SCHEMA, RAW_ARCHIVE_COLUMNS

__all__ = ["RAW_ARCHIVE_COLUMNS", "games_from_archives", "malformed_archives"]

# Window sizes in bytes. A ply with its clock comment takes ~30 bytes, so both windows hold
# several moves; they only fall short for PGNs with long free-text comments, which chess.com
# does not write. The windows are cut from the PGN's bytes: string `substring`/`instr` walk
# the string character by character, which (measured) cost more than all the regexes.
_HEAD_BYTES = 240
_TAIL_BYTES = 400

# One tag pair per line, `[Name "value"]`; values may contain `\"` and `\\` escapes. The
# name syntax is python-chess's, so both parsers agree on what a header is.
_TAG = r'(?m)^\[([A-Za-z0-9][A-Za-z0-9_+#=:-]*)\s+"([^"\\\r\n]*(?:\\.[^"\\\r\n]*)*)"\]'

# Movetext that is not a move: whitespace, comments, NAGs, `!?` suffixes, move numbers
# (`12.`, `12...`). Possessive, so a failed match never backtracks into it.
_SKIP = r"(?:\s|\{[^}]*\}|\$\d+|[!?]+|\d+\.+)*+"
# A SAN move starts with a piece or a file letter, or is castling (`O-O`, or `0-0`); results
# (`1-0`, `0-1`, `1/2-1/2`, `*`) never match.
_SAN = r"([A-Za-z][^\s{}$!?()]*|0-0(?:-0)?[+#]?)"
_FIRST_PLY = rf"^{_SKIP}{_SAN}"
_SECOND_PLY = rf"^{_SKIP}{_SAN}{_SKIP}{_SAN}"
# `5... Nf6` at the start: a set-up position with black to move.
_BLACK_FIRST = r"^\s*(?:\{[^}]*\}\s*)*\d+\.\.\."

# A ply followed by its comment, e.g. `12. Nf3 {[%clk 0:01:02]}` or `12... Nc6 {...}`; black
# plies carry no number when the writer omits it (`1. e4 {...} e5 {...}`).
_COMMENTED_PLY = r"(?:\d+\.(?:\.\.)?\s*)?[A-Za-z0][^\s{}]*\s*(?:\$\d+\s*)*\{[^}]*\}"
_PLY_DOTS = r"^\d+(\.+)"  # "." for white; "..." or "" (no number) for black
_CLOCK = r"\[%clk\s+(\d+(?::\d+)*(?:\.\d+)?)\]"
# A move number: preceded by a blank, followed by a move (so `[%eval 1.25]` never counts).
_MOVE_NUMBER = r"(?:^|\s)(\d+)\.(?=\.{0,2}\s*(?:[A-Za-z]|0-0))"

_PGN_DATE = r"^\d{4}\.\d{2}\.\d{2}$"
_PGN_DATETIME = r"^\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}:\d{2}$"


def _parse_archive() -> Column:
    return F.from_json(F.col("payload"), ARCHIVE_SCHEMA)


def malformed_archives(raw: DataFrame) -> DataFrame:
    """Raw rows whose payload is not a `{"games": [...]}` archive (account, period, url, run_id).

    Invalid JSON, a JSON error object (`{"code": 0, "message": ...}`), a null payload and a
    `games` value that is not a list of game objects all count; `{"games": []}` does not.
    """
    games = _parse_archive().getField("games")
    return raw.where(games.isNull()).select("account", "period", "url", "run_id")


def _nullable(col: Column) -> Column:
    # Raw lineage columns are NOT NULL in the raw table; CASE WHEN keeps the output
    # nullable so the result matches GAMES_SCHEMA (all nullable) exactly.
    return F.when(col.isNotNull(), col)


def _regex(pattern: str) -> Column:
    # regexp_extract_all takes its pattern as a Column: a bare string is a column name.
    return F.lit(pattern)


def _last(arr: Column) -> Column:
    # try_element_at: null (not an error, even under ANSI mode) for an empty array.
    return F.try_element_at(arr, F.lit(-1))


def _header(name: str) -> Column:
    """Value of PGN tag `name` (first occurrence); null when absent."""
    # array_position is 0 when absent; element_at(arr, null) is null, element_at(arr, 0)
    # would raise. Arrays instead of a map: map_from_arrays raises on duplicate tags.
    pos = F.nullif(F.array_position(F.col("_tag_names"), name), F.lit(0))
    return F.element_at(F.col("_tag_values"), pos.cast("int"))


def _unescape(value: Column) -> Column:
    # PGN escapes `\` and `"` with a backslash; undone the way python-chess does it.
    return F.replace(F.replace(value, F.lit("\\\\"), F.lit("\\")), F.lit('\\"'), F.lit('"'))


def _pgn_date(col: Column) -> Column:
    # "????.??.??" (unknown) and other junk become null instead of reaching the parser.
    return F.when(col.rlike(_PGN_DATE), F.to_date(col, "yyyy.MM.dd"))


def _pgn_timestamp(date: Column, time: Column) -> Column:
    # chess.com writes UTCDate/UTCTime and EndDate/EndTime in UTC: parse with an explicit
    # zone so the instant does not depend on the session time zone.
    text = F.concat_ws(" ", date, time)
    return F.when(
        text.rlike(_PGN_DATETIME),
        F.to_timestamp(F.concat(text, F.lit("Z")), "yyyy.MM.dd HH:mm:ssX"),
    )


def _clock_seconds(clock: Column) -> Column:
    """`[%clk]` value -> seconds: `s`, `m:ss`, `h:mm:ss(.s)` or `d:hh:mm:ss`."""
    parts = F.split(clock, ":")

    def part(i: int) -> Column:
        return F.coalesce(F.try_element_at(parts, F.lit(-i)).cast("double"), F.lit(0.0))

    seconds = F.try_element_at(parts, F.lit(-1)).cast("double")
    return seconds + part(2) * 60 + part(3) * 3600 + part(4) * 86400


def _blank_to_null(col: Column) -> Column:
    return F.nullif(col, F.lit(""))


def games_from_archives(raw: DataFrame) -> DataFrame:
    """Raw `games_month` rows -> one row per game, exactly `GAMES_SCHEMA`.

    Rows whose payload is not an archive (see :func:`malformed_archives`) yield no games.
    """
    games = raw.select(
        F.lower("account").alias("_player"),
        F.col("period").alias("_archive_month"),
        F.col("run_id").alias("_lineage_run_id"),
        F.col("fetched_at").alias("_lineage_fetched_at"),
        _parse_archive().getField("games").alias("_games"),
    )
    # A game listed twice in one archive keeps its last occurrence, so one payload never
    # yields two rows for a key. Done inside the array: no shuffle on the bulk path.
    games = games.select(
        "_player",
        "_archive_month",
        "_lineage_run_id",
        "_lineage_fetched_at",
        # explode(null) yields no rows: malformed payloads drop out here, whole.
        F.explode(
            F.filter(
                "_games",
                lambda g, i: (
                    ~F.exists(
                        F.slice("_games", i + 2, F.size("_games")),
                        lambda later: later["uuid"].eqNullSafe(g["uuid"]),
                    )
                ),
            )
        ).alias("g"),
    ).where(F.col("g").isNotNull())

    # Split the PGN at the first blank line: headers before, movetext after. The movetext
    # itself is never materialised, only a head and a tail window of it, cut from the bytes
    # (`substring_index` and `octet_length` work on bytes too). Derived columns get their
    # own projections; Spark never duplicates a non-trivial expression when it collapses
    # projections, so each split and regex runs once per game.
    pgn = F.col("g.pgn")
    games = games.select(
        "*",
        F.substring_index(pgn, "\n\n", 1).alias("_headers"),
        pgn.cast("binary").alias("_pgn_bytes"),
        F.octet_length(pgn).alias("_pgn_len"),
    )
    pgn_len = F.col("_pgn_len")
    header_len = F.octet_length("_headers")
    # 1-based byte offset of the movetext; past the end when there is none. Without a blank
    # line the PGN is all headers, or (no leading tag) all movetext.
    movetext_at = (
        F.when(header_len < pgn_len, header_len + 3)
        .when(~pgn.startswith("["), F.lit(1))
        .otherwise(pgn_len + 1)
    )
    pgn_bytes = F.col("_pgn_bytes")
    games = games.select(
        "*",
        pgn_bytes.substr(movetext_at, F.lit(_HEAD_BYTES)).cast("string").alias("_head"),
        pgn_bytes.substr(F.greatest(movetext_at, pgn_len - (_TAIL_BYTES - 1)), F.lit(_TAIL_BYTES))
        .cast("string")
        .alias("_tail"),
    )
    games = games.select(
        "*",
        F.regexp_extract_all("_headers", _regex(_TAG), 1).alias("_tag_names"),
        # Unescaped with one lambda over the array rather than per header. Lambdas also
        # keep this projection (and the final one, see opening_slug) out of whole-stage
        # codegen: fused, all these expressions made one generated method of >8000 bytes
        # of bytecode, which HotSpot never JIT-compiles (~25% slower overall). Guarded by
        # test_generated_code_stays_jit_compilable.
        F.transform(F.regexp_extract_all("_headers", _regex(_TAG), 2), _unescape).alias(
            "_tag_values"
        ),
        _blank_to_null(F.regexp_extract("_head", _FIRST_PLY, 1)).alias("_ply1"),
        _blank_to_null(F.regexp_extract("_head", _SECOND_PLY, 2)).alias("_ply2"),
        F.col("_head").rlike(_BLACK_FIRST).alias("_black_first"),
        F.regexp_extract_all("_tail", _regex(_COMMENTED_PLY), 0).alias("_commented"),
        _last(F.regexp_extract_all("_tail", _regex(_MOVE_NUMBER), 1)).alias("_last_number"),
    )

    headers = {
        name: _header(tag)
        for name, tag in [
            ("pgn_event", "Event"),
            ("pgn_site", "Site"),
            ("pgn_round", "Round"),
            ("pgn_white", "White"),
            ("pgn_black", "Black"),
            ("pgn_result", "Result"),
            ("pgn_eco", "ECO"),
            ("pgn_eco_url", "ECOUrl"),
            ("pgn_termination", "Termination"),
            ("pgn_time_control", "TimeControl"),
            ("pgn_timezone", "Timezone"),
            ("pgn_variant", "Variant"),
            ("pgn_current_position", "CurrentPosition"),
            ("_pgn_fen", "FEN"),
            ("_pgn_date", "Date"),
            ("_pgn_utc_date", "UTCDate"),
            ("_pgn_utc_time", "UTCTime"),
            ("_pgn_end_date", "EndDate"),
            ("_pgn_end_time", "EndTime"),
        ]
    }
    # The last two commented plies are the last move of each side (every ply carries a
    # clock, or none does); which is which follows from their move-number dots.
    last_ply = _last(F.col("_commented"))
    prev_ply = F.try_element_at(F.col("_commented"), F.lit(-2))

    def final_clock(white: bool) -> Column:
        def is_side(ply: Column) -> Column:
            dots = F.regexp_extract(ply, _PLY_DOTS, 1)
            return (dots == ".") if white else (dots != ".")

        ply = F.when(is_side(last_ply), last_ply).when(is_side(prev_ply), prev_ply)
        return _clock_seconds(_blank_to_null(F.regexp_extract(ply, _CLOCK, 1)))

    # Black moves first only in set-up positions: the FEN's side to move says so (as for
    # python-chess); without a FEN, a movetext opening with `N...` does.
    black_starts = F.coalesce(
        F.regexp_extract(headers["_pgn_fen"], r"^\S+\s+([wb])\b", 1) == "b",
        F.col("_black_first"),
    )
    g = F.col("g")
    player = F.col("_player")
    eco_url = _blank_to_null(g["eco"])
    opening_url = F.coalesce(eco_url, _blank_to_null(headers["pgn_eco_url"]))

    columns: dict[str, Column] = {
        "player": _nullable(player),
        "uuid": g["uuid"],
        "archive_month": _nullable(F.col("_archive_month")),
        "url": g["url"],
        "end_time": F.timestamp_seconds(g["end_time"]),
        "start_time": F.timestamp_seconds(g["start_time"]),
        "time_control": g["time_control"],
        "time_class": g["time_class"],
        "rules": g["rules"],
        "rated": g["rated"],
        "tcn": g["tcn"],
        "initial_setup": g["initial_setup"],
        "fen": g["fen"],
        "eco_url": g["eco"],
        "tournament_url": g["tournament"],
        "match_url": g["match"],
        **{
            f"{side}_{field}": g[side][key]
            for side in ("white", "black")
            for field, key in [
                ("username", "username"),
                ("uuid", "uuid"),
                ("id", "@id"),
                ("rating", "rating"),
                ("result", "result"),
            ]
        },
        "white_accuracy": g["accuracies"]["white"],
        "black_accuracy": g["accuracies"]["black"],
        "player_color": F.when(F.lower(g["white"]["username"]) == player, "white").when(
            F.lower(g["black"]["username"]) == player, "black"
        ),
        "pgn": g["pgn"],
        **{name: col for name, col in headers.items() if not name.startswith("_")},
        "pgn_date": _pgn_date(headers["_pgn_date"]),
        "pgn_start_at": _pgn_timestamp(headers["_pgn_utc_date"], headers["_pgn_utc_time"]),
        "pgn_end_at": _pgn_timestamp(headers["_pgn_end_date"], headers["_pgn_end_time"]),
        "full_moves": F.col("_last_number").cast("int"),
        "white_first_move": F.when(black_starts, F.col("_ply2")).otherwise(F.col("_ply1")),
        "black_first_move": F.when(black_starts, F.col("_ply1")).otherwise(F.col("_ply2")),
        "white_final_clock_seconds": final_clock(white=True),
        "black_final_clock_seconds": final_clock(white=False),
        # Last non-empty path segment (a trailing slash is ignored).
        "opening_slug": _last(F.filter(F.split(opening_url, "/"), lambda seg: seg != "")),
        "_run_id": _nullable(F.col("_lineage_run_id")),
        "_fetched_at": _nullable(F.col("_lineage_fetched_at")),
    }
    missing = [f.name for f in GAMES_SCHEMA.fields if f.name not in columns]
    extra = sorted(set(columns) - set(GAMES_SCHEMA.fieldNames()))
    if missing or extra:  # a programming error, caught by any test run
        raise AssertionError(f"GAMES_SCHEMA mismatch: missing {missing}, extra {extra}")
    return games.select(
        *[columns[f.name].cast(f.dataType).alias(f.name) for f in GAMES_SCHEMA.fields]
    )
