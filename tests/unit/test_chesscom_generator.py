"""The fictional chess.com history generator: determinism, legality and internal consistency.

.venv/bin/pytest tests/unit/test_chesscom_generator.py -q -s   # -s shows the bulk rate
"""

from __future__ import annotations

import io
import itertools
import re
import time
from collections import Counter

import chess
import chess.pgn
import orjson
import pytest

from spark_jobs.sandbox.chesscom_generator import (
    OPENINGS,
    START_FEN,
    generate_history,
    iter_bulk_archives,
    month_bounds,
    month_range,
)

PLAYER = "Gen_Player"
HEADER_ORDER = [
    "Event",
    "Site",
    "Date",
    "Round",
    "White",
    "Black",
    "Result",
    "CurrentPosition",
    "Timezone",
    "ECO",
    "ECOUrl",
    "UTCDate",
    "UTCTime",
    "WhiteElo",
    "BlackElo",
    "TimeControl",
    "Termination",
    "StartTime",
    "EndDate",
    "EndTime",
    "Link",
]
GAME_KEYS = {
    "url",
    "pgn",
    "time_control",
    "end_time",
    "rated",
    "tcn",
    "uuid",
    "initial_setup",
    "fen",
    "time_class",
    "rules",
    "white",
    "black",
    "eco",
}
OPTIONAL_KEYS = {"accuracies", "start_time", "tournament"}
WIN_TERMINATION = {
    "checkmated": "won by checkmate",
    "resigned": "won by resignation",
    "timeout": "won on time",
    "abandoned": "won - game abandoned",
}
DRAW_TERMINATION = {
    "agreed": "Game drawn by agreement",
    "repetition": "Game drawn by repetition",
    "stalemate": "Game drawn by stalemate",
    "insufficient": "Game drawn by insufficient material",
    "timevsinsufficient": "Game drawn by timeout vs insufficient material",
    "50move": "Game drawn by 50-move rule",
}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def history() -> dict[str, list[dict]]:
    return generate_history(PLAYER, "2023-11", "2024-02", seed=3)


@pytest.fixture(scope="module")
def games(history: dict[str, list[dict]]) -> list[dict]:
    return [g for month in history.values() for g in month]


def _parse(game: dict) -> chess.pgn.Game:
    parsed = chess.pgn.read_game(io.StringIO(game["pgn"]))
    assert parsed is not None
    assert not parsed.errors, (game["url"], parsed.errors)
    return parsed


def test_deterministic() -> None:
    first = generate_history("Det_Dan", "2024-01", "2024-02", seed=9, games_per_month=(5, 9))
    second = generate_history("Det_Dan", "2024-01", "2024-02", seed=9, games_per_month=(5, 9))
    assert orjson.dumps(first) == orjson.dumps(second)
    other = generate_history("Det_Dan", "2024-01", "2024-02", seed=10, games_per_month=(5, 9))
    assert orjson.dumps(other) != orjson.dumps(first)
    # Extending the range leaves earlier months untouched.
    longer = generate_history("Det_Dan", "2024-01", "2024-03", seed=9, games_per_month=(5, 9))
    assert longer["2024-01"] == first["2024-01"] and longer["2024-02"] == first["2024-02"]


def test_months_counts_and_end_times(history: dict[str, list[dict]]) -> None:
    assert list(history) == ["2023-11", "2023-12", "2024-01", "2024-02"]
    for month, month_games in history.items():
        assert 20 <= len(month_games) <= 60
        lo, hi = month_bounds(month)
        ends = [g["end_time"] for g in month_games]
        assert ends == sorted(ends)
        assert all(lo <= end < hi for end in ends)


def test_game_shape(games: list[dict]) -> None:
    for game in games:
        assert GAME_KEYS - {"pgn"} <= set(game) <= GAME_KEYS | OPTIONAL_KEYS
        assert game["rules"] == "chess"
        assert game["initial_setup"] == START_FEN
        assert UUID_RE.match(game["uuid"])
        assert isinstance(game["tcn"], str) and len(game["tcn"]) % 2 == 0
        kind = "daily" if game["time_class"] == "daily" else "live"
        assert re.fullmatch(rf"https://www\.chess\.com/game/{kind}/\d+", game["url"])
        assert ("start_time" in game) == (kind == "daily")
        if kind == "daily":
            assert game["start_time"] < game["end_time"]
        assert game["eco"].startswith("https://www.chess.com/openings/")
        for colour in ("white", "black"):
            side = game[colour]
            assert set(side) == {"rating", "result", "@id", "username", "uuid"}
            assert side["@id"] == f"https://api.chess.com/pub/player/{side['username'].lower()}"
            assert isinstance(side["rating"], int) and side["rating"] > 0
        if "accuracies" in game:
            assert set(game["accuracies"]) == {"white", "black"}
    assert len({g["uuid"] for g in games}) == len(games)
    assert len({g["url"] for g in games}) == len(games)
    share = sum("accuracies" in g for g in games) / len(games)
    assert 0.15 < share < 0.45


