"""`lakehouse`: the command-line tool that drives the personal-data lakehouse.

    lakehouse ingest chesscom --player hikaru --from 2024-01
    lakehouse sql "select count(*) from lake.bronze.chesscom_games"
    lakehouse demo

Settings come from the environment or a `.env` file (see `lakehouse config`). Exit codes:
0 success, 1 the run finished with errors (details printed; completed work is kept),
2 bad input or configuration (nothing was done).
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import click

log = logging.getLogger("lakehouse")

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"
    )
    # py4j and urllib3 chatter is never useful at INFO.
    for noisy in ("py4j", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _settings():
    from spark_jobs.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        _fail(str(exc))


def _spark(settings, app: str):
    from spark_jobs.common.session import build_spark
    from spark_jobs.settings import SettingsError

    try:
        return build_spark(settings, app_name=app)
    except SettingsError as exc:
        _fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.version_option(package_name="personal-lakehouse")
def main(verbose: int, quiet: bool) -> None:
    """A personal-data lakehouse for chess and health on Apache Iceberg.

    Data flows one way: API -> raw (verbatim responses) -> bronze (typed Iceberg tables)
    -> dbt marts -> dashboards. Everything runs on the deployment described by the
    environment / .env (default: an embedded lakehouse under ./.lakehouse, no servers).
    """
    _setup_logging(verbose, quiet)


# --------------------------------------------------------------------------- ingest
@main.group()
def ingest() -> None:
    """Pull a source's API into the raw and bronze layers (incremental, idempotent)."""


@ingest.command("chesscom")
@click.option(
    "-p",
    "--player",
    "players",
    multiple=True,
    required=True,
    metavar="NAME",
    help="chess.com username; repeat for several players.",
)
@click.option("--from", "month_from", metavar="YYYY-MM", help="First month to ingest.")
@click.option("--to", "month_to", metavar="YYYY-MM", help="Last month to ingest.")
@click.option(
    "--refresh",
    is_flag=True,
    help="Ignore stored state: re-download every month in range (MERGE keeps it idempotent).",
)
def ingest_chesscom(
    players: Sequence[str], month_from: str | None, month_to: str | None, refresh: bool
) -> None:
    """Ingest chess.com monthly game archives into lake.bronze.chesscom_games.

    Without --from/--to every archive the player has is considered; months already
    ingested and final are skipped, the current month is always re-checked (a conditional
    request: an unchanged month costs one 304). Needs CHESSCOM_USER_AGENT with contact
    info, e.g. "personal-lakehouse/0.1 (you@example.com)".

    \b
    Examples:
      lakehouse ingest chesscom --player hikaru
      lakehouse ingest chesscom -p hikaru -p magnuscarlsen --from 2023-01 --to 2023-12
    """
    from spark_jobs.chesscom.client import (
        ChessComClient,
        ConfigError,
        validate_month,
        validate_username,
    )

    settings = _settings()
    try:
        # Validate everything before starting Spark: bad input costs nothing.
        for p in players:
            validate_username(p)
        for value, opt in ((month_from, "--from"), (month_to, "--to")):
            if value:
                validate_month(value, opt)
        client = ChessComClient(settings.chesscom_api_base, settings.chesscom_user_agent)
    except ConfigError as exc:
        _fail(str(exc))
    from spark_jobs.chesscom.ingest import run_ingest

    spark = _spark(settings, "lakehouse-ingest-chesscom")
    try:
        report = run_ingest(
            spark,
            client,
            players,
            month_from=month_from,
            month_to=month_to,
            refresh=refresh,
            progress=log.info,
        )
    except ConfigError as exc:
        _fail(str(exc))
    finally:
        client.close()
    _print_ingest_report(report)
    if not report.ok:
        sys.exit(EXIT_RUN_FAILED)


