"""dbt chess marts end to end: real recorded archives -> sandbox -> ingestion -> dbt (WAP).

Every mart is compared with values computed here, independently, from the raw JSON with
python-chess (result codes and the outcome mapping, opening rule, first moves, clocks,
number of moves, colour, ratings, local game date), field by field for every game, and
every aggregate is recomputed in Python. Then, on the same lakehouse: a bad row proves the
audit gate (the run fails, names the failing test, the published marts keep their exact
snapshots); marts made to look like the previous marts_version are upgraded by a normal
run; games that vanish from a re-fetched month leave every mart on the next normal run;
a backfilled old month reaches the incremental marts.
"""

from __future__ import annotations

import io
import json
import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chess
import chess.pgn
import pytest

from spark_jobs.chesscom.client import ChessComClient
from spark_jobs.chesscom.ingest import run_ingest
from spark_jobs.sandbox.chesscom import ChessComApp, ChessComStore
from spark_jobs.sandbox.server import SandboxServer
from spark_jobs.transform import TransformReport, main_snapshots, run_transform

pytestmark = pytest.mark.spark

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "chesscom"
UA = "lakehouse-tests/0.1 (tests@example.com)"
# A zone far from UTC, so game_date differs from the UTC date for evening games.
TIMEZONE = "America/New_York"
DBT_VARS = {"chess_timezone": TIMEZONE}
RECORDED = {
    ("magnuscarlsen", "2024-01"): "chess_hair__games_magnuscarlsen_2024_01.json",
    ("magnuscarlsen", "2024-02"): "chess_hair__games_magnuscarlsen_2024_02.json",
    ("ham_sammy", "2024-06"): "chess_hair__games_ham_sammy_2024_06.json",
    ("aegboye7", "2025-03"): "chessWrapped__games_aegboye7_2025_03.json",
    ("fabianocaruana", "2020-05"): "sarartur__games_fabianocaruana_2020_05.json",
    ("epictetusz1", "2022-08"): "chess-opening-book__games_epictetusz1_2022_08.json",
}
PLAYERS = sorted({p for p, _ in RECORDED})
CHESS_VERSION = "2"  # marts_version of the chess marts (dbt_project.yml)
MARTS = [
    "agg_chess_rating_daily",
    "agg_chess_results_by_clock",
    "agg_chess_results_by_termination",
    "agg_rapid_chess_daily",
    "agg_rapid_chess_monthly_openings",
    "fct_chess_games",
    "ranked_best_openings",
    "ranked_worst_openings",
]

# ------------------------------------------------------------------ the oracle (Python)
# The chess.com result codes, written out here independently of the dbt macro.
OUTCOME = {
    "win": "win",
    **dict.fromkeys(
        [
            "checkmated",
            "resigned",
            "timeout",
            "abandoned",
            "lose",
            "kingofthehill",
            "threecheck",
            "bughousepartnerlose",
        ],
        "loss",
    ),
    **dict.fromkeys(
        ["agreed", "repetition", "stalemate", "insufficient", "50move", "timevsinsufficient"],
        "draw",
    ),
}
FAMILY_WORDS = {"Opening", "Defense", "Defence", "Game", "Gambit", "Attack", "System"}


def opening_name(url: str | None) -> str | None:
    """The documented opening rule, with string operations only (no regex)."""
    if not url:
        return None
    slug = url.rstrip("/").rsplit("/", 1)[-1]
    cut = len(slug)
    if "..." in slug:
        cut = slug.index("...")
    for i in range(len(slug) - 1):
        if slug[i] == "-" and slug[i + 1].isdigit():
            cut = min(cut, i)
            break
    words = slug[:cut].split("-")
    if not slug[:cut]:
        return None
    for k, word in enumerate(words):
        if word in FAMILY_WORDS:
            return " ".join(words[: k + 1])
    return " ".join(words)


