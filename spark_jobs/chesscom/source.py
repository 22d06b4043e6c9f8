"""chess.com as a registered source (see spark_jobs/common/source.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from spark_jobs.chesscom.settings import ChessComSettings, load_chesscom_settings
from spark_jobs.common.source import AccountOption, Source, Watermark


class ChessComSource(Source):
    name = "chesscom"
    title = "chess.com"
    account = AccountOption(
        name="player",
        short="p",
        help="chess.com username; repeat for several players.",
        env_default="CHESSCOM_PLAYERS",
    )
    period = "month"
    sandbox_module = "spark_jobs.sandbox.chesscom"
    watermarks = (
        Watermark(
            bronze_table="lake.bronze.chesscom_games",
            event_column="end_time",
            mart="fct_chess_games",
            mart_column="game_date",
            lookback_var="chess_lookback_days",
            default_days=3,
        ),
    )
    ingest_help = """Ingest chess.com monthly game archives into lake.bronze.chesscom_games.

    Without --from/--to every archive the player has is considered; months already
    ingested and final are skipped, the current month is always re-checked (a conditional
    request: an unchanged month costs one 304). Needs CHESSCOM_USER_AGENT with contact
    info, e.g. "personal-lakehouse/0.1 (you@example.com)". --refresh ignores stored state
    and re-downloads every month in range (MERGE keeps it idempotent).
    """
    ingest_examples = (
        "lakehouse ingest chesscom --player hikaru",
        "lakehouse ingest chesscom -p hikaru -p magnuscarlsen --from 2023-01 --to 2023-12",
    )

    def validate_account(self, name: str) -> str:
        from spark_jobs.chesscom.client import validate_username

        return validate_username(name)

    def check_settings(self, env: Mapping[str, str], home: Path) -> ChessComSettings:
        return load_chesscom_settings(env)

    def ready(self, source_settings: ChessComSettings, accounts: Sequence[str]) -> None:
        from spark_jobs.chesscom.client import validate_user_agent

        validate_user_agent(source_settings.user_agent)

    def tables(self):
        from spark_jobs.chesscom.ingest import GAMES_TABLE

        return (GAMES_TABLE,)

    def ingest(
        self,
        spark,
        settings,
        source_settings: ChessComSettings,
        accounts: Sequence[str],
        *,
        first: Any,
        last: Any,
        refresh: bool,
        progress: Callable[[str], None],
        now: datetime | None = None,
    ):
        from spark_jobs.chesscom.client import ChessComClient
        from spark_jobs.chesscom.ingest import run_ingest

        client = ChessComClient(source_settings.api_base, source_settings.user_agent)
        try:
            return run_ingest(
                spark, client, accounts, month_from=first, month_to=last, refresh=refresh,
                now=now, progress=progress,
            )  # fmt: skip
        finally:
            client.close()

    def rebuild(self, spark, accounts: Sequence[str] | None) -> str:
        from spark_jobs.chesscom.ingest import GAMES_TABLE, rebuild_bronze

        n = rebuild_bronze(spark, accounts or None)
        return f"rebuilt {GAMES_TABLE.identifier} from raw: {n} games merged"

    def coverage(self, spark) -> tuple[list[str], list[tuple]]:
        from spark_jobs.chesscom.ingest import GAMES_TABLE

        if not spark.catalog.tableExists(GAMES_TABLE.identifier):
            return ["player"], []
        df = spark.sql(
            f"""
            select player, count(distinct archive_month) as months, count(*) as games,
                   min(archive_month) as first_month, max(archive_month) as last_month
            from {GAMES_TABLE.identifier} group by player order by player
            """
        )
        return df.columns, [tuple(r) for r in df.collect()]

    def summary(self, spark, account: str, layer: str) -> list[str]:
        if layer == "bronze":
            rows = spark.sql(
                f"""
                select time_class, count(*) as games,
                       date_format(min(end_time), 'yyyy-MM-dd') as first_game,
                       date_format(max(end_time), 'yyyy-MM-dd') as last_game
                from lake.bronze.chesscom_games where player = '{account}'
                group by time_class order by games desc
                """
            ).collect()
            return ["lake.bronze.chesscom_games:"] + [
                f"  {r.time_class:8} {r.games:6} games  {r.first_game} .. {r.last_game}"
                for r in rows
            ]
        daily = spark.sql(
            f"""
            select game_date, total_games, total_wins, total_losses, total_draws,
                   round(average_elo) as average_elo
            from lake.marts.agg_rapid_chess_daily where player = '{account}'
            order by game_date desc limit 5
            """
        ).collect()
        lines = ["lake.marts.agg_rapid_chess_daily (latest days):"] + [
            f"  {r.game_date}  {r.total_games:3} games  {r.total_wins}W {r.total_losses}L "
            f"{r.total_draws}D  elo {r.average_elo:.0f}"
            for r in daily
        ]
        best = spark.sql(
            f"""
            select pieces_color, rank, opening, win_ratio from lake.marts.ranked_best_openings
            where player = '{account}' order by pieces_color desc, rank limit 10
            """
        ).collect()
        lines.append("lake.marts.ranked_best_openings:")
        lines += [
            f"  {r.pieces_color:5} #{r.rank} {r.opening:32} win ratio {r.win_ratio}" for r in best
        ]
        return lines

    def describe_result(self, result) -> str:
        status = "ok" if result.ok else "FAILED"
        return (
            f"{result.account}: {status} - {result.listed} archives, {result.changed} changed, "
            f"{result.unchanged} unchanged (304), {result.skipped} final skipped, "
            f"{result.rows_merged} games merged"
        )


SOURCE = ChessComSource()