def _print_ingest_report(report) -> None:
    for r in report.results:
        status = "ok" if r.ok else "FAILED"
        click.echo(
            f"{r.player}: {status} - {r.months_listed} archives, {r.months_changed} changed, "
            f"{r.months_unchanged} unchanged (304), {r.months_skipped} final skipped, "
            f"{r.games_merged} games merged"
        )
    click.echo(
        f"run {report.run_id}: {report.requests} HTTP requests, {report.not_modified} x 304, "
        f"{report.bytes_received / 1024:.0f} KiB received"
    )
    for err in report.errors:
        click.echo(f"error: {err}", err=True)


# -------------------------------------------------------------------------- rebuild
@main.group()
def rebuild() -> None:
    """Rebuild bronze tables from the raw layer alone (no API calls)."""


@rebuild.command("chesscom")
@click.option("-p", "--player", "players", multiple=True, metavar="NAME", help="Only these.")
def rebuild_chesscom(players: Sequence[str]) -> None:
    """Re-parse every stored chess.com archive into lake.bronze.chesscom_games.

    Use after a parser fix or a schema change: the newest stored response of each
    (player, month) is parsed again and merged; nothing is downloaded.
    """
    from spark_jobs.chesscom.client import ConfigError
    from spark_jobs.chesscom.ingest import rebuild_bronze

    settings = _settings()
    spark = _spark(settings, "lakehouse-rebuild-chesscom")
    try:
        n = rebuild_bronze(spark, players or None)
    except ConfigError as exc:
        _fail(str(exc))
    click.echo(f"rebuilt lake.bronze.chesscom_games from raw: {n} games merged")


# ------------------------------------------------------------------------------ sql
def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if hasattr(value, "asDict"):
        return _jsonable(value.asDict(recursive=True))
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    v = _jsonable(value)
    return json.dumps(v) if isinstance(v, list | dict) else str(v)


def format_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> str:
    """Render query results as an aligned table, CSV, or a JSON array of objects."""
    if fmt == "json":
        return json.dumps(
            [{c: _jsonable(v) for c, v in zip(columns, row, strict=True)} for row in rows],
            indent=2,
        )
    if fmt == "csv":
        import io

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else _cell(v) for v in row])
        return buf.getvalue().rstrip("\n")
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def render(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    out = [line, render(columns), line, *[render(r) for r in cells]]
    out += [line, f"({len(rows)} row{'s' if len(rows) != 1 else ''})"]
    return "\n".join(out)


@main.command()
@click.argument("query")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="json prints one array of row objects.",
)
@click.option(
    "-e",
    "--engine",
    type=click.Choice(["spark", "trino"]),
    default="spark",
    show_default=True,
    help="spark: an embedded Spark session; trino: the Trino server at "
    "TRINO_HOST:TRINO_PORT (`lakehouse stack env` sets them).",
)
def sql(query: str, fmt: str, engine: str) -> None:
    """Run a SQL QUERY on the lakehouse and print the result.

    Tables are addressed as lake.<namespace>.<table> (or <namespace>.<table>: `lake` is
    the default catalog). Spark SQL by default; Trino SQL with --engine trino.

    \b
    Examples:
      lakehouse sql "select count(*) from lake.bronze.chesscom_games"
      lakehouse sql "show tables in lake.bronze" --format json
      lakehouse sql -e trino "select * from lake.marts.agg_chess_rating_daily limit 5"
    """
    if engine == "trino":
        from spark_jobs.trino_sql import TrinoQueryError, run_trino_query

        try:
            columns, rows = run_trino_query(query)
        except TrinoQueryError as exc:
            _fail(str(exc))
        click.echo(format_rows(columns, rows, fmt))
        return
    from pyspark.errors import PySparkException

    settings = _settings()
    spark = _spark(settings, "lakehouse-sql")
    try:
        df = spark.sql(query)
        rows = df.collect()
    except PySparkException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        _fail(f"query failed: {first}")
    click.echo(format_rows(df.columns, rows, fmt))


# --------------------------------------------------------------------------- config
@main.command()
def config() -> None:
    """Print the resolved deployment settings (secrets redacted)."""
    settings = _settings()
    for key, value in settings.redacted().items():
        click.echo(f"{key:20} {value}")


