"""`lakehouse`: the command-line tool that drives the personal-data lakehouse.

    lakehouse ingest chesscom --player hikaru --from 2024-01
    lakehouse sql "select count(*) from lake.bronze.chesscom_games"
    lakehouse demo

Settings come from the environment or a `.env` file (see `lakehouse config`). Exit codes:
0 success, 1 the run finished with errors (details printed; completed work is kept),
2 bad input or configuration (nothing was done, or the API refused the input: 422),
75 another run holds the lakehouse lock the command needs (nothing was done; --wait).
"""

from __future__ import annotations

import csv
import inspect
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import click

from spark_jobs.common.lock import EXIT_LOCKED

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
    from spark_jobs.common import progress

    logging.getLogger().addHandler(progress.TouchHandler())  # heartbeats count log lines
    progress.QUIET = quiet


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    """Print `error: message` and exit with `code`; no traceback unless `lakehouse -v`.

    The message names the input and the fix; the traceback of the error being handled is
    only for someone debugging the tool itself.
    """
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.find_root().params.get("verbose") and sys.exc_info()[0]:
        import traceback

        traceback.print_exc()
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _settings():
    from spark_jobs.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        _fail(str(exc))


def _spark(settings, app: str):
    from spark_jobs.common.catalog import check_catalog_reachable
    from spark_jobs.common.progress import heartbeat
    from spark_jobs.common.session import build_spark
    from spark_jobs.settings import SettingsError

    try:
        check_catalog_reachable(settings)  # before "starting Spark": it would not start
        with heartbeat(f"starting Spark ({settings.spark_master})", log.info):
            return build_spark(settings, app_name=app)
    except SettingsError as exc:
        _fail(str(exc))


class _LakehouseGroup(click.Group):
    """The root group: a held lakehouse lock (LockHeld, raised by whichever command or
    library call met it) ends the command with its one-line message and exit 75."""

    def invoke(self, ctx: click.Context) -> Any:
        from spark_jobs.common.lock import LockHeld

        try:
            return super().invoke(ctx)
        except LockHeld as exc:
            _fail(str(exc), EXIT_LOCKED)