def test_player_plays_both_colours_against_many_opponents(games: list[dict]) -> None:
    colours = Counter("white" if g["white"]["username"] == PLAYER else "black" for g in games)
    assert all(PLAYER in (g["white"]["username"], g["black"]["username"]) for g in games)
    assert colours["white"] > 20 and colours["black"] > 20
    opponents = {
        g["black" if g["white"]["username"] == PLAYER else "white"]["username"] for g in games
    }
    assert len(opponents) > 30
    for game in games:
        me, them = (
            (game["white"], game["black"])
            if game["white"]["username"] == PLAYER
            else (game["black"], game["white"])
        )
        assert abs(me["rating"] - them["rating"]) <= 240  # ±200 before the rating update


def test_time_class_mix(games: list[dict]) -> None:
    classes = Counter(g["time_class"] for g in games)
    assert set(classes) == {"rapid", "blitz", "bullet", "daily"}
    assert classes["rapid"] > classes["blitz"] > classes["bullet"]
    controls = {g["time_class"]: set() for g in games}
    for g in games:
        controls[g["time_class"]].add(g["time_control"])
    assert controls["daily"] == {"1/86400"}
    assert controls["bullet"] == {"60"}
    assert controls["rapid"] <= {"600", "900+10"}
    assert controls["blitz"] <= {"180+2", "300"}


def test_pgn_is_legal_and_matches_the_fields(games: list[dict]) -> None:
    with_pgn = [g for g in games if "pgn" in g]
    assert len(with_pgn) >= len(games) - 3
    for game in with_pgn:
        parsed = _parse(game)
        headers = parsed.headers
        assert list(headers.keys()) == HEADER_ORDER
        board = parsed.end().board()
        assert board.fen() == game["fen"] == headers["CurrentPosition"]
        assert headers["Event"] == (
            "Let's Play!" if game["time_class"] == "daily" else "Live Chess"
        )
        assert headers["Site"] == "Chess.com" and headers["Round"] == "-"
        assert headers["Timezone"] == "UTC"
        assert headers["White"] == game["white"]["username"]
        assert headers["Black"] == game["black"]["username"]
        assert int(headers["WhiteElo"]) == game["white"]["rating"]
        assert int(headers["BlackElo"]) == game["black"]["rating"]
        assert headers["TimeControl"] == game["time_control"]
        assert headers["Link"] == game["url"]
        assert headers["ECOUrl"] == game["eco"]
        end = time.gmtime(game["end_time"])
        assert headers["EndDate"] == time.strftime("%Y.%m.%d", end)
        assert headers["EndTime"] == time.strftime("%H:%M:%S", end)
        assert headers["Date"] == headers["UTCDate"]
        assert headers["StartTime"] == headers["UTCTime"]
        assert game["pgn"].endswith(f" {headers['Result']}\n")
        assert "\n\n1. " in game["pgn"]


def test_eco_matches_the_opening_played(games: list[dict]) -> None:
    by_url = {o.url: o for o in OPENINGS}
    seen = set()
    for game in (g for g in games if "pgn" in g):
        parsed = _parse(game)
        opening = by_url[game["eco"]]
        seen.add(opening.eco)
        assert parsed.headers["ECO"] == opening.eco
        board = chess.Board()
        played = []
        for move in parsed.mainline_moves():
            played.append(board.san(move))
            board.push(move)
        assert played[: len(opening.moves)] == list(opening.moves)
    assert len(seen) >= 10


def test_opening_book_is_real_and_legal() -> None:
    assert len(OPENINGS) >= 20
    assert len({o.slug for o in OPENINGS}) == len(OPENINGS)
    for opening in OPENINGS:
        assert re.fullmatch(r"[A-E]\d\d", opening.eco)
        board = chess.Board()
        for san in opening.moves:
            board.push_san(san)  # raises on an illegal or ambiguous book move


def test_results_are_consistent_with_the_board(games: list[dict]) -> None:
    codes = Counter()
    for game in (g for g in games if "pgn" in g):
        parsed = _parse(game)
        board = parsed.end().board()
        white, black = game["white"]["result"], game["black"]["result"]
        result, termination = parsed.headers["Result"], parsed.headers["Termination"]
        codes.update([white, black])
        if result == "1-0":
            assert white == "win" and black in WIN_TERMINATION
            assert termination == f"{game['white']['username']} {WIN_TERMINATION[black]}"
        elif result == "0-1":
            assert black == "win" and white in WIN_TERMINATION
            assert termination == f"{game['black']['username']} {WIN_TERMINATION[white]}"
        else:
            assert result == "1/2-1/2"
            assert white == black and white in DRAW_TERMINATION
            assert termination == DRAW_TERMINATION[white]
        # Board-derived codes appear exactly when the board says so.
        assert ("checkmated" in (white, black)) == board.is_checkmate()
        if board.is_checkmate():
            loser = "white" if board.turn == chess.WHITE else "black"
            assert game[loser]["result"] == "checkmated"
        assert (white == "stalemate") == board.is_stalemate()
        if white == "insufficient":
            assert board.is_insufficient_material()
        if white == "repetition":
            assert board.is_repetition(3)
        if "timeout" in (white, black):
            winner = chess.WHITE if white == "win" else chess.BLACK
            assert not board.has_insufficient_material(winner)
    assert codes["win"] > 0 and codes["checkmated"] > 0 and codes["resigned"] > 0