def ratio(wins: int, games: int) -> Decimal:
    exact = Fraction(wins, games)
    return (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def expected_game(game: dict[str, Any], player: str) -> dict[str, Any] | None:
    """One fct_chess_games row from the raw game JSON (None: the player is neither side)."""
    white, black = game["white"], game["black"]
    if white["username"].lower() == player:
        me, opp, my_side = white, black, chess.WHITE
    elif black["username"].lower() == player:
        me, opp, my_side = black, white, chess.BLACK
    else:
        return None
    first: dict[bool, str | None] = {chess.WHITE: None, chess.BLACK: None}
    clock: dict[bool, float | None] = {chess.WHITE: None, chess.BLACK: None}
    moves = None
    headers: dict[str, str] = {}
    if game.get("pgn") is not None:
        parsed = chess.pgn.read_game(io.StringIO(game["pgn"]))
        headers = dict(parsed.headers)
        board = parsed.board()
        for node in parsed.mainline():
            moves = board.fullmove_number
            if first[board.turn] is None:
                first[board.turn] = board.san(node.move)
            if node.clock() is not None:
                clock[board.turn] = node.clock()
            board.push(node.move)
    end_utc = datetime.fromtimestamp(game["end_time"], UTC)
    local = end_utc.astimezone(ZoneInfo(TIMEZONE)).date()
    return {
        "player": player,
        "uuid": game["uuid"],
        "year": local.year,
        "month": local.month,
        "game_date": local,
        "end_time": end_utc.replace(tzinfo=None),
        "time_class": game["time_class"],
        "time_control": game["time_control"],
        "my_color": "white" if my_side == chess.WHITE else "black",
        "my_rating": me["rating"],
        "opponent_username": opp["username"],
        "opponent_rating": opp["rating"],
        "my_first_move": first[my_side],
        "opponent_first_move": first[not my_side],
        "my_remaining_time_seconds": clock[my_side],
        "opponent_remaining_time_seconds": clock[not my_side],
        "my_result": me["result"],
        "opponent_result": opp["result"],
        "my_outcome": OUTCOME[me["result"]],
        "opponent_outcome": OUTCOME[opp["result"]],
        "number_of_rounds": moves,
        "termination": headers.get("Termination"),
        "opening": opening_name(game.get("eco") or headers.get("ECOUrl")),
    }


def clock_bucket(seconds: float | None) -> str:
    """The documented buckets of the player's clock at the end of the game."""
    if seconds is None:
        return "no clock"
    for bound, label in ((10, "0-10"), (30, "10-30"), (60, "30-60"), (180, "60-180")):
        if seconds < bound:
            return label
    return "180-600" if seconds < 600 else "600+"


def termination_reason(game: dict[str, Any]) -> str:
    """The loser's result code, or white's for a draw."""
    mine = game["my_color"] == "white"
    white = game["my_result"] if mine else game["opponent_result"]
    black = game["opponent_result"] if mine else game["my_result"]
    return black if white == "win" else white


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, float) and actual is not None:
        return math.isclose(actual, expected, abs_tol=1e-6)
    return actual == expected


# ------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def raw_games() -> dict[str, list[dict[str, Any]]]:
    games: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (player, _month), name in RECORDED.items():
        games[player] += json.loads((FIXTURES / name).read_text(encoding="utf-8"))["games"]
    return games


@pytest.fixture(scope="module")
def expected_fct(raw_games) -> dict[tuple[str, str], dict[str, Any]]:
    rows = {}
    for player, games in raw_games.items():
        for game in games:
            row = expected_game(game, player)
            if row is not None:
                rows[(player, row["uuid"])] = row
    return rows


@pytest.fixture(scope="module")
def built(spark, settings) -> Iterator[list[str]]:
    """Ingest the recorded archives through the sandbox, then run `run_transform`."""
    store = ChessComStore()
    for (player, month), name in RECORDED.items():
        store.load_recorded(FIXTURES / name, player, month)
    with SandboxServer() as server:
        server.mount("chesscom", ChessComApp(store))
        client = ChessComClient(server.base_url("chesscom"), UA)
        try:
            report = run_ingest(spark, client, PLAYERS, progress=lambda m: None)
        finally:
            client.close()
    assert report.ok, report.errors
    lines: list[str] = []
    code = run_transform(settings, echo=lines.append, dbt_vars=DBT_VARS)
    assert code == 0, "\n".join(lines)
    yield lines