@main.command("spark-conf")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the file here (atomically) instead of printing it.",
)
def spark_conf(output: str | None) -> None:
    """Print the Spark properties for spark-submit on this deployment (no secrets).

    \b
    The jars (Iceberg runtime, JDBC driver), the `lake` catalog and session defaults,
    resolved from the same settings as every `lakehouse` command. Secrets are left out:
    a job reads them from its environment when it starts.

    \b
    Examples:
      lakehouse spark-conf -o lakehouse.conf
      spark-submit --properties-file lakehouse.conf \\
          spark_jobs/jobs/chesscom_ingest.py --players hikaru --from 2024-01 --to 2024-03
    """
    from spark_jobs.common.files import write_atomic
    from spark_jobs.common.session import render_properties, submit_properties
    from spark_jobs.settings import SettingsError

    settings = _settings()
    try:
        props = submit_properties(settings)
    except SettingsError as exc:
        _fail(str(exc))
    header = (
        "Spark properties for the lakehouse jobs, written by `lakehouse spark-conf`.\n"
        "Use: spark-submit --properties-file FILE spark_jobs/jobs/<job>.py ...\n"
        "--conf and --master on the command line override these values."
    )
    text = render_properties(props, header)
    if output:
        click.echo(f"wrote {write_atomic(output, text, mode=0o644)}", err=True)
    else:
        click.echo(text, nl=False)


@main.command()
def status() -> None:
    """Show what has been ingested: runs, months and games per player."""
    settings = _settings()
    spark = _spark(settings, "lakehouse-status")
    if not spark.catalog.tableExists("lake.raw.ingest_runs"):
        click.echo("nothing ingested yet: run `lakehouse ingest chesscom --player NAME`")
        return
    df = spark.sql(
        """
        select r.source, r.account,
               max(case when r.status = 'success' then r.finished_at end) as last_success,
               max(r.finished_at) as last_run,
               max_by(r.status, r.finished_at) as last_status
        from lake.raw.ingest_runs r group by r.source, r.account order by 1, 2
        """
    )
    click.echo(format_rows(df.columns, df.collect(), "table"))


# ---------------------------------------------------------------------------- stack
def _stack():
    from spark_jobs.stack.services import Stack, StackError

    settings = _settings()
    try:
        return Stack(settings.home)
    except StackError as exc:
        _fail(str(exc))


@main.group()
def stack() -> None:
    """The production-shaped stack on this machine, without Docker.

    \b
    PostgreSQL (the Iceberg JDBC catalog), an S3 server (versitygw, the warehouse),
    Trino 476 (dbt's production target, SQL, dashboards) and a Spark standalone master
    and worker, on loopback, from pinned distributions downloaded once into
    ~/.cache/lakehouse. State, logs and generated credentials (mode 0600) live under
    $LAKEHOUSE_HOME/stack. Ports: LAKEHOUSE_STACK_{POSTGRES,S3,TRINO,SPARK}_PORT.

    \b
    Examples:
      lakehouse stack up
      eval "$(lakehouse stack env)"
      lakehouse ingest chesscom -p hikaru
      lakehouse transform --target trino
      lakehouse sql --engine trino "select count(*) from lake.marts.fct_chess_games"
      lakehouse stack down
    """


@stack.command("up")
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(["postgres", "s3", "trino", "spark"]),
    help="Start only these services (repeatable); default all.",
)
def stack_up(only: Sequence[str]) -> None:
    """Start every service that is not running; returns when each one answers.

    Idempotent: running services are checked, not restarted. The first run downloads
    Trino and builds the S3 server (`make setup` does it ahead).
    """
    from spark_jobs.settings import SettingsError
    from spark_jobs.stack.services import StackError

    st = _stack()
    click.echo(f"stack under {st.cfg.root}:")
    try:
        st.up(echo=click.echo, only=set(only) or None)
    except (StackError, SettingsError) as exc:
        _fail(str(exc), EXIT_RUN_FAILED)
    click.echo('point every command at it: eval "$(lakehouse stack env)"')


