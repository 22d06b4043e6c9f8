"""The offline demo: sandbox APIs -> raw -> bronze -> dbt marts on the embedded lakehouse.

    make demo          # or: lakehouse demo

Starts the API sandbox on a free local port with every registered source's app and one
fictional person (a chess.com player who also wears an Oura ring, and a WHOOP for the
last 150 days), runs the real ingestion of every source against it (the same code that
talks to the real APIs), then runs it a second time to show the incremental path
(conditional requests, final periods skipped), builds the dbt marts through the
write-audit-publish gate (`lakehouse transform`), imports the dashboards into Superset
(`lakehouse dashboards import`) and serves them (`lakehouse dashboards serve`;
`--no-serve` stops after the import).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from spark_jobs.settings import Settings


def run_demo(
    settings: Settings,
    *,
    players: Sequence[str],
    since: str,
    echo: Callable[[str], None] = print,
    serve: bool = True,
    host: str = "127.0.0.1",
    port: int = 8088,
) -> int:
    """Run the demo; returns the process exit code (with `serve`, returns only on failure).

    Raises:
        ConfigError: a bad --player or --since.
        DashboardsError: Superset is not installed or its import failed.
    """
    from spark_jobs.common.periods import validate_month
    from spark_jobs.common.session import build_spark
    from spark_jobs.sandbox.server import SandboxServer, mount_sources
    from spark_jobs.sources import all_sources

    validate_month(since, "--since")
    sources = [s for s in all_sources() if s.sandbox_module]
    names = {src.name: [src.validate_account(p) for p in players] for src in sources}
    people = sorted({n for ns in names.values() for n in ns})
    echo(f"lakehouse home: {settings.home}")
    with SandboxServer() as server:
        env = {
            **os.environ,
            **mount_sources(server, people, since, datetime.now(UTC)),
        }
        echo(
            f"sandbox at {server.url} ({', '.join(server.apps)}): "
            f"fictional {', '.join(people)} since {since}"
        )
        spark = build_spark(settings, app_name="lakehouse-demo")
        for src in sources:
            source_settings = src.check_settings(env, settings.home)
            src.ready(source_settings, names[src.name])
            first, _ = src.bounds(src.demo_start(since, datetime.now(UTC)), None)
            for attempt in ("first run (everything new)", "second run (incremental)"):
                report = src.ingest(
                    spark, settings, source_settings, names[src.name], first=first,
                    last=None, refresh=False, progress=lambda m: None,
                )  # fmt: skip
                changed = sum(r.changed for r in report.results)
                echo(
                    f"{src.title} {attempt}: {report.requests} requests, "
                    f"{report.not_modified} x 304, {changed} periods changed, "
                    f"{sum(r.rows_merged for r in report.results)} records merged"
                )
                if not report.ok:
                    for err in report.errors:
                        echo(f"error: {err}")
                    return 1
            for name in names[src.name]:
                for line in src.summary(spark, name, "bronze"):
                    echo(line)
    code = _transform_step(settings, spark, sources, names, echo)
    if code != 0:
        return code
    spark.stop()
    return _dashboards_step(settings, echo, serve=serve, host=host, port=port)


def _dashboards_step(
    settings: Settings, echo: Callable[[str], None], *, serve: bool, host: str, port: int
) -> int:
    """Import the dashboards into Superset, then serve them (or print how to)."""
    from spark_jobs.dashboards import DASHBOARD_SLUGS, dashboard_url, import_dashboards, login_hint
    from spark_jobs.dashboards import serve as serve_superset

    echo("Superset: importing the dashboards...")
    import_dashboards(settings, echo=echo)
    if not serve:
        for slug in DASHBOARD_SLUGS:
            echo(f"dashboard: {dashboard_url(host, port, slug)} after `lakehouse dashboards serve`")
        echo(f"log in as {login_hint(settings)}")
        return 0
    serve_superset(settings, host=host, port=port, echo=echo)  # replaces this process
    return 0


def _transform_step(settings: Settings, spark, sources, names, echo: Callable[[str], None]) -> int:
    """Last step: dbt builds, audits and publishes the marts; print a few of their rows."""
    from spark_jobs.transform import run_transform

    echo("dbt: building lake.marts (write-audit-publish)...")
    code = run_transform(settings, echo=echo)
    if code != 0:
        return code
    for src in sources:
        for name in names[src.name]:
            for line in src.summary(spark, name, "marts"):
                echo(line)
    echo('next: lakehouse sql "select * from lake.marts.fct_chess_games limit 5"')
    return 0