def _rows(spark, table: str, ref: str | None = None) -> list[dict[str, Any]]:
    version = f" version as of '{ref}'" if ref else ""
    players = ", ".join(f"'{p}'" for p in PLAYERS)
    df = spark.sql(f"select * from lake.marts.{table}{version} where player in ({players})")
    return [r.asDict(recursive=True) for r in df.collect()]


def _keyed(rows: list[dict[str, Any]], *key: str) -> dict[tuple, dict[str, Any]]:
    """Rows by their key; a duplicate key fails."""
    out = {tuple(r[k] for k in key): r for r in rows}
    assert len(out) == len(rows), f"duplicate keys {key}"
    return out


def _rapid(expected_fct) -> list[dict[str, Any]]:
    return [g for g in expected_fct.values() if g["time_class"] == "rapid"]


# ------------------------------------------ every mart against the oracle (reused below)
def check_fct(spark, expected_fct) -> None:
    actual = _keyed(_rows(spark, "fct_chess_games"), "player", "uuid")
    assert set(actual) == set(expected_fct)
    mismatches = []
    for key, exp in expected_fct.items():
        got = actual[key]
        assert list(got) == list(exp), set(got) ^ set(exp)  # the model's columns, in order
        for column, value in exp.items():
            if not _same(got[column], value):
                mismatches.append(f"{key} {column}: dbt={got[column]!r} python={value!r}")
    assert not mismatches, "\n".join(mismatches[:30])


def check_daily(spark, expected_fct) -> None:
    days: dict[tuple[str, date], list[dict[str, Any]]] = defaultdict(list)
    for g in _rapid(expected_fct):
        days[(g["player"], g["game_date"])].append(g)
    actual = _keyed(_rows(spark, "agg_rapid_chess_daily"), "player", "game_date")
    assert set(actual) == set(days)
    for key, games in days.items():
        got = actual[key]
        games.sort(key=lambda g: (g["end_time"], g["uuid"]))
        assert got["year"] == key[1].year and got["month"] == key[1].month
        assert math.isclose(got["average_elo"], sum(g["my_rating"] for g in games) / len(games))
        assert got["total_games"] == len(games)
        for outcome, column in (("win", "total_wins"), ("loss", "total_losses")):
            assert got[column] == sum(g["my_outcome"] == outcome for g in games)
        assert got["total_draws"] == sum(g["my_outcome"] == "draw" for g in games)
        details = [
            {
                "game_uuid": g["uuid"],
                "game_date": g["game_date"],
                "my_rating": float(g["my_rating"]),
                "opponent_rating": float(g["opponent_rating"]),
                "my_result": g["my_result"],
                "opponent_result": g["opponent_result"],
                "my_outcome": g["my_outcome"],
                "opponent_outcome": g["opponent_outcome"],
                "number_of_rounds": (
                    None if g["number_of_rounds"] is None else float(g["number_of_rounds"])
                ),
                "my_remaining_time_seconds": g["my_remaining_time_seconds"],
                "opening": g["opening"],
            }
            for g in games
        ]
        assert len(got["game_details"]) == len(details)
        for a, e in zip(got["game_details"], details, strict=True):
            assert list(a) == list(e), (key, list(a))
            assert all(_same(a[k], v) for k, v in e.items()), (key, a, e)