def test_clocks(games: list[dict]) -> None:
    clocked = 0
    for game in (g for g in games if "pgn" in g):
        parsed = _parse(game)
        clocks = [node.clock() for node in parsed.mainline()]
        if all(c is None for c in clocks):
            assert "[%clk" not in game["pgn"]  # a clock-less PGN, like some real ones
            continue
        clocked += 1
        assert all(c is not None and c >= 0 for c in clocks)
        control = game["time_control"]
        if control == "1/86400":
            assert all(c <= 86400 for c in clocks)
            assert re.search(r"\{\[%clk \d{1,2}:\d\d:\d\d\]\}", game["pgn"])
            continue
        base, _, inc = control.partition("+")
        increment = int(inc or 0)
        for side in (0, 1):
            own = clocks[side::2]
            assert own[0] <= int(base) + increment
            # Without increment a clock can only go down; with one, by at most the increment.
            assert all(b <= a + increment for a, b in itertools.pairwise(own))
    assert clocked >= len(games) * 0.9


def test_tcn_decodes_to_the_moves(games: list[dict]) -> None:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!?"
    for game in [g for g in games if "pgn" in g][:40]:
        moves = list(_parse(game).mainline_moves())
        tcn = game["tcn"]
        assert len(tcn) == 2 * len(moves)
        for i, move in enumerate(moves):
            assert alphabet.index(tcn[2 * i]) == move.from_square
            if not move.promotion:
                assert alphabet.index(tcn[2 * i + 1]) == move.to_square


def test_ratings_drift(history: dict[str, list[dict]]) -> None:
    long = generate_history("Drifter", "2021-01", "2023-12", seed=4, games_per_month=(6, 8))
    months = list(long)

    def rapid(month: str) -> list[int]:
        side = [
            g["white"] if g["white"]["username"] == "Drifter" else g["black"]
            for g in long[month]
            if g["time_class"] == "rapid"
        ]
        return [s["rating"] for s in side]

    early = [r for m in months[:6] for r in rapid(m)]
    late = [r for m in months[-6:] for r in rapid(m)]
    assert sum(late) / len(late) > sum(early) / len(early) + 50


def test_month_helpers() -> None:
    assert month_range("2023-11", "2024-02") == ["2023-11", "2023-12", "2024-01", "2024-02"]
    assert month_bounds("2024-02") == (1706745600, 1709251200)
    with pytest.raises(ValueError):
        month_range("2024-02", "2024-01")
    with pytest.raises(ValueError):
        month_range("2024-13", "2024-14")


def test_iter_bulk_archives() -> None:
    months = ["2023-12", "2024-01"]
    out = list(iter_bulk_archives(players=3, months=months, games_per_month=40, seed=2))
    assert [(p, m) for p, m, _ in out][:2] == [(out[0][0], "2023-12"), (out[0][0], "2024-01")]
    assert len(out) == 6 and len({p for p, _, _ in out}) == 3
    uuids = set()
    for player, month, payload in out:
        games = orjson.loads(payload)["games"]
        assert len(games) == 40
        lo, hi = month_bounds(month)
        ends = [g["end_time"] for g in games]
        assert ends == sorted(ends) and all(lo <= e < hi for e in ends)
        for game in games:
            uuids.add(game["uuid"])
            assert player in (game["white"]["username"], game["black"]["username"])
            if "pgn" in game:
                headers = _parse(game).headers
                assert headers["White"] == game["white"]["username"]
                assert headers["BlackElo"] == str(game["black"]["rating"])
                assert headers["Link"] == game["url"]
                assert headers["CurrentPosition"] == game["fen"]
                end = time.gmtime(game["end_time"])
                assert headers["EndDate"] == time.strftime("%Y.%m.%d", end)
    assert len(uuids) == 6 * 40
    again = list(iter_bulk_archives(players=3, months=months, games_per_month=40, seed=2))
    assert again == out

    # Its throughput is measured by `make bench` (benchmarks/run.py), not here.


def test_history_until_now_has_no_game_in_the_future() -> None:
    from datetime import UTC, datetime

    from spark_jobs.sandbox.chesscom_generator import generate_history, generate_history_until

    now = datetime(2024, 3, 14, 12, 0, tzinfo=UTC)
    until = generate_history_until("clock_watcher", "2024-02", now, seed=3)
    full = generate_history("clock_watcher", "2024-02", "2024-03", seed=3)
    assert sorted(until) == ["2024-02", "2024-03"]
    assert until["2024-02"] == full["2024-02"]  # past months are untouched
    march = [g["end_time"] for g in until["2024-03"]]
    assert march and max(march) <= now.timestamp()
    assert len(until["2024-03"]) < len(full["2024-03"])  # the rest of March is not played yet
