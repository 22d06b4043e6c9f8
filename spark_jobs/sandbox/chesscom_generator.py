"""Deterministic fictional chess.com history, in the exact monthly-archive game shape.

Same arguments, same bytes, on every machine: all randomness comes from `random.Random`
seeded with strings (SHA-512 based, unlike the salted built-in `hash()`), and nothing reads the
wall clock. Every PGN is legal (moves are played with python-chess) and its headers, the
`fen`, `eco` and result fields agree with the moves actually played.

    from spark_jobs.sandbox.chesscom_generator import generate_history
    history = generate_history("sandbox_sam", "2023-01", "2024-12", seed=7)
    # {"2023-01": [{"url": ..., "pgn": ..., ...}, ...], ...}

For benchmarks, `iter_bulk_archives` re-stamps a pool of pre-played games instead of playing
every game. Measured on one core: 1,008,000 games (200 players x 60 months x 84 games, 3.9 GB
of JSON) in 11.2 s including the pool, i.e. about 90,000 games/s. Re-measure with:

    python -m spark_jobs.sandbox.chesscom_generator --bench
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import chess
import orjson

__all__ = [
    "OPENINGS",
    "START_FEN",
    "Opening",
    "generate_history",
    "generate_history_until",
    "iter_bulk_archives",
    "month_bounds",
    "month_range",
]

START_FEN = chess.STARTING_FEN
_PUB = "https://api.chess.com/pub/"
_API = _PUB + "player/"
_WEB = "https://www.chess.com"


@dataclass(frozen=True)
class Opening:
    """A book line: ECO code, chess.com opening slug and the SAN moves that define it."""

    eco: str
    slug: str
    moves: tuple[str, ...]

    @property
    def url(self) -> str:
        """The chess.com opening URL used by the `eco` field and the ECOUrl header."""
        return f"{_WEB}/openings/{self.slug}"


def _o(eco: str, slug: str, moves: str) -> Opening:
    return Opening(eco, slug, tuple(moves.split()))


OPENINGS: tuple[Opening, ...] = (
    _o("B90", "Sicilian-Defense-Najdorf-Variation", "e4 c5 Nf3 d6 d4 cxd4 Nxd4 Nf6 Nc3 a6"),
    _o("B70", "Sicilian-Defense-Dragon-Variation", "e4 c5 Nf3 d6 d4 cxd4 Nxd4 Nf6 Nc3 g6"),
    _o("B20", "Sicilian-Defense", "e4 c5"),
    _o("C50", "Italian-Game", "e4 e5 Nf3 Nc6 Bc4"),
    _o("C55", "Italian-Game-Two-Knights-Defense", "e4 e5 Nf3 Nc6 Bc4 Nf6"),
    _o("C70", "Ruy-Lopez-Opening-Morphy-Defense", "e4 e5 Nf3 Nc6 Bb5 a6 Ba4"),
    _o("C45", "Scotch-Game", "e4 e5 Nf3 Nc6 d4 exd4 Nxd4"),
    _o("C47", "Four-Knights-Game", "e4 e5 Nf3 Nc6 Nc3 Nf6"),
    _o("C42", "Petrovs-Defense", "e4 e5 Nf3 Nf6"),
    _o("C41", "Philidor-Defense", "e4 e5 Nf3 d6"),
    _o("C33", "Kings-Gambit-Accepted", "e4 e5 f4 exf4"),
    _o("C25", "Vienna-Game", "e4 e5 Nc3"),
    _o("C23", "Bishops-Opening", "e4 e5 Bc4"),
    _o("C00", "French-Defense", "e4 e6"),
    _o("C15", "French-Defense-Winawer-Variation", "e4 e6 d4 d5 Nc3 Bb4"),
    _o("B10", "Caro-Kann-Defense", "e4 c6"),
    _o("B12", "Caro-Kann-Defense-Advance-Variation", "e4 c6 d4 d5 e5"),
    _o("B01", "Scandinavian-Defense", "e4 d5"),
    _o("B02", "Alekhines-Defense", "e4 Nf6"),
    _o("B06", "Modern-Defense", "e4 g6"),
    _o("B07", "Pirc-Defense", "e4 d6 d4 Nf6 Nc3 g6"),
    _o("D30", "Queens-Gambit-Declined", "d4 d5 c4 e6"),
    _o("D08", "Queens-Gambit-Declined-Albin-Countergambit", "d4 d5 c4 e5"),
    _o("D20", "Queens-Gambit-Accepted", "d4 d5 c4 dxc4"),
    _o("D10", "Slav-Defense", "d4 d5 c4 c6"),
    _o("D02", "London-System", "d4 d5 Nf3 Nf6 Bf4"),
    _o("D00", "Queens-Pawn-Opening-Chigorin-Variation", "d4 d5 Nc3"),
    _o("E60", "Kings-Indian-Defense", "d4 Nf6 c4 g6"),
    _o("D80", "Grunfeld-Defense", "d4 Nf6 c4 g6 Nc3 d5"),
    _o("E20", "Nimzo-Indian-Defense", "d4 Nf6 c4 e6 Nc3 Bb4"),
    _o("E00", "Catalan-Opening", "d4 Nf6 c4 e6 g3"),
    _o("A56", "Benoni-Defense", "d4 Nf6 c4 c5"),
    _o("A80", "Dutch-Defense", "d4 f5"),
    _o("A40", "Englund-Gambit", "d4 e5"),
    _o("A10", "English-Opening", "c4"),
    _o("A09", "Reti-Opening", "Nf3 d5 c4"),
)

# (cumulative weight, time_control, time_class): ~60% rapid, 25% blitz, 10% bullet, 5% daily.
_TIME_CONTROLS: tuple[tuple[float, str, str], ...] = (
    (0.35, "600", "rapid"),
    (0.60, "900+10", "rapid"),
    (0.75, "180+2", "blitz"),
    (0.85, "300", "blitz"),
    (0.95, "60", "bullet"),
    (1.00, "1/86400", "daily"),
)
_START_RATING = {"rapid": 1200, "blitz": 1100, "bullet": 1000, "daily": 1250}
# TCN: squares a1..h8 are the first 64 characters; the rest encode promotions.
_TCN_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!?"  # squares
    "{~}(^)[_]@#$,./&-*++="  # promotions (piece x direction) and drops
)
_PIECE_VALUE = {chess.PAWN: 1, chess.KNIGHT: 3, chess.BISHOP: 3, chess.ROOK: 5, chess.QUEEN: 9}
# Offset between the UUID v1 epoch (1582-10-15) and the Unix epoch, in 100 ns ticks.
_UUID_EPOCH = 0x01B21DD213814000

_DRAW_TERMINATION = {
    "agreed": "Game drawn by agreement",
    "repetition": "Game drawn by repetition",
    "stalemate": "Game drawn by stalemate",
    "insufficient": "Game drawn by insufficient material",
    "timevsinsufficient": "Game drawn by timeout vs insufficient material",
    "50move": "Game drawn by 50-move rule",
}
_WIN_TERMINATION = {
    "checkmated": "{winner} won by checkmate",
    "resigned": "{winner} won by resignation",
    "timeout": "{winner} won on time",
    "abandoned": "{winner} won - game abandoned",
}

_ADJECTIVES = (
    "quiet",
    "brave",
    "lucky",
    "rapid",
    "silent",
    "crazy",
    "royal",
    "tactical",
    "sneaky",
    "lazy",
    "wild",
    "cosmic",
    "iron",
    "golden",
    "dark",
    "happy",
    "grumpy",
    "clever",
    "frozen",
    "mighty",
    "sleepy",
    "fuzzy",
    "salty",
    "nimble",
    "stubborn",
)
_NOUNS = (
    "knight",
    "bishop",
    "rook",
    "pawn",
    "queen",
    "king",
    "gambit",
    "fianchetto",
    "castle",
    "tempo",
    "zugzwang",
    "blunder",
    "endgame",
    "fork",
    "pin",
    "skewer",
    "outpost",
    "file",
    "diagonal",
    "patzer",
    "tiger",
    "otter",
    "falcon",
    "badger",
    "walrus",
)


# ---------------------------------------------------------------------------------------------
# Small deterministic helpers
# ---------------------------------------------------------------------------------------------


def month_range(start: str, end: str) -> list[str]:
    """All months from `start` to `end` inclusive.

    Args:
        start: First month, "YYYY-MM".
        end: Last month, "YYYY-MM".

    Returns:
        The months as "YYYY-MM" strings, ascending.

    Raises:
        ValueError: A month is malformed or `end` is before `start`.
    """
    y0, m0 = _parse_month(start)
    y1, m1 = _parse_month(end)
    first, last = y0 * 12 + m0 - 1, y1 * 12 + m1 - 1
    if last < first:
        raise ValueError(f"end month {end} is before start month {start}")
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(first, last + 1)]


def month_bounds(month: str) -> tuple[int, int]:
    """Epoch seconds of the first second of `month` and of the next month (exclusive), UTC."""
    year, mon = _parse_month(month)
    start = calendar.timegm((year, mon, 1, 0, 0, 0))
    nyear, nmon = (year + 1, 1) if mon == 12 else (year, mon + 1)
    return start, calendar.timegm((nyear, nmon, 1, 0, 0, 0))


def _parse_month(month: str) -> tuple[int, int]:
    parts = month.replace("/", "-").split("-")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or len(parts[0]) != 4:
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    year, mon = int(parts[0]), int(parts[1])
    if not 1 <= mon <= 12:
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    return year, mon


@lru_cache(maxsize=8192)
def _date(day: int) -> str:
    """PGN date ("YYYY.MM.DD") of a day number since the epoch; cached for the bulk path."""
    y, m, d = _civil_from_days(day)
    return f"{y:04d}.{m:02d}.{d:02d}"


def _civil_from_days(z: int) -> tuple[int, int, int]:
    # Howard Hinnant's days-to-civil: cheaper than time.gmtime + strftime in the hot loop.
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m, d


def _hms(seconds_of_day: int) -> str:
    h, rem = divmod(seconds_of_day, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}"


def _uuid1(epoch_seconds: int, node: int, clock_seq: int) -> str:
    """A version-1-shaped UUID (like chess.com's game uuids), fully determined by its inputs."""
    ticks = epoch_seconds * 10_000_000 + _UUID_EPOCH + (node & 0xFFFFF)
    time_low = ticks & 0xFFFFFFFF
    time_mid = (ticks >> 32) & 0xFFFF
    time_hi = (ticks >> 48) & 0x0FFF
    seq = 0x8000 | (clock_seq & 0x3FFF)
    return f"{time_low:08x}-{time_mid:04x}-1{time_hi:03x}-{seq:04x}-{node & 0xFFFFFFFFFFFF:012x}"


def _player_uuid(username: str) -> str:
    # Stable per username; derived from a string-seeded RNG so it is machine independent.
    rng = random.Random(f"player-uuid:{username.lower()}")
    return _uuid1(1_300_000_000 + rng.randrange(400_000_000), rng.getrandbits(48), 0)


def _tcn(moves: Sequence[chess.Move]) -> str:
    """chess.com's TCN move encoding (two characters per move, promotions encoded in the 2nd)."""
    out = []
    for move in moves:
        out.append(_TCN_ALPHABET[move.from_square])
        if move.promotion:
            piece = "qnrbkp".index(chess.piece_symbol(move.promotion))
            df = chess.square_file(move.to_square) - chess.square_file(move.from_square)
            out.append(_TCN_ALPHABET[64 + piece * 3 + df + 1])
        else:
            out.append(_TCN_ALPHABET[move.to_square])
    return "".join(out)


def _fmt_live_clock(deciseconds: int) -> str:
    # chess.com prints tenths only when they are non-zero: 0:09:58.7 but 0:09:55.
    h, rem = divmod(deciseconds, 36000)
    m, rem = divmod(rem, 600)
    s, tenth = divmod(rem, 10)
    return f"{h}:{m:02d}:{s:02d}.{tenth}" if tenth else f"{h}:{m:02d}:{s:02d}"


def _fmt_daily_clock(seconds: int) -> str:
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


def _opponent_names(rng: random.Random, count: int, exclude: str) -> list[str]:
    names: list[str] = []
    seen = {exclude.lower()}
    while len(names) < count:
        adj, noun, num = rng.choice(_ADJECTIVES), rng.choice(_NOUNS), rng.randint(1, 9999)
        style = rng.randrange(4)
        if style == 0:
            name = f"{adj}{noun}{num}"
        elif style == 1:
            name = f"{adj.capitalize()}_{noun.capitalize()}"
        elif style == 2:
            name = f"{adj}_{noun}_{num % 100}"
        else:
            name = f"{noun.capitalize()}{adj.capitalize()}{num}"
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names


def _pick_time_control(rng: random.Random) -> tuple[str, str]:
    r = rng.random()
    for cumulative, control, time_class in _TIME_CONTROLS:
        if r < cumulative:
            return control, time_class
    return _TIME_CONTROLS[-1][1], _TIME_CONTROLS[-1][2]


def _expected(rating: float, opponent: float) -> float:
    return 1.0 / (1.0 + 10.0 ** ((opponent - rating) / 400.0))


# ---------------------------------------------------------------------------------------------
# Playing one game
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Played:
    """One finished game, independent of who played it (names/ratings/times come later)."""

    opening: Opening
    time_control: str
    time_class: str
    fen: str
    tcn: str
    movetext: str  # movetext with (or without) clock comments, ending with the result token
    result: str  # "1-0", "0-1", "1/2-1/2"
    white_code: str
    black_code: str
    termination: str  # may contain "{winner}"
    duration: int  # seconds from the first move to the end of the game


def _checking_squares(board: chess.Board) -> dict[int, int]:
    """Per piece type, the squares from which it would give direct check to the side to move's
    opponent (current occupancy). Much cheaper than `gives_check` on every legal move; it can
    miss discovered checks, which only makes the fictional player overlook a few mates."""
    king = board.king(not board.turn)
    if king is None:
        return {}
    occupied = board.occupied
    diag = chess.BB_DIAG_ATTACKS[king][chess.BB_DIAG_MASKS[king] & occupied]
    orth = (
        chess.BB_RANK_ATTACKS[king][chess.BB_RANK_MASKS[king] & occupied]
        | chess.BB_FILE_ATTACKS[king][chess.BB_FILE_MASKS[king] & occupied]
    )
    return {
        chess.PAWN: chess.BB_PAWN_ATTACKS[not board.turn][king],
        chess.KNIGHT: chess.BB_KNIGHT_ATTACKS[king],
        chess.BISHOP: diag,
        chess.ROOK: orth,
        chess.QUEEN: diag | orth,
        chess.KING: 0,
    }


def _pick_move(rng: random.Random, board: chess.Board, legal: list[chess.Move]) -> chess.Move:
    # Cheap "player": usually spots a mate in one, likes captures and checks, else random.
    targets = _checking_squares(board)
    checks = [
        m
        for m in legal
        if targets
        and targets[m.promotion or board.piece_type_at(m.from_square) or chess.PAWN]
        & chess.BB_SQUARES[m.to_square]
    ]
    if checks and rng.random() < 0.8:
        for move in checks:
            board.push(move)
            mate = board.is_checkmate()
            board.pop()
            if mate:
                return move
    r = rng.random()
    if r < 0.45:
        captures = [m for m in legal if board.is_capture(m)]
        if captures:
            # Prefer the most valuable victim, as a human (or a patzer) would.
            def victim(m: chess.Move) -> int:
                piece = board.piece_at(m.to_square)
                return _PIECE_VALUE.get(piece.piece_type, 1) if piece else 1

            best = max(victim(m) for m in captures)
            return rng.choice([m for m in captures if victim(m) == best])
    elif r < 0.55 and checks:
        return rng.choice(checks)
    return rng.choice(legal)


def _material(board: chess.Board, color: bool) -> int:
    return sum(len(board.pieces(pt, color)) * v for pt, v in _PIECE_VALUE.items())


def _play(
    rng: random.Random,
    opening: Opening,
    time_control: str,
    time_class: str,
    white_expected: float,
    with_clocks: bool,
) -> _Played:
    """Play `opening`, continue legally to a natural or random end and decide a consistent result.

    Args:
        rng: The random source (consumed deterministically).
        opening: Book line played first.
        time_control: chess.com time control string ("600", "180+2", "1/86400").
        time_class: "rapid", "blitz", "bullet" or "daily".
        white_expected: Probability that white wins a decisive game on rating grounds.
        with_clocks: Whether the movetext carries `[%clk]` comments.
    """
    board = chess.Board()
    moves: list[chess.Move] = []
    sans: list[str] = []
    for san in opening.moves:
        move = board.parse_san(san)
        sans.append(board.san(move))
        moves.append(move)
        board.push(move)

    max_plies = 2 * rng.randint(15, 80) + rng.randrange(2)
    ending: str | None = None
    while True:
        legal = list(board.legal_moves)
        if not legal:
            ending = "checkmated" if board.is_check() else "stalemate"
            break
        if board.is_insufficient_material():
            ending = "insufficient"
            break
        if board.halfmove_clock >= 100:
            ending = "50move"
            break
        if board.halfmove_clock >= 8 and board.is_repetition(3):
            ending = "repetition"
            break
        if len(moves) >= max_plies:
            break
        move = _pick_move(rng, board, legal)
        sans.append(board.san(move))
        moves.append(move)
        board.push(move)

    daily = time_class == "daily"
    winner: bool | None
    if ending == "checkmated":
        winner, loser_code = not board.turn, "checkmated"
    elif ending is not None:
        winner, loser_code = None, ending
    elif rng.random() < 0.06:
        winner, loser_code = None, "agreed"
    else:
        diff = _material(board, chess.WHITE) - _material(board, chess.BLACK)
        if abs(diff) >= 3:
            # Whoever is clearly ahead on the board usually converts (or the other resigns).
            ahead = chess.WHITE if diff > 0 else chess.BLACK
            winner = ahead if rng.random() < 0.85 else not ahead
        else:
            winner = chess.WHITE if rng.random() < white_expected else chess.BLACK
        r = rng.random()
        timeout_share = 0.5 if daily else 0.3
        if r < timeout_share and winner != board.turn:
            # A flag falls while its owner is thinking, i.e. the loser is the side to move.
            loser_code = "timeout"
            if board.has_insufficient_material(winner):
                winner, loser_code = None, "timevsinsufficient"
        elif r > 0.95:
            loser_code = "abandoned"
        else:
            loser_code = "resigned"

    if winner is None:
        result, white_code, black_code = "1/2-1/2", loser_code, loser_code
        termination = _DRAW_TERMINATION[loser_code]
    elif winner == chess.WHITE:
        result, white_code, black_code = "1-0", "win", loser_code
        termination = _WIN_TERMINATION[loser_code]
    else:
        result, white_code, black_code = "0-1", loser_code, "win"
        termination = _WIN_TERMINATION[loser_code]

    clocks, duration = _clocks(rng, len(sans), len(opening.moves), time_control, daily)
    if loser_code == "timeout" and not daily and len(clocks) >= 2:
        duration += clocks[-2] // 10  # the loser's clock ran down to zero after its last move
    movetext = _movetext(sans, clocks if with_clocks else None, daily, result)
    return _Played(
        opening=opening,
        time_control=time_control,
        time_class=time_class,
        fen=board.fen(),
        tcn=_tcn(moves),
        movetext=movetext,
        result=result,
        white_code=white_code,
        black_code=black_code,
        termination=termination,
        duration=max(1, duration),
    )


def _clocks(
    rng: random.Random, plies: int, book_plies: int, time_control: str, daily: bool
) -> tuple[list[int], int]:
    """Clock after every ply (deciseconds live, seconds daily) and the game's duration (s)."""
    if daily:
        # Daily clocks restart at 24h every move; the comment shows what was left of that day.
        clocks, total = [], 0
        for _ in range(plies):
            think = min(86_399, 1 + int(rng.expovariate(1 / (4 * 3600))))
            clocks.append(86_400 - think)
            total += think
        return clocks, total
    base_s, _, inc_s = time_control.partition("+")
    base, inc = int(base_s) * 10, int(inc_s or 0) * 10
    remaining = [base, base]
    clocks, total = [], 0
    expected_moves = max(25, plies // 2 + 5)
    for ply in range(plies):
        side = ply & 1
        moves_left = max(8, expected_moves - ply // 2)
        mean = max(2.0, (remaining[side] + inc * moves_left) / moves_left)
        if ply < book_plies:
            mean *= 0.25  # book moves come fast
        think = max(1, int(rng.expovariate(1 / mean)))
        # Never let the clock go negative: nobody flags in the middle of the movetext.
        think = min(think, max(0, remaining[side] - 1))
        remaining[side] = remaining[side] - think + inc
        clocks.append(remaining[side])
        total += think
    return clocks, total // 10


def _movetext(sans: list[str], clocks: list[int] | None, daily: bool, result: str) -> str:
    parts = []
    fmt = _fmt_daily_clock if daily else _fmt_live_clock
    for ply, san in enumerate(sans):
        number = ply // 2 + 1
        if clocks is None:
            parts.append(f"{number}. {san}" if ply % 2 == 0 else san)
        elif ply % 2 == 0:
            parts.append(f"{number}. {san} {{[%clk {fmt(clocks[ply])}]}}")
        else:
            parts.append(f"{number}... {san} {{[%clk {fmt(clocks[ply])}]}}")
    parts.append(result)
    return " ".join(parts)


def _pgn(
    *,
    daily: bool,
    white: str,
    black: str,
    result: str,
    fen: str,
    opening: Opening,
    white_elo: int,
    black_elo: int,
    time_control: str,
    termination: str,
    start: int,
    end: int,
    link: str,
    movetext: str,
) -> str:
    """The PGN text with chess.com's header set and order."""
    start_day, start_sec = divmod(start, 86400)
    end_day, end_sec = divmod(end, 86400)
    start_date = _date(start_day)
    start_time = _hms(start_sec)
    event = "Let's Play!" if daily else "Live Chess"
    return (
        f'[Event "{event}"]\n[Site "Chess.com"]\n[Date "{start_date}"]\n[Round "-"]\n'
        f'[White "{white}"]\n[Black "{black}"]\n[Result "{result}"]\n'
        f'[CurrentPosition "{fen}"]\n[Timezone "UTC"]\n[ECO "{opening.eco}"]\n'
        f'[ECOUrl "{_WEB}/openings/{opening.slug}"]\n[UTCDate "{start_date}"]\n'
        f'[UTCTime "{start_time}"]\n[WhiteElo "{white_elo}"]\n[BlackElo "{black_elo}"]\n'
        f'[TimeControl "{time_control}"]\n[Termination "{termination}"]\n'
        f'[StartTime "{start_time}"]\n[EndDate "{_date(end_day)}"]\n'
        f'[EndTime "{_hms(end_sec)}"]\n[Link "{link}"]\n\n{movetext}\n'
    )


def _game_dict(
    played: _Played,
    *,
    game_id: int,
    uuid: str,
    end_time: int,
    rated: bool,
    white: tuple[str, int, str],
    black: tuple[str, int, str],
    accuracies: tuple[float, float] | None,
    has_pgn: bool,
    tournament: str | None,
) -> dict:
    """Assemble one archive game in chess.com's key order; white/black = (name, rating, uuid)."""
    daily = played.time_class == "daily"
    url = f"{_WEB}/game/{'daily' if daily else 'live'}/{game_id}"
    winner = white[0] if played.white_code == "win" else black[0]
    start = end_time - played.duration
    game: dict = {"url": url}
    if has_pgn:
        game["pgn"] = _pgn(
            daily=daily,
            white=white[0],
            black=black[0],
            result=played.result,
            fen=played.fen,
            opening=played.opening,
            white_elo=white[1],
            black_elo=black[1],
            time_control=played.time_control,
            termination=played.termination.format(winner=winner),
            start=start,
            end=end_time,
            link=url,
            movetext=played.movetext,
        )
    game["time_control"] = played.time_control
    game["end_time"] = end_time
    game["rated"] = rated
    if accuracies is not None:
        game["accuracies"] = {"white": accuracies[0], "black": accuracies[1]}
    game["tcn"] = played.tcn
    game["uuid"] = uuid
    game["initial_setup"] = START_FEN
    game["fen"] = played.fen
    if daily:
        game["start_time"] = start
    game["time_class"] = played.time_class
    game["rules"] = "chess"
    for colour, (name, rating, player_uuid), code in (
        ("white", white, played.white_code),
        ("black", black, played.black_code),
    ):
        game[colour] = {
            "rating": rating,
            "result": code,
            "@id": _API + name.lower(),
            "username": name,
            "uuid": player_uuid,
        }
    game["eco"] = played.opening.url
    if tournament is not None:
        game["tournament"] = tournament
    return game


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def generate_history(
    username: str,
    start: str,
    end: str,
    seed: int = 7,
    games_per_month: tuple[int, int] = (20, 60),
) -> dict[str, list[dict]]:
    """A fictional player's monthly archives, deterministic for identical arguments.

    Months are generated in order from one RNG, so extending `end` leaves earlier months
    unchanged. Ratings per time class are updated game by game with Elo against a "true
    strength" that drifts up slowly, so they wander and climb over the years.

    Args:
        username: The player (case kept in game objects, lower-cased in `@id` URLs).
        start: First month, "YYYY-MM".
        end: Last month, "YYYY-MM" (inclusive).
        seed: Any integer; different seeds give unrelated histories.
        games_per_month: Inclusive (min, max) number of games per month.

    Returns:
        "YYYY-MM" -> games in the exact chess.com monthly-archive shape, sorted by end_time.

    Raises:
        ValueError: Malformed months, `end` before `start` or a bad `games_per_month`.
    """
    low, high = games_per_month
    if low < 0 or high < low:
        raise ValueError(f"games_per_month must be (min, max) with 0 <= min <= max: {low, high}")
    months = month_range(start, end)
    rng = random.Random(f"chesscom-history:{seed}:{username.lower()}:{start}")
    opponents = _opponent_names(rng, 180, username)
    opponent_uuids = {name: _player_uuid(name) for name in opponents}
    me_uuid = _player_uuid(username)
    # A personal repertoire: a handful of favourite openings are played much more often.
    weights = [rng.choice((1, 1, 1, 2, 6)) for _ in OPENINGS]
    ratings = {tc: float(r + rng.randint(-60, 60)) for tc, r in _START_RATING.items()}
    base_strength = dict(ratings)
    live_id = 60_000_000_000 + rng.randrange(10_000_000_000)
    daily_id = 400_000_000 + rng.randrange(100_000_000)

    history: dict[str, list[dict]] = {}
    for index, month in enumerate(months):
        lo, hi = month_bounds(month)
        count = rng.randint(low, high)
        end_times = sorted(rng.sample(range(lo + 60, hi), count))
        games = []
        for end_time in end_times:
            control, time_class = _pick_time_control(rng)
            mine = ratings[time_class]
            strength = base_strength[time_class] + 7.0 * index + rng.gauss(0, 40)
            opponent = opponents[int(len(opponents) * rng.random() ** 2)]
            opp_rating = max(100, round(mine + rng.randint(-200, 200)))
            me_white = rng.random() < 0.5
            p_me = _expected(strength, opp_rating)
            opening = rng.choices(OPENINGS, weights)[0]
            with_clocks = rng.random() >= 0.02
            white_expected = p_me if me_white else 1 - p_me
            played = _play(rng, opening, control, time_class, white_expected, with_clocks)

            my_code = played.white_code if me_white else played.black_code
            score = 1.0 if my_code == "win" else 0.5 if played.result == "1/2-1/2" else 0.0
            k = 16 if time_class == "daily" else 20
            ratings[time_class] = max(100.0, mine + k * (score - _expected(mine, opp_rating)))
            opp_after = opp_rating + round(k * ((1 - score) - _expected(opp_rating, mine)))
            me = (username, round(ratings[time_class]), me_uuid)
            them = (opponent, max(100, opp_after), opponent_uuids[opponent])

            if time_class == "daily":
                daily_id += rng.randint(1, 5_000)
                game_id = daily_id
            else:
                live_id += rng.randint(1, 2_000_000)
                game_id = live_id
            accuracies = None
            if rng.random() < 0.3:
                accuracies = (round(rng.uniform(45, 97), 2), round(rng.uniform(45, 97), 2))
            tournament = None
            if time_class != "daily" and rng.random() < 0.02:
                tournament = f"{_PUB}tournament/sandbox-arena-{rng.randint(1000, 999999)}"
            games.append(
                _game_dict(
                    played,
                    game_id=game_id,
                    uuid=_uuid1(end_time, rng.getrandbits(48), rng.getrandbits(14)),
                    end_time=end_time,
                    rated=rng.random() < 0.95,
                    white=me if me_white else them,
                    black=them if me_white else me,
                    accuracies=accuracies,
                    has_pgn=rng.random() >= 0.005,
                    tournament=tournament,
                )
            )
        history[month] = games
    return history


@lru_cache(maxsize=4)
def generate_history_until(
    username: str, start: str, now: datetime, seed: int = 7
) -> dict[str, list[dict]]:
    """`generate_history` from `start` to `now`'s month, without games after `now`.

    The demo and the sandbox command serve "today's" history: a game that ends in the
    future of the current month would be a game nobody has played yet.
    """
    cutoff = int(now.timestamp())
    history = generate_history(username, start, now.strftime("%Y-%m"), seed=seed)
    return {m: [g for g in games if g["end_time"] <= cutoff] for m, games in history.items()}


def _pool(seed: int, size: int = 240) -> tuple[tuple[_Played, bool], ...]:
    """Pre-played games for the bulk path: (game, has_pgn). Cached per seed."""
    rng = random.Random(f"chesscom-pool:{seed}")
    pool = []
    for _ in range(size):
        control, time_class = _pick_time_control(rng)
        played = _play(rng, rng.choice(OPENINGS), control, time_class, 0.5, rng.random() >= 0.02)
        pool.append((played, rng.random() >= 0.005))
    return tuple(pool)


def iter_bulk_archives(
    players: int, months: list[str], games_per_month: int, seed: int = 11
) -> Iterator[tuple[str, str, bytes]]:
    """Monthly archive payloads for many fictional players, fast enough for 1M-game benchmarks.

    A pool of legal games is played once (python-chess is the slow part); every emitted game is
    a pool game re-stamped with its own uuid, game id, usernames, ratings, end_time inside the
    month and matching PGN headers. Output is deterministic for identical arguments.

    Args:
        players: Number of fictional players.
        months: Months to emit, "YYYY-MM", in the order given.
        games_per_month: Exact number of games in every (player, month) archive.
        seed: Any integer.

    Yields:
        (player_username, "YYYY-MM", payload) where payload is compact JSON `{"games": [...]}`
        sorted by end_time, player by player and month by month.
    """
    pool = _pool(seed)
    bounds = [(month, *month_bounds(month)) for month in months]
    rng = random.Random(f"chesscom-bulk:{seed}")
    names = _opponent_names(rng, players + 400, "")
    player_names = [f"{name}_{i}" for i, name in enumerate(names[:players])]
    opponents = names[players:]
    opponent_uuids = [_player_uuid(name) for name in opponents]
    counter = rng.getrandbits(20) << 28  # node/id prefix; the low bits count games
    rand, getrandbits, n_pool, n_opp = rng.random, rng.getrandbits, len(pool), len(opponents)
    for player_index, player in enumerate(player_names):
        me_uuid = _player_uuid(player)
        base_rating = 800 + int(1400 * rand())
        for month_index, (month, lo, hi) in enumerate(bounds):
            span = hi - lo - 60
            end_times = sorted(lo + 60 + int(span * rand()) for _ in range(games_per_month))
            rating = base_rating + 4 * month_index
            games = []
            for end_time in end_times:
                counter += 1
                played, has_pgn = pool[int(n_pool * rand())]
                opp = int(n_opp * rand())
                me = (player, rating + int(60 * rand()) - 30, me_uuid)
                them = (opponents[opp], rating + int(400 * rand()) - 200, opponent_uuids[opp])
                white, black = (me, them) if rand() < 0.5 else (them, me)
                accuracies = None
                if rand() < 0.3:
                    accuracies = (round(45 + 52 * rand(), 2), round(45 + 52 * rand(), 2))
                games.append(
                    _game_dict(
                        played,
                        game_id=(700_000_000 if played.time_class == "daily" else 90_000_000_000)
                        + counter,
                        uuid=_uuid1(end_time, counter ^ (player_index << 40), getrandbits(14)),
                        end_time=end_time,
                        rated=True,
                        white=white,
                        black=black,
                        accuracies=accuracies,
                        has_pgn=has_pgn,
                        tournament=None,
                    )
                )
            yield player, month, orjson.dumps({"games": games})


def _bench() -> None:  # pragma: no cover - manual benchmark
    import time

    months = month_range("2020-01", "2024-12")
    started = time.perf_counter()
    total = nbytes = 0
    for _, _, payload in iter_bulk_archives(200, months, 84):
        total += 84
        nbytes += len(payload)
    elapsed = time.perf_counter() - started
    print(
        f"{total:,} games, {nbytes / 1e9:.2f} GB of JSON in {elapsed:.1f} s "
        f"= {total / elapsed:,.0f} games/s (pool included)"
    )


if __name__ == "__main__":  # pragma: no cover
    import sys

    if "--bench" in sys.argv:
        _bench()
    else:
        print(__doc__)