def _grouping_sets(rapid: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    sets = [
        ("year", "month", "color", "opening"),
        ("year", "month", "color"),
        ("year", "color", "opening"),
        ("year", "month"),
        ("year", "color"),
        ("year",),
    ]
    out: dict[tuple, dict[str, Any]] = {}
    for dims in sets:
        groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
        for g in rapid:
            key = (
                g["player"],
                g["year"],
                g["month"] if "month" in dims else 0,
                g["my_color"] if "color" in dims else "overall",
                (g["opening"] or "unknown") if "opening" in dims else "overall",
            )
            groups[key].append(g)
        for key, games in groups.items():
            wins = sum(g["my_outcome"] == "win" for g in games)
            overall = key[3] == "overall" and key[4] == "overall"
            out[key] = {
                "period_grain": "month" if "month" in dims else "year",
                "average_elo": (sum(g["my_rating"] for g in games) / len(games))
                if overall
                else None,
                "total_games": len(games),
                "total_wins": wins,
                "total_losses": sum(g["my_outcome"] == "loss" for g in games),
                "total_draws": sum(g["my_outcome"] == "draw" for g in games),
                "win_ratio": ratio(wins, len(games)),
            }
    return out


def check_monthly_openings(spark, expected_fct) -> None:
    expected = _grouping_sets(_rapid(expected_fct))
    actual = _keyed(
        _rows(spark, "agg_rapid_chess_monthly_openings"),
        "player",
        "year",
        "month",
        "pieces_color",
        "opening",
    )
    assert set(actual) == set(expected)
    for key, exp in expected.items():
        got = actual[key]
        for column, value in exp.items():
            assert _same(got[column], value), (key, column, got[column], value)
    # Year-level rows say so explicitly instead of carrying a NULL month.
    assert all(r["month"] is not None for r in actual.values())


def check_ranked(spark, expected_fct, direction: str) -> None:
    rapid = _rapid(expected_fct)
    expected = []
    for player in PLAYERS:
        mine = [g for g in rapid if g["player"] == player]
        for color in ("white", "black"):
            per: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for g in mine:
                if g["my_color"] == color and g["opening"] is not None:
                    per[g["opening"]].append(g)
            eligible = [
                (ratio(sum(g["my_outcome"] == "win" for g in games), len(games)), len(games), o)
                for o, games in per.items()
                if len(games) >= 0.01 * len(mine)
            ]
            sign = -1 if direction == "best" else 1
            eligible.sort(key=lambda t: (sign * t[0], -t[1], t[2]))
            for rank, (win_ratio, games, opening) in enumerate(eligible[:5], start=1):
                expected.append((player, color, opening, win_ratio, rank, games))
    actual = [
        (
            r["player"],
            r["pieces_color"],
            r["opening"],
            r["win_ratio"],
            r["rank"],
            r["total_games"],
        )
        for r in _rows(spark, f"ranked_{direction}_openings")
    ]
    assert sorted(actual) == sorted(expected)


def check_rating(spark, expected_fct) -> None:
    last: dict[tuple[str, str, date], dict[str, Any]] = {}
    games: dict[tuple[str, str, date], int] = defaultdict(int)
    for g in sorted(expected_fct.values(), key=lambda g: (g["end_time"], g["uuid"])):
        key = (g["player"], g["time_class"], g["game_date"])
        last[key] = g
        games[key] += 1
    actual = _keyed(_rows(spark, "agg_chess_rating_daily"), "player", "time_class", "game_date")
    assert {k: r["rating"] for k, r in actual.items()} == {
        k: g["my_rating"] for k, g in last.items()
    }
    assert {k: r["games_played"] for k, r in actual.items()} == games


def check_by_clock(spark, expected_fct) -> None:
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for g in expected_fct.values():
        bucket = clock_bucket(g["my_remaining_time_seconds"])
        groups[
            (g["player"], g["year"], g["month"], g["time_class"], bucket, g["my_outcome"])
        ].append(g)
    key = ("player", "year", "month", "time_class", "clock_bucket", "my_outcome")
    actual = _keyed(_rows(spark, "agg_chess_results_by_clock"), *key)
    assert set(actual) == set(groups)
    for k, games in groups.items():
        got = actual[k]
        clocks = [
            g["my_remaining_time_seconds"]
            for g in games
            if g["my_remaining_time_seconds"] is not None
        ]
        assert got["total_games"] == len(games), k
        assert _same(
            got["average_remaining_time_seconds"], sum(clocks) / len(clocks) if clocks else None
        ), k
        assert got["last_game_date"] == max(g["game_date"] for g in games), k


def check_by_termination(spark, expected_fct) -> None:
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for g in expected_fct.values():
        reason = termination_reason(g)
        groups[
            (g["player"], g["year"], g["month"], g["time_class"], reason, g["my_outcome"])
        ].append(g)
    key = ("player", "year", "month", "time_class", "termination_reason", "my_outcome")
    actual = _keyed(_rows(spark, "agg_chess_results_by_termination"), *key)
    assert set(actual) == set(groups)
    for k, games in groups.items():
        assert actual[k]["total_games"] == len(games), k
        assert actual[k]["last_game_date"] == max(g["game_date"] for g in games), k


def check_every_mart(spark, expected_fct) -> None:
    check_fct(spark, expected_fct)
    check_daily(spark, expected_fct)
    check_monthly_openings(spark, expected_fct)
    for direction in ("best", "worst"):
        check_ranked(spark, expected_fct, direction)
    check_rating(spark, expected_fct)
    check_by_clock(spark, expected_fct)
    check_by_termination(spark, expected_fct)


def _properties(spark, table: str) -> dict[str, str]:
    return {r.key: r.value for r in spark.sql(f"show tblproperties {table}").collect()}


# ---------------------------------------------------------------------------- tests
def test_marts_are_published_iceberg_tables(spark, built) -> None:
    tables = {r.tableName for r in spark.sql("show tables in lake.marts").collect()}
    assert set(MARTS) <= tables
    for name in MARTS:
        refs = {r.name for r in spark.sql(f"select name from lake.marts.{name}.refs").collect()}
        assert "main" in refs
        fmt = spark.sql(f"describe table extended lake.marts.{name}").collect()
        assert any(r.col_name == "Provider" and r.data_type == "iceberg" for r in fmt)
        # The version of its columns, stored at the first publish (README "Upgrading").
        props = _properties(spark, f"lake.marts.{name}")
        assert props.get("lakehouse.marts-version") == CHESS_VERSION, name
    assert any("publish" in line for line in built)


def test_fct_chess_games_matches_python_chess_for_every_game(spark, built, expected_fct) -> None:
    actual = {(r["player"], r["uuid"]) for r in _rows(spark, "fct_chess_games")}
    # epictetusz1's archive has no game of its owner: nothing to orient, nothing published.
    assert not [k for k in actual if k[0] == "epictetusz1"]
    assert len(actual) == 560
    check_fct(spark, expected_fct)
    # The fixtures exercise what matters: draws, several time classes, a non-UTC date,
    # result codes beyond win (my_result is the code, my_outcome its meaning).
    assert {e["my_outcome"] for e in expected_fct.values()} == {"win", "loss", "draw"}
    codes = {e["my_result"] for e in expected_fct.values()}
    assert {"win", "resigned", "checkmated", "timeout", "agreed"} <= codes
    assert any(e["game_date"] != e["end_time"].date() for e in expected_fct.values())


def test_agg_rapid_chess_daily_recomputed(spark, built, expected_fct) -> None:
    check_daily(spark, expected_fct)


def test_monthly_openings_grouping_sets_recomputed(spark, built, expected_fct) -> None:
    check_monthly_openings(spark, expected_fct)


@pytest.mark.parametrize("direction", ["best", "worst"])
def test_ranked_openings_recomputed(spark, built, expected_fct, direction: str) -> None:
    check_ranked(spark, expected_fct, direction)


def test_rating_history_is_the_last_rating_of_each_day(spark, built, expected_fct) -> None:
    check_rating(spark, expected_fct)


def test_results_by_clock_and_termination_recomputed(spark, built, expected_fct) -> None:
    check_by_clock(spark, expected_fct)
    check_by_termination(spark, expected_fct)


def _executed(settings) -> list[tuple[str, str]]:
    """(resource type, name) of every node the last dbt build ran (its run_results.json)."""
    results = json.loads((settings.home / "dbt" / "target-local" / "run_results.json").read_text())
    return [tuple(r["unique_id"].split(".")[0:3:2]) for r in results["results"]]


def test_a_rerun_pays_only_for_what_changed(spark, settings, built, expected_fct) -> None:
    """Nothing moved: no dbt build, no commit. Chess bronze moved: only the marts downstream
    of chess.com are built and tested, without the unit tests (the project is unchanged)."""
    every_mart = [r.tableName for r in spark.sql("show tables in lake.marts").collect()]
    health = sorted(set(every_mart) - set(MARTS))
    assert health, "the health marts are declared too (built on empty Oura bronze)"
    before = main_snapshots(spark, every_mart)
    build_log = settings.home / "dbt" / "target-local" / "run_results.json"
    stamp = build_log.stat().st_mtime_ns

    lines: list[str] = []
    report = TransformReport(target="local")
    assert run_transform(settings, echo=lines.append, dbt_vars=DBT_VARS, report=report) == 0
    assert report.nothing_to_do and any("nothing to do" in line for line in lines), lines
    assert main_snapshots(spark, every_mart) == before
    assert build_log.stat().st_mtime_ns == stamp, "a dbt build ran"

    # Chess bronze moves (one game appended, then deleted: two commits, the same rows).
    from pyspark.sql import functions as F

    one = spark.table("lake.bronze.chesscom_games").where("player = 'ham_sammy'").limit(1)
    one.withColumn("uuid", F.lit("rerun-probe")).writeTo("lake.bronze.chesscom_games").append()
    spark.sql("delete from lake.bronze.chesscom_games where uuid = 'rerun-probe'")
    lines.clear()
    assert run_transform(settings, echo=lines.append, dbt_vars=DBT_VARS) == 0, "\n".join(lines)
    assert any("source:chesscom+" in line for line in lines), lines
    ran = _executed(settings)
    assert ("model", "fct_chess_games") in ran
    assert not [name for kind, name in ran if kind == "model" and name in health]
    assert not [name for kind, name in ran if kind == "unit_test"]
    assert any(kind == "test" for kind, _ in ran)
    after = main_snapshots(spark, every_mart)
    assert {m: after[m] for m in health} == {m: before[m] for m in health}
    check_fct(spark, expected_fct)

    # Nothing moved since that publish.
    report = TransformReport(target="local")
    assert run_transform(settings, echo=lines.append, dbt_vars=DBT_VARS, report=report) == 0
    assert report.nothing_to_do, lines


def test_failing_audit_leaves_published_marts_untouched(spark, settings, built) -> None:
    """Write-audit-publish: a bad row fails a test, nothing reaches the readers."""
    before = main_snapshots(spark, MARTS)
    published_rows = spark.table("lake.marts.fct_chess_games").count()
    # A game with a result code the outcome mapping does not know, for a new player.
    from pyspark.sql import functions as F

    bad = (
        spark.table("lake.bronze.chesscom_games")
        .where("player = 'magnuscarlsen'")
        .limit(1)
        .withColumn("player", F.lit("wap_probe"))
        .withColumn("white_result", F.lit("brandnewcode"))
        .withColumn("black_result", F.lit("brandnewcode"))
    )
    bad.writeTo("lake.bronze.chesscom_games").append()
    try:
        lines: list[str] = []
        report = TransformReport(target="local")
        code = run_transform(settings, echo=lines.append, dbt_vars=DBT_VARS, report=report)
        output = "\n".join(lines)
        assert code == 1, output
        assert "nothing published" in output
        assert "accepted_values_fct_chess_games_my_outcome__win__loss__draw" in output
        assert "chess_result_code_fct_chess_games_my_result" in output
        assert any("FAIL" in f for f in report.failures)
        # Published marts: the very same snapshots, the same rows.
        assert main_snapshots(spark, MARTS) == before
        assert spark.table("lake.marts.fct_chess_games").count() == published_rows
        assert (
            spark.sql(
                "select count(*) from lake.marts.fct_chess_games where player = 'wap_probe'"
            ).first()[0]
            == 0
        )
        # The audited write did happen, on the audit branch only.
        audit = spark.sql(
            "select my_result, my_outcome from lake.marts.fct_chess_games version as of 'audit' "
            "where player = 'wap_probe'"
        ).collect()
        assert [tuple(r) for r in audit] == [("brandnewcode", "unknown")]
    finally:
        spark.sql("delete from lake.bronze.chesscom_games where player = 'wap_probe'")


def _make_marts_look_old(spark) -> None:
    """The marts as marts_version 1 left them: my_result held win / loss / draw, the two
    aggregates grouped by a `my_result` column, game_details had no outcomes, and no
    version was stored."""
    marts = "lake.marts"
    spark.sql(
        f"update {marts}.fct_chess_games "
        "set my_result = my_outcome, opponent_result = opponent_outcome"
    )
    for column in ("my_outcome", "opponent_outcome"):
        spark.sql(f"alter table {marts}.fct_chess_games drop column {column}")
    for name in ("agg_chess_results_by_clock", "agg_chess_results_by_termination"):
        spark.sql(f"alter table {marts}.{name} rename column my_outcome to my_result")
    old_fields = [
        ("game_uuid", "string"),
        ("game_date", "date"),
        ("my_rating", "double"),
        ("opponent_rating", "double"),
        ("my_result", "string"),
        ("opponent_result", "string"),
        ("number_of_rounds", "double"),
        ("my_remaining_time_seconds", "double"),
        ("opening", "string"),
    ]
    old_type = "array<struct<" + ",".join(f"{n}:{t}" for n, t in old_fields) + ">>"
    outcome = {"my_result": "d.my_outcome", "opponent_result": "d.opponent_outcome"}
    old_struct = ", ".join(f"'{n}', {outcome.get(n, 'd.' + n)}" for n, _ in old_fields)
    daily = f"{marts}.agg_rapid_chess_daily"
    spark.sql(f"alter table {daily} add column old_details {old_type}")
    spark.sql(
        f"update {daily} set old_details = transform(game_details, d -> named_struct({old_struct}))"
    )
    spark.sql(f"alter table {daily} drop column game_details")
    spark.sql(f"alter table {daily} rename column old_details to game_details")
    for name in MARTS:
        spark.sql(f"alter table {marts}.{name} unset tblproperties ('lakehouse.marts-version')")


def test_marts_of_an_older_version_are_upgraded_by_a_normal_run(
    spark, settings, built, expected_fct
) -> None:
    """README "Upgrading": marts published by the previous code (old columns, old meaning,
    no stored version) take the new columns and values on a plain `lakehouse transform`."""
    _make_marts_look_old(spark)
    assert "my_outcome" not in spark.table("lake.marts.fct_chess_games").columns
    assert "my_result" in spark.table("lake.marts.agg_chess_results_by_clock").columns

    lines: list[str] = []
    code = run_transform(settings, echo=lines.append, dbt_vars=DBT_VARS)
    output = "\n".join(lines)
    assert code == 0, output
    (upgraded,) = [line for line in lines if "older marts_version" in line]
    assert set(upgraded.split(": ", 1)[1].split(", ")) == set(MARTS)
    for name in MARTS:
        props = _properties(spark, f"lake.marts.{name}")
        assert props.get("lakehouse.marts-version") == CHESS_VERSION, name
    # The health marts were not touched by the chess upgrade: still version 1.
    assert "daily_health" not in upgraded
    columns = spark.table("lake.marts.agg_chess_results_by_clock").columns
    assert columns == [
        "player",
        "year",
        "month",
        "time_class",
        "clock_bucket",
        "my_outcome",
        "total_games",
        "average_remaining_time_seconds",
        "last_game_date",
    ]
    assert "my_result" not in spark.table("lake.marts.agg_chess_results_by_termination").columns
    # Every row reloaded (not only the recent window): codes everywhere, no duplicates,
    # every mart equal to the oracle, columns in the model's order.
    check_every_mart(spark, expected_fct)


def _mirror_refetch(spark, player: str, month: str, vanished: set[str]) -> None:
    """The month is fetched again from a chess.com (sandbox) that no longer has `vanished`;
    the ingestion mirrors it into bronze (deletes those games, re-stamps the others)."""
    store = ChessComStore()
    store.load_recorded(FIXTURES / RECORDED[(player, month)], player, month)
    kept = [g for g in store.games(player, month) if g["uuid"] not in vanished]
    store.replace_month(player, month, kept)
    with SandboxServer() as server:
        server.mount("chesscom", ChessComApp(store))
        client = ChessComClient(server.base_url("chesscom"), UA)
        try:
            report = run_ingest(
                spark, client, [player], month_from=month, month_to=month, refresh=True,
                progress=lambda m: None,
            )  # fmt: skip
        finally:
            client.close()
    assert report.ok, report.errors


def test_vanished_games_leave_every_mart_on_a_normal_run(
    spark, settings, built, expected_fct
) -> None:
    """Games that vanish from a re-fetched month leave fct_chess_games on the next normal
    run, and every aggregate equals the aggregate of the remaining games: the days and the
    month whose every rapid game vanished leave the rapid aggregates. aegboye7 has the
    newest games of all, so the games of its first week lie far before the lookback window
    (3 days) and even before the month's oldest remaining game: the re-read starts at the
    start of the re-fetched month (without that, the games of March 1-3 would stay)."""
    player, month = "aegboye7", "2025-03"
    mine = [g for g in expected_fct.values() if g["player"] == player]
    assert max(g["game_date"] for g in expected_fct.values()) == max(g["game_date"] for g in mine)
    first_week = {g["uuid"] for g in mine if g["end_time"] < datetime(2025, 3, 9)}
    rapid = {g["uuid"] for g in mine if g["time_class"] == "rapid"}
    vanished = first_week | rapid
    assert first_week - rapid  # bullet games of March 8 too
    remaining = [g for g in mine if g["uuid"] not in vanished]
    assert min(g["end_time"] for g in remaining) >= datetime(2025, 3, 10)
    _mirror_refetch(spark, player, month, vanished)
    in_bronze = spark.sql(
        f"select count(*) from lake.bronze.chesscom_games where player = '{player}'"
    ).first()[0]
    assert in_bronze == len(mine) - len(vanished)

    lines: list[str] = []
    code = run_transform(settings, echo=lines.append, dbt_vars=DBT_VARS)
    assert code == 0, "\n".join(lines)
    assert not [line for line in lines if "older marts_version" in line]  # a normal run
    check_every_mart(spark, {k: g for k, g in expected_fct.items() if g["uuid"] not in vanished})
    for mart in ("agg_rapid_chess_daily", "agg_rapid_chess_monthly_openings"):
        rows = _rows(spark, mart)
        assert rows and not [r for r in rows if r["player"] == player], mart


def test_backfilled_old_month_reaches_the_incremental_marts(spark, settings, built) -> None:
    """A month ingested after the marts exist, far before their window, is not missed."""
    from pyspark.sql import functions as F

    old = (
        spark.table("lake.bronze.chesscom_games")
        .where("player = 'magnuscarlsen'")
        .limit(1)
        .withColumn("uuid", F.lit("backfill-0001"))
        .withColumn("end_time", F.lit(datetime(2019, 1, 15, 18, 0)))
        .withColumn("archive_month", F.lit("2019-01"))
        .withColumn("_fetched_at", F.current_timestamp())
    )
    old.writeTo("lake.bronze.chesscom_games").append()
    try:
        lines: list[str] = []
        code = run_transform(settings, echo=lines.append, dbt_vars=DBT_VARS)
        assert code == 0, "\n".join(lines)
        assert any("lookback" in line for line in lines)
        got = spark.sql(
            "select game_date from lake.marts.fct_chess_games where uuid = 'backfill-0001'"
        ).collect()
        assert [r.game_date for r in got] == [date(2019, 1, 15)]
    finally:
        spark.sql("delete from lake.bronze.chesscom_games where uuid = 'backfill-0001'")