@stack.command("down")
def stack_down() -> None:
    """Stop the services `stack up` started (data is kept for the next `up`)."""
    st = _stack()
    st.down(echo=click.echo)
    click.echo("stack stopped")


@stack.command("status")
def stack_status() -> None:
    """Show each service, its state and its endpoint; exit 1 if any is not ready."""
    st = _stack()
    rows = st.status()
    click.echo(format_rows(["service", "state", "endpoint"], rows, "table"))
    if any(state != "ready" for _, state, _ in rows):
        sys.exit(EXIT_RUN_FAILED)


@stack.command("env")
def stack_env() -> None:
    """Print `export` lines that point every command at the stack (for eval).

    \b
    Sets the catalog (PostgreSQL), the warehouse (s3://lakehouse/warehouse on the S3
    server) and its keys, the Spark master, Trino (TRINO_*), dbt's target (trino) and
    the dashboards' engine (trino). Contains the stack's generated secrets: eval it,
    do not commit it.
    """
    import shlex

    st = _stack()
    for key, value in st.env().items():
        click.echo(f"export {key}={shlex.quote(value)}")


# ------------------------------------------------------------------------- sandbox
@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option(
    "--player",
    "players",
    multiple=True,
    default=("demo_player",),
    show_default=True,
    help="Fictional chess.com player(s) to generate.",
)
@click.option("--since", default="2021-01", show_default=True, metavar="YYYY-MM")
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def sandbox(host: str, port: int, players: Sequence[str], since: str, verbose: bool) -> None:
    """Serve the offline API sandbox (chess.com contract) until Ctrl-C.

    Point the pipeline at it with CHESSCOM_API_BASE=http://HOST:PORT/chesscom/pub.
    Generated players have deterministic games from --since to the current month.
    """
    from spark_jobs.sandbox.chesscom import ChessComStore
    from spark_jobs.sandbox.chesscom_generator import generate_history_until
    from spark_jobs.sandbox.server import run_sandbox

    now = datetime.now(UTC)
    store = ChessComStore()
    for name in players:
        store.add_player(name.lower(), generate_history_until(name.lower(), since, now))
    run_sandbox(host, port, chesscom_store=store, verbose=verbose)


# ------------------------------------------------------------------------ transform
@main.command()
@click.option(
    "--target",
    type=click.Choice(["local", "trino"]),
    envvar="LAKEHOUSE_DBT_TARGET",
    default="local",
    show_default=True,
    help="local: embedded Spark (dbt-spark session mode) on the lakehouse catalog; "
    "trino: the production Trino (TRINO_HOST, TRINO_PORT, TRINO_USER, TRINO_CATALOG). "
    "Default from LAKEHOUSE_DBT_TARGET.",
)
@click.option("-s", "--select", metavar="SELECTOR", help="dbt selection, e.g. 'fct_chess_games+'.")
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Reload incremental marts from bronze, still through the audit gate.",
)
def transform(target: str, select: str | None, full_refresh: bool) -> None:
    """Build the dbt marts (lake.marts.*) with write-audit-publish.

    \b
    Write-audit-publish: readers never see marts that failed their tests.
      local: every mart is an Iceberg table with an `audit` branch; dbt builds and
             tests on that branch (spark.wap.branch), and only when every model, data
             test and unit test passed is `main` fast-forwarded to it (metadata only).
      trino: dbt builds and tests in schema marts_audit, then each mart is replaced
             atomically (CREATE OR REPLACE TABLE marts.t AS SELECT * FROM marts_audit.t).
    A failure publishes nothing, prints the failing tests and exits 1; the audited
    data stays inspectable (local: `... version as of 'audit'`).

    \b
    Examples:
      lakehouse transform
      lakehouse transform --select fct_chess_games+
      lakehouse transform --full-refresh
    """
    from spark_jobs.settings import SettingsError
    from spark_jobs.transform import run_transform

    settings = _settings()
    try:
        code = run_transform(
            settings, target=target, select=select, full_refresh=full_refresh, echo=click.echo
        )
    except SettingsError as exc:
        _fail(str(exc))
    sys.exit(code)


