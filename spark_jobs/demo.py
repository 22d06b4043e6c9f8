"""The offline demo: sandbox APIs -> raw -> bronze -> dbt marts on the embedded lakehouse.

    make demo          # or: lakehouse demo

Starts the API sandbox on a free local port with a generated fictional player, runs the
real ingestion against it (the same code that talks to api.chess.com), then runs it a
second time to show the incremental path (one archives list + one 304 per player), builds
the dbt marts through the write-audit-publish gate (`lakehouse transform`), imports the
Chess dashboard into Superset (`lakehouse dashboards import`) and serves it
(`lakehouse dashboards serve`; `--no-serve` stops after the import).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from spark_jobs.settings import Settings

DEMO_USER_AGENT = "personal-lakehouse-demo/0.1 (demo@localhost)"


def run_demo(
    settings: Settings,
    *,
    player: str,
    since: str,
    echo: Callable[[str], None] = print,
    serve: bool = True,
    host: str = "127.0.0.1",
    port: int = 8088,
) -> int:
    """Run the demo; returns the process exit code (with `serve`, returns only on failure).

    Raises:
        DashboardsError: Superset is not installed or its import failed.
    """
    from spark_jobs.chesscom.client import ChessComClient, validate_username
    from spark_jobs.chesscom.ingest import run_ingest
    from spark_jobs.common.session import build_spark
    from spark_jobs.sandbox.chesscom import ChessComApp, ChessComStore
    from spark_jobs.sandbox.chesscom_generator import generate_history_until
    from spark_jobs.sandbox.server import SandboxServer

    player = validate_username(player)
    now = datetime.now(UTC)
    store = ChessComStore()
    store.add_player(player, generate_history_until(player, since, now))
    echo(f"lakehouse home: {settings.home}")
    with SandboxServer() as server:
        server.mount("chesscom", ChessComApp(store))
        base = server.base_url("chesscom")
        echo(f"sandbox: chess.com API at {base} (fictional player {player!r} since {since})")
        spark = build_spark(settings, app_name="lakehouse-demo")
        for attempt in ("first run (everything new)", "second run (incremental)"):
            client = ChessComClient(base, settings.chesscom_user_agent or DEMO_USER_AGENT)
            try:
                report = run_ingest(spark, client, [player], progress=lambda m: None)
            finally:
                client.close()
            r = report.results[0]
            echo(
                f"{attempt}: {report.requests} requests, {report.not_modified} x 304, "
                f"{r.months_changed} months changed, {r.games_merged} games merged"
            )
            if not report.ok:
                for err in report.errors:
                    echo(f"error: {err}")
                return 1
    summary = spark.sql(
        f"""
        select time_class, count(*) as games,
               date_format(min(end_time), 'yyyy-MM-dd') as first_game,
               date_format(max(end_time), 'yyyy-MM-dd') as last_game
        from lake.bronze.chesscom_games where player = '{player}'
        group by time_class order by games desc
        """
    ).collect()
    echo("lake.bronze.chesscom_games:")
    for row in summary:
        echo(f"  {row.time_class:8} {row.games:6} games  {row.first_game} .. {row.last_game}")
    code = _transform_step(settings, spark, player, echo)
    if code != 0:
        return code
    spark.stop()
    return _dashboards_step(settings, echo, serve=serve, host=host, port=port)


def _dashboards_step(
    settings: Settings, echo: Callable[[str], None], *, serve: bool, host: str, port: int
) -> int:
    """Import the Chess dashboard into Superset, then serve it (or print how to)."""
    from spark_jobs.dashboards import dashboard_url, import_dashboards, login_hint
    from spark_jobs.dashboards import serve as serve_superset

    echo("Superset: importing the Chess dashboard...")
    import_dashboards(settings, echo=echo)
    if not serve:
        echo(f"dashboard: {dashboard_url(host, port)} after `lakehouse dashboards serve`")
        echo(f"log in as {login_hint(settings)}")
        return 0
    serve_superset(settings, host=host, port=port, echo=echo)  # replaces this process
    return 0


def _transform_step(settings: Settings, spark, player: str, echo: Callable[[str], None]) -> int:
    """Last step: dbt builds, audits and publishes the marts; print a few of their rows."""
    from spark_jobs.transform import run_transform

    echo("dbt: building lake.marts (write-audit-publish)...")
    code = run_transform(settings, echo=echo)
    if code != 0:
        return code
    rows = spark.sql(
        f"""
        select game_date, total_games, total_wins, total_losses, total_draws,
               round(average_elo) as average_elo
        from lake.marts.agg_rapid_chess_daily where player = '{player}'
        order by game_date desc limit 5
        """
    ).collect()
    echo("lake.marts.agg_rapid_chess_daily (latest days):")
    for r in rows:
        echo(
            f"  {r.game_date}  {r.total_games:3} games  {r.total_wins}W {r.total_losses}L "
            f"{r.total_draws}D  elo {r.average_elo:.0f}"
        )
    best = spark.sql(
        f"""
        select pieces_color, rank, opening, win_ratio from lake.marts.ranked_best_openings
        where player = '{player}' order by pieces_color desc, rank limit 10
        """
    ).collect()
    echo("lake.marts.ranked_best_openings:")
    for r in best:
        echo(f"  {r.pieces_color:5} #{r.rank} {r.opening:32} win ratio {r.win_ratio}")
    echo('next: lakehouse sql "select * from lake.marts.fct_chess_games limit 5"')
    return 0