def _wait_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--wait` and `--wait-timeout` for a command that writes the lakehouse."""
    from spark_jobs.common.lock import DEFAULT_WAIT_TIMEOUT

    command = click.option(
        "--wait-timeout", type=click.FloatRange(min=0), default=int(DEFAULT_WAIT_TIMEOUT),
        show_default=True, metavar="SECONDS", help="How long --wait waits for the lock.",
    )(command)  # fmt: skip
    return click.option(
        "--wait",
        is_flag=True,
        help="When another run holds the lakehouse lock, wait for it (a line every 30 s) "
        "instead of exiting 75 at once.",
    )(command)


def _lakehouse_lock(settings, scopes, wait: bool, wait_timeout: float):
    """Hold the lakehouse locks `scopes` (spark_jobs/common/lock.py) for a `with` block;
    taken before Spark starts, so a run that has to give way costs nothing."""
    from spark_jobs.common.lock import hold_locks

    return hold_locks(
        settings.home, scopes, wait=wait, timeout=wait_timeout,
        progress=lambda line: click.echo(line, err=True),
    )  # fmt: skip


@click.group(
    cls=_LakehouseGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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


# ------------------------------------------------------------------ ingest, rebuild
def _source_env() -> dict[str, str]:
    import os

    return dict(os.environ)  # load_settings() has merged .env into it


def _ingest_command(src) -> click.Command:
    """`lakehouse ingest <source>`: the same options for every source, in its own words."""
    unit = "YYYY-MM" if src.period == "month" else "YYYY-MM-DD"
    opt = src.account
    flags = [f"--{opt.name}"] + ([f"-{opt.short}"] if opt.short else [])
    default = f" Default: ${opt.env_default}" if opt.env_default else ""
    default += f", else {opt.fallback!r}." if opt.fallback else ("." if default else "")
    examples = "\n".join(f"  {e}" for e in src.ingest_examples)
    help_text = f"{inspect.cleandoc(src.ingest_help)}\n\n\b\nExamples:\n{examples}\n"

    @click.option(*flags, "accounts", multiple=True, metavar="NAME", help=opt.help + default)
    @click.option("--from", "first", metavar=unit, help=f"First {src.period} to ingest.")
    @click.option("--to", "last", metavar=unit, help=f"Last {src.period} to ingest.")
    @click.option(
        "--refresh",
        is_flag=True,
        help="Ignore stored state: re-download everything in range (MERGE keeps it idempotent).",
    )
    @_wait_options
    def command(
        accounts: Sequence[str],
        first: str | None,
        last: str | None,
        refresh: bool,
        wait: bool,
        wait_timeout: float,
    ):
        from spark_jobs.common.errors import ConfigError
        from spark_jobs.common.lock import ingest_locks

        settings = _settings()
        try:
            # Validate everything before starting Spark: bad input costs nothing.
            names = src.accounts(accounts, _source_env())
            lo, hi = src.bounds(first, last)
            source_settings = src.check_settings(_source_env(), settings.home)
            src.ready(source_settings, names)
        except ConfigError as exc:
            _fail(str(exc))
        # The source shared, each account exclusively, for the whole run; run_ingest takes
        # the same locks again, a no-op in this process.
        with _lakehouse_lock(settings, ingest_locks(src.name, names), wait, wait_timeout):
            spark = _spark(settings, f"lakehouse-ingest-{src.name}")
            try:
                report = src.ingest(
                    spark, settings, source_settings, names, first=lo, last=hi,
                    refresh=refresh, progress=log.info,
                )  # fmt: skip
            except ConfigError as exc:
                _fail(str(exc))
        _print_ingest_report(src, report)
        if not report.ok:
            sys.exit(EXIT_BAD_INPUT if report.bad_input else EXIT_RUN_FAILED)

    return click.command(src.name, help=help_text)(command)


def _print_ingest_report(src, report) -> None:
    for r in report.results:
        click.echo(src.describe_result(r))
    click.echo(
        f"run {report.run_id}: {report.requests} HTTP requests, {report.not_modified} x 304, "
        f"{report.bytes_received / 1024:.0f} KiB received"
    )
    for err in report.errors:
        click.echo(f"error: {err}", err=True)


def _rebuild_command(src) -> click.Command:
    opt = src.account

    @click.option(
        f"--{opt.name}", *([f"-{opt.short}"] if opt.short else []), "accounts", multiple=True,
        metavar="NAME", help="Only these (default: every one in raw).",
    )  # fmt: skip
    @_wait_options
    def command(accounts: Sequence[str], wait: bool, wait_timeout: float) -> None:
        from spark_jobs.common.errors import ConfigError
        from spark_jobs.common.lock import rebuild_locks
        from spark_jobs.common.progress import heartbeat

        settings = _settings()
        try:
            names = [src.validate_account(a) for a in accounts]
        except ConfigError as exc:
            _fail(str(exc))
        # The source exclusively: a rebuild rewrites its bronze, so no ingest of any of
        # its accounts may run meanwhile (they hold the source's lock shared).
        with _lakehouse_lock(settings, rebuild_locks(src.name), wait, wait_timeout):
            spark = _spark(settings, f"lakehouse-rebuild-{src.name}")
            try:
                with heartbeat(f"rebuilding {src.title} bronze from raw", log.info):
                    summary = src.rebuild(spark, names or None)
                click.echo(summary)
            except ConfigError as exc:
                _fail(str(exc))

    return click.command(
        src.name,
        help=f"Re-parse every stored {src.title} response into its bronze tables.\n\n"
        "Use after a parser fix or a schema change: the newest stored response of each "
        "period is parsed again and merged; nothing is downloaded.",
    )(command)


def _auth_command(src) -> click.Command:
    @click.option(
        f"--{src.account.name}", "account", metavar="NAME", help=src.account.help +
        (f" Default: {src.account.fallback!r}." if src.account.fallback else ""),
    )  # fmt: skip
    @click.option(
        "--headless",
        is_flag=True,
        help="Do not listen on the redirect URI: paste the URL the browser was sent to.",
    )
    def command(account: str | None, headless: bool) -> None:
        from spark_jobs.common.errors import ConfigError

        settings = _settings()
        try:
            (name,) = src.accounts([account] if account else [], _source_env())
            path = src.authorize(settings, name, headless=headless, echo=click.echo)
        except ConfigError as exc:
            _fail(str(exc))
        click.echo(f"{src.title}: token for {name!r} saved to {path} (mode 0600)")

    return click.command(
        src.name,
        help=f"Authorise this lakehouse to read your {src.title} data (OAuth2).\n\n"
        "Prints (and opens) the authorisation URL, receives the code on the redirect URI, "
        "exchanges it and keeps the token pair in a file only you can read.",
    )(command)


@main.group()
def ingest() -> None:
    """Pull a source's API into the raw and bronze layers (incremental, idempotent)."""


@main.group()
def rebuild() -> None:
    """Rebuild bronze tables from the raw layer alone (no API calls)."""


@main.group()
def auth() -> None:
    """Authorise access to a source's API (sources that need OAuth)."""


def _register_source_commands() -> None:
    from spark_jobs.sources import all_sources

    for src in all_sources():
        ingest.add_command(_ingest_command(src))
        rebuild.add_command(_rebuild_command(src))
        if src.needs_auth:
            auth.add_command(_auth_command(src))


_register_source_commands()


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
    from spark_jobs.common.errors import ConfigError
    from spark_jobs.settings import redact_uri
    from spark_jobs.sources import all_sources

    settings = _settings()
    values = settings.redacted()
    for src in all_sources():
        try:
            values.update(src.check_settings(_source_env(), settings.home).redacted())
        except ConfigError as exc:
            _fail(str(exc))
    for key, value in values.items():
        # Any URL may carry a password (user info, ?password=): never print it.
        click.echo(f"{key:24} {redact_uri(value)}")


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
    resolved from the same settings as every `lakehouse` command, and this interpreter
    as the job's Python (the driver's; on a local master the workers' too). Secrets are
    left out: a job reads them from its environment when it starts.

    \b
    Examples (from the repository root; PYSPARK_PYTHON lets the venv's spark-submit
    find its Spark without an activated venv):
      .venv/bin/lakehouse spark-conf -o lakehouse.conf
      PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit --properties-file lakehouse.conf \\
          spark_jobs/jobs/ingest.py --source chesscom --players hikaru --from 2024-01 --to 2024-03
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
        "--conf and --master on the command line override these values; on a cluster,\n"
        "set spark.pyspark.python to the workers' interpreter."
    )
    text = render_properties(props, header)
    if output:
        click.echo(f"wrote {write_atomic(output, text, mode=0o644)}", err=True)
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("sources", nargs=-1, metavar="[SOURCE]...")
def status(sources: Sequence[str]) -> None:
    """Show the latest transform runs, each source's runs per account, and what its
    bronze holds per account.

    \b
    Transform: how each of the latest runs ended (published, unchanged, failed,
    interrupted, or `publish cut short`: killed between two marts' publishes; the next
    `lakehouse transform` completes it first).
    \b
    Runs: how many, how the last one ended (success, failed, interrupted, or running),
    when it started, the last success. A run whose process is gone (kill -9, a lost
    machine) shows as interrupted; rerunning the ingest resumes it and closes it in the
    log. Bronze: months and games per chess.com player, days and documents per Oura
    account. Accounts with data but no logged run get the command that logs one.

    \b
    Examples:
      lakehouse status
      lakehouse status chesscom
    """
    from spark_jobs.common.errors import ConfigError
    from spark_jobs.sources import all_sources, get_source
    from spark_jobs.status import as_text, lakehouse_status, transform_rows

    try:
        chosen = [get_source(s) for s in sources] if sources else all_sources()
    except ConfigError as exc:
        _fail(str(exc))
    settings = _settings()
    spark = _spark(settings, "lakehouse-status")
    transforms = [] if sources else transform_rows(spark)
    click.echo(as_text(lakehouse_status(spark, chosen), format_rows, transforms), nl=False)


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
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    envvar="LAKEHOUSE_SANDBOX_PORT",
    help="Default from LAKEHOUSE_SANDBOX_PORT (0: any free port).",
)
@click.option(
    "--account",
    "--player",
    "accounts",
    multiple=True,
    default=("demo_player",),
    show_default=True,
    help="Fictional person(s) to generate: a chess.com player, an Oura ring owner, ...",
)
@click.option("--since", default="2021-01", show_default=True, metavar="YYYY-MM")
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def sandbox(host: str, port: int, accounts: Sequence[str], since: str, verbose: bool) -> None:
    """Serve the offline API sandbox (every source's contract) until Ctrl-C.

    Prints the `export` lines that point the pipeline at it (e.g. CHESSCOM_API_BASE).
    Generated data is deterministic, from --since to the current day.
    """
    import errno
    import socket

    from spark_jobs.common.errors import ConfigError
    from spark_jobs.common.periods import validate_month
    from spark_jobs.sandbox.server import run_sandbox

    try:
        validate_month(since, "--since")
    except ConfigError as exc:
        _fail(str(exc))
    # Bind once before generating any data, exactly as the server will (IPv4,
    # SO_REUSEADDR): a busy port is an input to change, not a traceback. 0: any free port.
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except socket.gaierror:
        _fail(f"--host {host!r} is not a known address; e.g. --host 127.0.0.1")
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            _fail(f"port {port} on {host} is in use: choose another with --port N (0: any)")
        if exc.errno == errno.EADDRNOTAVAIL:
            _fail(f"--host {host} is not an address of this machine; e.g. --host 127.0.0.1")
        if exc.errno == errno.EACCES:
            _fail(f"port {port} needs privileges: choose --port 1024 or above")
        _fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}): check --host/--port")
    names = [a.lower() for a in accounts]
    run_sandbox(host, port, accounts=names, since=since, verbose=verbose)


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
@_wait_options
def transform(
    target: str, select: str | None, full_refresh: bool, wait: bool, wait_timeout: float
) -> None:
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
    Pay for what changed (local): a plain run builds and tests only the marts
    downstream of the sources whose bronze moved since the last publish, skips the
    unit tests while the dbt project is unchanged, and does nothing (exit 0, no commit)
    when no bronze moved. --select or --full-refresh runs exactly what they say.

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
        # run_transform holds the `transform` lock before it starts Spark or dbt.
        code = run_transform(
            settings, target=target, select=select, full_refresh=full_refresh, echo=click.echo,
            wait=wait, wait_timeout=wait_timeout,
        )  # fmt: skip
    except SettingsError as exc:
        _fail(str(exc))
    sys.exit(code)


# ----------------------------------------------------------------------------- docs
@main.command()
@click.option(
    "--target",
    type=click.Choice(["local", "trino"]),
    envvar="LAKEHOUSE_DBT_TARGET",
    default="local",
    show_default=True,
    help="The engine dbt reads the warehouse's catalog through, as for `lakehouse transform`. "
    "Default from LAKEHOUSE_DBT_TARGET.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option(
    "--port", default=8580, show_default=True, type=click.IntRange(1, 65535), help="Port."
)
@click.option(
    "--no-serve",
    is_flag=True,
    help="Generate only: print where the site is (static_index.html opens without a server).",
)
def docs(target: str, host: str, port: int, no_serve: bool) -> None:
    """Build dbt's documentation of the models and serve it on this machine.

    \b
    `dbt docs generate` on the target, into $LAKEHOUSE_HOME/dbt/docs-<target>/:
      every model and source with its description, columns and their descriptions,
      the data and unit tests on each, the lineage graph (bronze sources -> staging ->
      intermediate -> marts), and each table's columns and types as the warehouse
      holds them now (catalog.json).
    Then serves it (Python's http.server, loopback) until Ctrl-C. Needs the published
    marts: run `lakehouse transform` first (exit 2 otherwise).

    \b
    Examples:
      lakehouse docs                       # http://127.0.0.1:8580/
      lakehouse docs --port 9000
      lakehouse docs --no-serve
      lakehouse docs --target trino        # after eval "$(lakehouse stack env)"
    """
    from spark_jobs.docs import DocsError, generate_docs, serve_docs
    from spark_jobs.settings import SettingsError

    settings = _settings()
    try:
        site = generate_docs(settings, target=target, echo=click.echo)
    except SettingsError as exc:
        _fail(str(exc))
    except DocsError as exc:
        _fail(str(exc), exc.code)
    if no_serve:
        click.echo(f"dbt docs: {site.site_dir} (serve it: python -m http.server -d DIR)")
        click.echo(f"without a server: file://{site.static_page}")
        return
    serve_docs(site, host=host, port=port, echo=click.echo)


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
@click.option(
    "--port",
    default=8088,
    show_default=True,
    type=int,
    envvar="LAKEHOUSE_SUPERSET_PORT",
    help="Default from LAKEHOUSE_SUPERSET_PORT.",
)
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
@click.option(
    "--player",
    "players",
    multiple=True,
    default=("demo_player",),
    show_default=True,
    help="Fictional person (a chess.com player who wears an Oura ring and a WHOOP); repeatable.",
)
@click.option("--since", default="2022-01", show_default=True, metavar="YYYY-MM")
@click.option(
    "--no-serve",
    is_flag=True,
    help="Import the dashboards, then exit instead of serving them (tests, CI).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Superset address.")
@click.option("--port", default=8088, show_default=True, type=int, help="Superset port.")
def demo(players: Sequence[str], since: str, no_serve: bool, host: str, port: int) -> None:
    """Run the whole pipeline offline on the embedded lakehouse, ending in Superset.

    Starts the API sandbox (every source) on a free local port with fictional people:
    chess games from --since to today, Oura nights and days for the last year and WHOOP
    cycles, sleeps and workouts for the last 150 days (at most); ingests every source
    (raw -> bronze) twice, the second time incrementally, builds the dbt marts, imports
    the Chess and Health dashboards into Superset and serves them (Ctrl-C stops it).
    Nothing leaves this machine; the lakehouse lives under LAKEHOUSE_HOME (default
    ./.lakehouse).
    """
    from spark_jobs.common.errors import ConfigError
    from spark_jobs.demo import run_demo

    settings = _settings()
    try:
        code = _dashboards_call(
            run_demo,
            settings,
            players=players,
            since=since,
            echo=click.echo,
            serve=not no_serve,
            host=host,
            port=port,
        )
    except ConfigError as exc:
        _fail(str(exc))
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