# ----------------------------------------------------------------------- dashboards
def _dashboards_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call fn; Superset set-up errors exit 1, configuration errors exit 2 (with the fix)."""
    from spark_jobs.dashboards import DashboardsError
    from spark_jobs.settings import SettingsError

    try:
        return fn(*args, **kwargs)
    except (DashboardsError, SettingsError) as exc:
        _fail(str(exc), EXIT_RUN_FAILED if isinstance(exc, DashboardsError) else EXIT_BAD_INPUT)


@main.group()
def dashboards() -> None:
    """Superset dashboards as code (bundle in superset/dashboards, own venv .venv-superset).

    \b
    Engine (LAKEHOUSE_SUPERSET_ENGINE):
      duckdb  default: the embedded lakehouse, read through the DuckDB serving file
              $LAKEHOUSE_HOME/serving/lakehouse.duckdb (views over the Iceberg marts)
      trino   production: trino://$TRINO_USER@$TRINO_HOST:$TRINO_PORT/$TRINO_CATALOG
    Admin user `admin`: password from SUPERSET_ADMIN_PASSWORD, else generated once into
    $LAKEHOUSE_HOME/superset/admin_password (mode 0600).

    \b
    Examples:
      lakehouse dashboards import
      lakehouse dashboards serve --port 8088
    """


@dashboards.command("import")
def dashboards_import() -> None:
    """Set up Superset and (re)import the Chess dashboard; safe to repeat.

    Upgrades Superset's metadata DB, creates the admin user if missing, refreshes the
    serving file, and imports the connection, datasets, charts and dashboard (by UUID:
    no duplicates; a changed engine or YAML file replaces the stored one).
    """
    from spark_jobs.dashboards import import_dashboards

    settings = _settings()
    click.echo("Superset: importing the dashboards bundle")
    conn = _dashboards_call(import_dashboards, settings, echo=click.echo)
    click.echo(f"imported (engine {conn.engine}); run `lakehouse dashboards serve`")


@dashboards.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8088, show_default=True, type=int)
def dashboards_serve(host: str, port: int) -> None:
    """Run Superset (gunicorn) in the foreground until Ctrl-C."""
    from spark_jobs.dashboards import serve

    settings = _settings()
    _dashboards_call(serve, settings, host=host, port=port, echo=click.echo)


@dashboards.command("refresh")
def dashboards_refresh() -> None:
    """Rewrite the DuckDB serving file (one view per mart on its published snapshot).

    `lakehouse transform` does this after every publish; run it after other writes.
    """
    from spark_jobs.serving import refresh_serving

    settings = _settings()
    path = _dashboards_call(refresh_serving, settings)
    click.echo(f"serving file refreshed: {path}")


# ----------------------------------------------------------------------------- demo
@main.command()
@click.option("--player", default="demo_player", show_default=True, help="Fictional player.")
@click.option("--since", default="2022-01", show_default=True, metavar="YYYY-MM")
@click.option(
    "--no-serve",
    is_flag=True,
    help="Import the dashboards, then exit instead of serving them (tests, CI).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Superset address.")
@click.option("--port", default=8088, show_default=True, type=int, help="Superset port.")
def demo(player: str, since: str, no_serve: bool, host: str, port: int) -> None:
    """Run the whole pipeline offline on the embedded lakehouse, ending in Superset.

    Starts the API sandbox on a free local port, generates a fictional player's games
    from --since to today, ingests them (raw -> bronze), builds the dbt marts, imports
    the Chess dashboard into Superset and serves it (Ctrl-C stops it). Nothing leaves
    this machine; the lakehouse lives under LAKEHOUSE_HOME (default ./.lakehouse).
    """
    from spark_jobs.demo import run_demo

    settings = _settings()
    code = _dashboards_call(
        run_demo,
        settings,
        player=player,
        since=since,
        echo=click.echo,
        serve=not no_serve,
        host=host,
        port=port,
    )
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
