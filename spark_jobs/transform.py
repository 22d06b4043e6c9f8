"""Run the dbt project (bronze -> staging -> marts) with a write-audit-publish gate.

    lakehouse transform                      # embedded Spark, every model, WAP
    lakehouse transform --select fct_chess_games+
    lakehouse transform --target trino       # production Trino (audit schema + swap)
    python -m spark_jobs.transform --print-env   # exports for plain `dbt` commands

Write-audit-publish on the embedded target (`local`, dbt-spark in session mode) uses
Iceberg branches, the lakehouse's native WAP:

1. every published mart `lake.marts.<t>` is an Iceberg table with `write.wap.enabled`;
   a mart that does not exist yet is first created empty (`dbt build --empty`);
2. each mart gets a branch `audit` reset to its current `main` snapshot;
3. with `spark.wap.branch=audit` set on the session, `dbt build` writes every mart
   (MERGE / INSERT OVERWRITE) to the branch only, and its data and unit tests read the
   branch (Iceberg reads the WAP branch of tables that have it); readers of `main` see
   nothing;
4. only if every node passed, `CALL lake.system.fast_forward(t, 'main', 'audit')` moves
   `main` of each mart to the audited snapshot: a metadata-only commit per table, no data
   copied. On any failure nothing is fast-forwarded: the published snapshots stay exactly
   as they were and the failing nodes are printed; the audit branch is kept for
   inspection (`select * from lake.marts.t version as of 'audit'`) and reset next run.

Why branches rather than an audit schema on Spark: publishing is O(metadata) (an audit
schema needs a full copy or swap of every table on every run, which would rescan 5
years of history for a one-day increment), the incremental marts keep one history, and
time travel shows exactly what was audited. Trino cannot write to a WAP branch from dbt,
so the `trino` target builds into the schema `marts_audit`, tests there, and publishes
each mart with one atomic `CREATE OR REPLACE TABLE marts.t AS SELECT * FROM
marts_audit.t` (macro `publish_audit_marts`).

Staging and intermediate models are views (not gated: nothing outside dbt reads them), in
a schema per engine (`staging` for Spark, `staging_trino` for Trino): an Iceberg view keeps
its engine's SQL dialect, and neither engine may replace the other's.

`--full-refresh` never drops a mart (that would bypass the gate): incremental marts are
emptied on the audit branch and reloaded there (var `full_reload`).

Pay for what changed (local target): after each publish every mart records, as table
properties, a digest of each source's bronze `main` snapshots it was built on
(`lakehouse.input.<source>`) and of the dbt project (`lakehouse.dbt-code`: its files, the
dbt and adapter versions, the vars given). A run without --select or --full-refresh, on an
unchanged project, builds only `source:<name>+` for the sources whose bronze moved (a
source's name is its dbt source's name, and models read bronze only through `source()`),
runs the data tests of what it builds but not the unit tests (fixed inputs, passed on this
very project), and when no bronze moved does nothing: no build, no commit, exit 0.

Upgrades: every mart model has a `marts_version` (folder config in dbt_project.yml), stored
on the published mart after each successful publish (table property
`lakehouse.marts-version` on Spark; on Trino the comment of the `marts_audit` copy). A mart
whose stored version is older than its model's is reloaded the way `--full-refresh` reloads
it (var `reload_marts`), and its table takes the model's columns (macros/schema_sync.sql
on Spark; on Trino the audit copy is dropped and built again), so a change of columns or
meaning needs no manual step.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spark_jobs.settings import CATALOG_NAME, Settings

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"
MARTS_SCHEMA = "marts"
AUDIT_SCHEMA = "marts_audit"
AUDIT_BRANCH = "audit"
TARGETS = ("local", "trino")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


@dataclass
class TransformReport:
    """What one transform run did."""

    target: str
    ok: bool = False
    failures: list[str] = field(default_factory=list)
    published: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    """mart -> (main snapshot before, main snapshot after)."""
    nothing_to_do: bool = False
    """No bronze table moved and the dbt project is the same: no dbt build ran."""
    completed: list[str] = field(default_factory=list)
    """Earlier runs whose publish was cut short and that this run completed first."""


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment variables profiles.yml reads for the `local` target (no secrets)."""
    from spark_jobs.common.catalog import spark_catalog_conf, spark_jars

    conf = spark_catalog_conf(settings)
    prefix = f"spark.sql.catalog.{CATALOG_NAME}"
    return {
        "LAKEHOUSE_DBT_SPARK_JARS": ",".join(spark_jars(settings)),
        "LAKEHOUSE_DBT_CATALOG_TYPE": conf.get(f"{prefix}.type", "jdbc"),
        "LAKEHOUSE_DBT_CATALOG_URI": conf.get(f"{prefix}.uri", ""),
        "LAKEHOUSE_DBT_WAREHOUSE": settings.warehouse,
        "LAKEHOUSE_SPARK_DRIVER_MEMORY": settings.spark_driver_memory,
    }


def _dbt_args(
    settings: Settings,
    command: str | Sequence[str],
    target: str,
    extra: Sequence[str],
    target_path: Path | None = None,
) -> list[str]:
    work = settings.home / "dbt"
    return [
        *([command] if isinstance(command, str) else command),
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target",
        target,
        "--target-path",
        str(target_path or work / f"target-{target}"),
        "--log-path",
        str(work / "logs"),
        *extra,
    ]


def invoke_dbt(
    settings: Settings,
    command: str | Sequence[str],
    target: str,
    extra: Sequence[str] = (),
    target_path: Path | None = None,
    echo: Callable[[str], None] | None = None,
) -> Any:
    """dbt's programmatic runner on this project: its artifacts and logs under
    $LAKEHOUSE_HOME/dbt (target path `target-<target>` unless given). With `echo`, a
    heartbeat line goes there whenever dbt was silent for a few seconds (a long model)."""
    from dbt.cli.main import dbtRunner

    from spark_jobs.common.progress import Activity, heartbeat

    args = _dbt_args(settings, command, target, extra, target_path)
    if echo is None:
        return dbtRunner().invoke(args)
    activity = Activity()

    def shown(event: Any) -> None:  # dbt's debug events reach callbacks but print nothing
        if event.info.level != "debug":
            activity.touch()

    with heartbeat(f"dbt {args[0]} running", echo, activity=activity, announce=False):
        return dbtRunner(callbacks=[shown]).invoke(args)


def prepare_dbt_env(settings: Settings, target: str) -> None:
    """The environment profiles.yml reads (local target), and no usage stats sent."""
    os.environ.update(dbt_env(settings) if target == "local" else {})
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


def _failures(result: Any) -> list[str]:
    """Human-readable lines for every node that did not pass."""
    if result.exception is not None:
        return [f"dbt error: {result.exception}"]
    lines = []
    for r in getattr(result.result, "results", None) or []:
        status = str(getattr(r.status, "value", r.status))
        if status in ("error", "fail", "runtime error"):
            node = getattr(r, "node", None)  # a run-operation's result has none
            kind = "unit test" if node and node.resource_type == "unit_test" else None
            label = f"{kind or node.resource_type} {node.name}" if node else "operation"
            first = (r.message or "").strip().splitlines()
            lines.append(f"{label} {status.upper()}: {first[0] if first else ''}")
    if not lines and not result.success:
        lines.append("dbt reported a failure (see the log above)")
    return lines


@dataclass(frozen=True)
class Mart:
    """A published mart as its dbt model declares it."""

    name: str
    materialized: str  # "incremental" or "table"
    version: int  # config `marts_version`: the version of its columns and their meaning


def declared_marts(settings: Settings, target: str) -> list[Mart]:
    """The published marts (models in schema `marts` built as tables), by name."""
    result = invoke_dbt(settings, "parse", target, ["--quiet"])
    if not result.success:
        raise RuntimeError(f"dbt parse failed: {result.exception}")
    manifest = result.result
    found = []
    for node in manifest.nodes.values():
        if node.resource_type != "model" or node.config.schema != MARTS_SCHEMA:
            continue
        if node.config.materialized in ("table", "incremental"):
            version = int(node.config.get("marts_version", DEFAULT_MARTS_VERSION))
            found.append(Mart(node.name, node.config.materialized, version))
    return sorted(found, key=lambda m: m.name)


def mart_models(settings: Settings, target: str) -> list[str]:
    """Names of the published marts (models in schema `marts` built as tables)."""
    return [m.name for m in declared_marts(settings, target)]


DEFAULT_MARTS_VERSION = 1
"""The version of a mart that carries none (published before versions were stored)."""
MARTS_VERSION_PROPERTY = "lakehouse.marts-version"
_VERSION_COMMENT = re.compile(r"marts_version=(\d+)")


def stale_marts(declared: Sequence[Mart], stored: dict[str, int]) -> list[str]:
    """Marts whose stored version is older than their model's: reloaded in full this run.

    `stored` maps each existing mart to its stored version; marts missing from it do not
    exist yet (their first load reads everything anyway).
    """
    return [m.name for m in declared if m.name in stored and stored[m.name] < m.version]


def _built_models(result: Any) -> set[str]:
    """Names of the models a dbt invocation built successfully."""
    built = set()
    for r in getattr(result.result, "results", None) or []:
        node = getattr(r, "node", None)
        status = str(getattr(r.status, "value", r.status))
        if node is not None and node.resource_type == "model" and status == "success":
            built.add(node.name)
    return built


def ref_snapshot(spark, table: str, ref: str) -> int | None:
    """The snapshot id a branch or tag of `table` points at (None: no such ref)."""
    rows = spark.sql(f"select snapshot_id from {table}.refs where name = '{ref}'").collect()
    return rows[0].snapshot_id if rows else None


def main_snapshots(spark, marts: Sequence[str]) -> dict[str, int | None]:
    """Current `main` snapshot id of each published mart (None: no table / no snapshot)."""
    out = {}
    for name in marts:
        table = f"{CATALOG_NAME}.{MARTS_SCHEMA}.{name}"
        out[name] = ref_snapshot(spark, table, "main") if spark.catalog.tableExists(table) else None
    return out


def _mart_properties(spark, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """The table properties of each existing published mart."""
    out = {}
    for name in names:
        table = f"{CATALOG_NAME}.{MARTS_SCHEMA}.{name}"
        if spark.catalog.tableExists(table):
            out[name] = {r.key: r.value for r in spark.sql(f"show tblproperties {table}").collect()}
    return out


def _published_versions(props: dict[str, dict[str, str]]) -> dict[str, int]:
    """The `marts_version` stored on each existing published mart (default if none)."""
    return {
        name: int(p.get(MARTS_VERSION_PROPERTY, DEFAULT_MARTS_VERSION)) for name, p in props.items()
    }


def _set_properties(spark, updates: dict[str, dict[str, str]]) -> None:
    """One metadata commit per mart for everything a publish records on it."""
    for name, values in updates.items():
        if not values:
            continue
        pairs = ", ".join(f"'{k}' = '{v}'" for k, v in sorted(values.items()))
        spark.sql(f"alter table {CATALOG_NAME}.{MARTS_SCHEMA}.{name} set tblproperties ({pairs})")


CODE_PROPERTY = "lakehouse.dbt-code"
INPUT_PROPERTY_PREFIX = "lakehouse.input."
"""+ source name: the digest of that source's bronze snapshots the mart was last built on."""


def dbt_code_fingerprint(target: str, dbt_vars: dict[str, Any]) -> str:
    """A digest of what the marts are computed by: every file of the dbt project, the dbt
    and adapter versions, the vars given. Unit tests read fixed inputs, so their outcome
    can change only when this does."""
    import hashlib
    from importlib.metadata import version

    digest = hashlib.sha256()
    files = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in ("models", "macros", "seeds", "tests"):
        files += sorted(p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode() + b"\0")
        digest.update(path.read_bytes())
    adapter = "dbt-spark" if target == "local" else "dbt-trino"
    for dist in ("dbt-core", adapter):
        digest.update(f"{dist}=={version(dist)}".encode())
    digest.update(json.dumps(dbt_vars, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


def bronze_inputs(spark) -> dict[str, str]:
    """Per registered source, a digest of its bronze tables' current `main` snapshots: it
    moves exactly when an ingest, rebuild or fix commits to that source's bronze."""
    import hashlib

    from spark_jobs.sources import all_sources

    tables = {src.name: [t.identifier for t in src.tables()] for src in all_sources()}
    query = " union all ".join(
        f"select '{ident}' as t, snapshot_id from {ident}.refs where name = 'main'"
        for idents in tables.values()
        for ident in idents
    )
    current = {r.t: r.snapshot_id for r in spark.sql(query).collect()} if query else {}
    return {
        name: hashlib.sha256(
            ";".join(f"{t}={current.get(t)}" for t in sorted(idents)).encode()
        ).hexdigest()[:32]
        for name, idents in tables.items()
    }


def changed_sources(inputs: dict[str, str], props: dict[str, dict[str, str]]) -> list[str]:
    """The sources whose bronze moved since the published marts were built on it (a mart
    without the record counts every source as moved)."""
    return [
        name
        for name, digest in sorted(inputs.items())
        if any(p.get(INPUT_PROPERTY_PREFIX + name) != digest for p in props.values())
    ]


def _prepare_branches(spark, marts: Sequence[str]) -> None:
    for name in marts:
        table = f"{CATALOG_NAME}.{MARTS_SCHEMA}.{name}"
        props = {r.key: r.value for r in spark.sql(f"show tblproperties {table}").collect()}
        if props.get("write.wap.enabled") != "true":
            spark.sql(f"alter table {table} set tblproperties ('write.wap.enabled' = 'true')")
        # Reset the audit branch to what readers see now; the run writes on top of it.
        spark.sql(f"alter table {table} create or replace branch {AUDIT_BRANCH}")


def _publish(spark, marts: Sequence[str], report: TransformReport, echo) -> None:
    for name in marts:
        table = f"{CATALOG_NAME}.{MARTS_SCHEMA}.{name}"
        before = ref_snapshot(spark, table, "main")
        audited = ref_snapshot(spark, table, AUDIT_BRANCH)
        if audited is not None and audited != before:
            spark.sql(
                f"call {CATALOG_NAME}.system.fast_forward("
                f"'{MARTS_SCHEMA}.{name}', 'main', '{AUDIT_BRANCH}')"
            )
        report.published[name] = (before, ref_snapshot(spark, table, "main"))
        changed = "published" if report.published[name][1] != before else "unchanged"
        echo(f"  {MARTS_SCHEMA}.{name}: {changed} (snapshot {report.published[name][1]})")


WATERMARK_PREFIX = "lakehouse.fetched-through."


def _watermark_property(bronze_table: str) -> str:
    return WATERMARK_PREFIX + bronze_table.rsplit(".", 1)[-1]


def _bronze_watermarks(spark, dbt_vars: dict[str, Any]) -> tuple[dict, dict[str, int]]:
    """Each source bronze table's newest `_fetched_at` now, and the lookbacks this run needs.

    The incremental marts re-read a window before their newest date. A backfill of old data
    (`ingest --from 2020-01` after the marts exist) lands rows far before that window; the
    watermark each source declares (`Source.watermarks`), stored on its mart at the last
    publish, finds them (Iceberg's file metrics on `_fetched_at` keep that query cheap), and
    the window var is widened to include them for this run.

    Returns:
        ({(mart, bronze table): newest _fetched_at}, {lookback var: days}) for widened vars.
    """
    from spark_jobs.sources import all_sources

    marks: dict[tuple[str, str], Any] = {}
    lookbacks: dict[str, int] = {}
    newest_fetch: dict[str, Any] = {}  # per bronze table; several marts may watch one
    marts: dict[str, tuple[dict[str, str], Any] | None] = {}  # (properties, newest date)
    for src, wm in ((source, w) for source in all_sources() for w in source.watermarks):
        if wm.bronze_table not in newest_fetch:
            newest_fetch[wm.bronze_table] = (
                spark.sql(f"select max(_fetched_at) from {wm.bronze_table}").first()[0]
                if spark.catalog.tableExists(wm.bronze_table)
                else None
            )
        if newest_fetch[wm.bronze_table] is None:
            continue  # no bronze table, or an empty one: nothing to widen for
        marks[(wm.mart, wm.bronze_table)] = newest_fetch[wm.bronze_table]
        if wm.mart not in marts:
            mart = f"{CATALOG_NAME}.{MARTS_SCHEMA}.{wm.mart}"
            marts[wm.mart] = None
            if spark.catalog.tableExists(mart):
                props = {r[0]: r[1] for r in spark.sql(f"SHOW TBLPROPERTIES {mart}").collect()}
                newest = spark.sql(f"select max({wm.mart_column}) from {mart}").first()[0]
                marts[wm.mart] = (props, newest)
        if marts[wm.mart] is None or marts[wm.mart][1] is None:
            continue  # no mart yet, or an empty one: its build reads all of bronze anyway
        props, newest = marts[wm.mart]
        previous = props.get(_watermark_property(wm.bronze_table))
        # No watermark stored: the table had no rows at any publish of this mart so far
        # (e.g. a WHOOP added to a lakehouse that already has Oura marts), so every row is
        # new to the mart, however old.
        since = f"where _fetched_at > timestamp '{previous}'" if previous else ""
        query = f"select min({wm.event_column}) from {wm.bronze_table} {since}"
        oldest = spark.sql(query).first()[0]
        if oldest is None:
            continue
        oldest_day = oldest.date() if hasattr(oldest, "date") else oldest
        if src.period == "month":
            # A re-fetched month is mirrored: records of it may have vanished from bronze
            # before its oldest remaining one; the marts re-read (and delete) from its start.
            oldest_day = oldest_day.replace(day=1)
        # +2: mart dates are local dates, bronze times UTC; one more day of margin.
        needed = (newest - oldest_day).days + 2
        current = int(dbt_vars.get(wm.lookback_var, wm.default_days))
        if needed > max(current, lookbacks.get(wm.lookback_var, 0)):
            lookbacks[wm.lookback_var] = needed
    return marks, lookbacks


def _watermark_updates(marks: dict) -> dict[str, dict[str, str]]:
    """The watermark properties to store on each mart after a publish."""
    out: dict[str, dict[str, str]] = {}
    for (mart, bronze_table), value in marks.items():
        if value is not None:
            out.setdefault(mart, {})[_watermark_property(bronze_table)] = value.isoformat(sep=" ")
    return out


def _ensure_bronze(spark, echo: Callable[[str], None]) -> bool:
    """Create every registered source's missing bronze tables, empty, so dbt's sources all
    exist (the marts of a source with no data yet are empty); False if nothing was ever
    ingested."""
    from spark_jobs.common.iceberg import ensure_table
    from spark_jobs.sources import all_sources

    tables = [t for src in all_sources() for t in src.tables()]
    if not any(spark.catalog.tableExists(t.identifier) for t in tables):
        echo("error: no bronze table exists yet: run `lakehouse ingest <source>` first")
        return False
    for table in tables:
        ensure_table(spark, table)
    return True


def _create_empty(
    settings: Settings,
    target: str,
    missing: Sequence[str],
    dbt_vars: dict[str, Any],
    echo: Callable[[str], None],
    report: TransformReport,
) -> bool:
    """Create marts that do not exist yet, empty (`dbt build --empty`), models only.

    Unit tests of incremental models read the columns of `this`, which must exist; and on
    Spark the audit branch needs a table to branch from.
    """
    if not missing:
        return True
    echo(f"creating empty marts (first run): {', '.join(missing)}")
    return _build_empty(settings, target, [f"+{m}" for m in missing], dbt_vars, report, echo)


def _build_empty(
    settings: Settings,
    target: str,
    selection: Sequence[str],
    dbt_vars: dict[str, Any],
    report: TransformReport,
    echo: Callable[[str], None] | None = None,
) -> bool:
    """`dbt build --empty` of the selected models (no tests): their tables, with no rows."""
    boot = invoke_dbt(
        settings,
        "build",
        target,
        [
            "--empty",
            "--select",
            " ".join(selection),
            "--exclude-resource-type",
            "test",
            "--exclude-resource-type",
            "unit_test",
            "--vars",
            json.dumps(dbt_vars),
        ],
        echo=echo,
    )
    if not boot.success:
        report.failures = _failures(boot)
        return False
    return True


def _selected_models(settings: Settings, target: str, select: str) -> set[str]:
    """Names of the models a dbt `--select` picks."""
    result = invoke_dbt(
        settings,
        "ls",
        target,
        ["--select", select, "--resource-type", "model", "--output", "name", "--quiet"],
    )
    if not result.success:
        raise RuntimeError(f"dbt ls failed: {result.exception}")
    return set(result.result or [])


def _run_local(
    settings: Settings,
    select: str | None,
    full_refresh: bool,
    dbt_vars: dict[str, Any],
    echo: Callable[[str], None],
    report: TransformReport,
) -> int:
    from spark_jobs.common.catalog import check_catalog_reachable
    from spark_jobs.common.progress import heartbeat
    from spark_jobs.common.session import build_spark
    from spark_jobs.transform_log import complete_cut_short, start_run

    check_catalog_reachable(settings)  # SettingsError before a "starting Spark" line
    with heartbeat(f"starting Spark ({settings.spark_master}) and the run log", echo):
        # The session first: dbt-spark's session mode calls SparkSession.builder.getOrCreate()
        # and so reuses this one (same catalog, jars, driver memory) instead of starting its
        # own.
        spark = build_spark(settings, app_name="lakehouse-transform")
        if not _ensure_bronze(spark, echo):
            return EXIT_BAD_INPUT
        run = start_run(spark, "local")
        report.completed = complete_cut_short(spark, run.run_id, echo, _set_properties)
    try:
        code = _build_and_publish(
            spark, run, settings, select, full_refresh, dbt_vars, echo, report
        )
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit) else "failed"
        # The catalog may be what failed: then the next run closes the row.
        with contextlib.suppress(Exception):
            run.advance(spark, status, note=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    if run.status == "running":  # a step failed before the audit (empty builds, say)
        run.advance(spark, "failed", note="; ".join(report.failures)[:2000] or None)
    return code


def _build_and_publish(
    spark,
    run,
    settings: Settings,
    select: str | None,
    full_refresh: bool,
    dbt_vars: dict[str, Any],
    echo: Callable[[str], None],
    report: TransformReport,
) -> int:
    """The local run proper, its steps written into the run log (`run`)."""
    from spark_jobs.common.progress import heartbeat

    with heartbeat("checking the marts against bronze and the dbt project", echo):
        declared = declared_marts(settings, "local")
        names = [m.name for m in declared]
        missing = [m for m in names if main_snapshots(spark, [m])[m] is None]
        if not _create_empty(settings, "local", missing, dbt_vars, echo, report):
            return EXIT_FAILED
        props = _mart_properties(spark, [n for n in names if n not in missing])
        stored = _published_versions(props)
        reload = stale_marts(declared, stored)
        if reload:
            echo(f"older marts_version, reloaded in full (new columns): {', '.join(reload)}")
        watermarks, lookbacks = _bronze_watermarks(spark, dbt_vars)
        for var, days in lookbacks.items():
            echo(f"bronze received rows older than the marts' window: {var} = {days} days")
        code = dbt_code_fingerprint("local", dbt_vars)  # the caller's vars, not this run's own
        inputs = bronze_inputs(spark)
        given_select = select
        unit_tests = True
        if not (select or full_refresh or reload or missing) and all(
            p.get(CODE_PROPERTY) == code for p in props.values()
        ):
            # Pay for what changed: the marts downstream of the sources whose bronze moved
            # (every model reads bronze through source()), and no unit tests (they read fixed
            # inputs and passed on this very dbt project). Data tests run on every mart built.
            changed = changed_sources(inputs, props)
            if not changed:
                echo(
                    "nothing to do: no bronze table changed since the marts were published and "
                    "the dbt project is the same (--full-refresh rebuilds anyway)"
                )
                report.ok, report.nothing_to_do = True, True
                run.advance(spark, "unchanged")
                if report.completed:  # the cut-short run never re-pinned the dashboards
                    _refresh_serving(settings, echo)
                return EXIT_OK
            select = " ".join(f"source:{name}+" for name in changed)
            unit_tests = False
            echo(
                f"bronze changed since the last publish: {', '.join(changed)}; building "
                f"{select} (unit tests skipped: the dbt project is unchanged since they passed)"
            )
    resetting = f"resetting the '{AUDIT_BRANCH}' branch of {len(names)} marts"
    with heartbeat(resetting, echo, announce=False):
        _prepare_branches(spark, names)
    dbt_vars = {**dbt_vars, **lookbacks, "reload_marts": reload, "full_reload": full_refresh}
    # The marts reloaded in full take their model's columns first (an empty build): the
    # unit tests of an incremental model read the columns of `this`.
    reshape = names if full_refresh else reload
    if reshape and select:
        chosen = _selected_models(settings, "local", select)
        reshape = [m for m in reshape if m in chosen]
    args = ["--vars", json.dumps(dbt_vars)]
    if select:
        args += ["--select", select]
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    echo(f"write: dbt build on branch '{AUDIT_BRANCH}' of every mart (readers still see main)")
    spark.conf.set("spark.wap.branch", AUDIT_BRANCH)
    try:
        if reshape and not _build_empty(settings, "local", reshape, dbt_vars, report, echo):
            echo("new columns FAILED (empty build of the reloaded marts): nothing published.")
            for line in report.failures:
                echo(f"  {line}")
            return EXIT_FAILED
        result = invoke_dbt(settings, "build", "local", args, echo=echo)
    finally:
        spark.conf.unset("spark.wap.branch")
    report.failures = _failures(result)
    if report.failures:
        echo("audit FAILED: nothing published, the marts are unchanged. Failing nodes:")
        for line in report.failures:
            echo(f"  {line}")
        echo(f"inspect: select * from lake.marts.<mart> version as of '{AUDIT_BRANCH}'")
        run.advance(spark, "failed", note="; ".join(report.failures)[:2000])
        return EXIT_FAILED
    built = _built_models(result)
    updates = {m: v for m, v in _watermark_updates(watermarks).items() if m in names}
    for mart in declared:
        if mart.name in built and stored.get(mart.name) != mart.version:
            updates.setdefault(mart.name, {})[MARTS_VERSION_PROPERTY] = str(mart.version)
    # Without --select every mart is now current: built on the new bronze, or downstream of
    # none of what moved. A --select run vouches only for the marts it built.
    for name in names if given_select is None else [n for n in names if n in built]:
        record = updates.setdefault(name, {})
        record.update({INPUT_PROPERTY_PREFIX + src: d for src, d in inputs.items()})
        if given_select is None:
            record[CODE_PROPERTY] = code
    echo("audit passed; publish (fast-forward main to the audited snapshot):")
    # The plan first: a publish cut short from here on is completed by the next run.
    marts = {n: f"{CATALOG_NAME}.{MARTS_SCHEMA}.{n}" for n in names}
    audited = {n: ref_snapshot(spark, table, AUDIT_BRANCH) for n, table in marts.items()}
    plan = {"snapshots": audited, "properties": updates}
    run.advance(spark, "publishing", plan=json.dumps(plan))
    _publish(spark, names, report, echo)
    _set_properties(spark, updates)
    report.ok = True
    _refresh_serving(settings, echo)
    run.advance(spark, "published")
    return EXIT_OK


def _refresh_serving(settings: Settings, echo: Callable[[str], None]) -> None:
    """Point the dashboards' DuckDB serving file at the snapshots just published."""
    if not settings.warehouse_is_local:
        return  # dashboards of a remote warehouse read Trino, not the serving file
    from spark_jobs.serving import refresh_serving

    try:
        echo(f"serving file for dashboards refreshed: {refresh_serving(settings)}")
    except Exception as exc:  # the publish stands; only the dashboards' view is stale
        echo(f"warning: serving file not refreshed ({exc}); run `lakehouse dashboards refresh`")


def _run_trino(
    settings: Settings,
    select: str | None,
    full_refresh: bool,
    dbt_vars: dict[str, Any],
    echo: Callable[[str], None],
    report: TransformReport,
) -> int:
    from spark_jobs.trino_sql import TrinoQueryError, run_trino_query

    audit_vars = {**dbt_vars, "marts_schema": AUDIT_SCHEMA}
    try:
        _, rows = run_trino_query(
            f"select table_name from {CATALOG_NAME}.information_schema.tables "
            f"where table_schema = '{AUDIT_SCHEMA}'"
        )
    except TrinoQueryError as exc:
        echo(f"error: {exc}")
        return EXIT_BAD_INPUT
    existing = {r[0] for r in rows}
    if not _ensure_bronze_via_trino(settings, echo):
        return EXIT_BAD_INPUT
    declared = declared_marts(settings, "trino")
    names = [m.name for m in declared]
    # Tables are rebuilt by dbt on every run; only incremental audit copies keep a schema.
    incremental = [m for m in declared if m.materialized == "incremental"]
    try:
        comments = _trino_audit_versions()
    except TrinoQueryError as exc:
        echo(f"error: {exc}")
        return EXIT_BAD_INPUT
    stored = {
        m.name: comments.get(m.name, DEFAULT_MARTS_VERSION)
        for m in incremental
        if m.name in existing
    }
    for name in stale_marts(incremental, stored):
        # Readers never see marts_audit: dropped, it is created again with the model's
        # columns and loaded in full, then published like any run.
        echo(f"older marts_version, {AUDIT_SCHEMA}.{name} rebuilt in full (new columns)")
        try:
            run_trino_query(f'drop table {CATALOG_NAME}.{AUDIT_SCHEMA}."{name}"')
        except TrinoQueryError as exc:
            echo(f"error: {exc}")
            return EXIT_FAILED
        existing.discard(name)
    missing = [m for m in names if m not in existing]
    if not _create_empty(settings, "trino", missing, audit_vars, echo, report):
        return EXIT_FAILED
    args = ["--vars", json.dumps(audit_vars)]
    before = _trino_snapshots(names)
    echo(f"write + audit: dbt build into schema {AUDIT_SCHEMA}")
    result = invoke_dbt(settings, "build", "trino", args, echo=echo)
    report.failures = _failures(result)
    if report.failures:
        echo(f"audit FAILED: nothing published to {MARTS_SCHEMA}. Failing nodes:")
        for line in report.failures:
            echo(f"  {line}")
        return EXIT_FAILED
    echo(f"publish: {AUDIT_SCHEMA} -> {MARTS_SCHEMA}, one atomic replace per mart")
    op_args = json.dumps({"source_schema": AUDIT_SCHEMA, "target_schema": MARTS_SCHEMA})
    published = invoke_dbt(
        settings,
        "run-operation",
        "trino",
        # The same vars as the build: the macro finds the marts by their (audit) schema.
        ["publish_audit_marts", "--args", op_args, "--vars", json.dumps(audit_vars)],
    )
    if not published.success:
        report.failures = _failures(published)
        return EXIT_FAILED
    after = _trino_snapshots(names)
    for name in names:
        report.published[name] = (before.get(name), after.get(name))
        changed = "published" if after.get(name) != before.get(name) else "unchanged"
        echo(f"  {MARTS_SCHEMA}.{name}: {changed} (snapshot {after.get(name)})")
    built = _built_models(result)
    for mart in incremental:
        if mart.name in built and stored.get(mart.name) != mart.version:
            try:
                run_trino_query(
                    f'comment on table {CATALOG_NAME}.{AUDIT_SCHEMA}."{mart.name}" '
                    f"is 'lakehouse marts_version={mart.version}'"
                )
            except TrinoQueryError as exc:  # published; the next run reloads it once more
                echo(f"warning: marts_version of {mart.name} not stored ({exc})")
    report.ok = True
    return EXIT_OK


def _trino_audit_versions() -> dict[str, int]:
    """The `marts_version` in the comment of each table of `marts_audit` that has one."""
    from spark_jobs.trino_sql import run_trino_query

    _, rows = run_trino_query(
        "select table_name, comment from system.metadata.table_comments "
        f"where catalog_name = '{CATALOG_NAME}' and schema_name = '{AUDIT_SCHEMA}'"
    )
    out = {}
    for name, comment in rows:
        match = _VERSION_COMMENT.search(comment or "")
        if match:
            out[name] = int(match.group(1))
    return out


def _ensure_bronze_via_trino(settings: Settings, echo: Callable[[str], None]) -> bool:
    """The trino target's `_ensure_bronze`: Spark creates missing tables (the bronze schemas
    are Spark types), and only starts when one is missing."""
    from spark_jobs.sources import all_sources
    from spark_jobs.trino_sql import run_trino_query

    _, rows = run_trino_query(
        f"select table_name from {CATALOG_NAME}.information_schema.tables "
        "where table_schema = 'bronze'"
    )
    present = {r[0] for r in rows}
    names = {t.name for src in all_sources() for t in src.tables()}
    if not names & present:
        echo("error: no bronze table exists yet: run `lakehouse ingest <source>` first")
        return False
    if names <= present:
        return True
    from spark_jobs.common.session import build_spark

    return _ensure_bronze(build_spark(settings, app_name="lakehouse-transform-bronze"), echo)


def _trino_snapshots(marts: Sequence[str]) -> dict[str, int | None]:
    """Current snapshot id of each published mart on Trino (None: no table yet)."""
    from spark_jobs.trino_sql import TrinoQueryError, run_trino_query

    out: dict[str, int | None] = {}
    for name in marts:
        try:
            _, rows = run_trino_query(
                f'select snapshot_id from {CATALOG_NAME}.{MARTS_SCHEMA}."{name}$snapshots" '
                "order by committed_at desc limit 1"
            )
        except TrinoQueryError:
            rows = []  # the mart does not exist yet
        out[name] = rows[0][0] if rows else None
    return out


def run_transform(
    settings: Settings,
    *,
    target: str = "local",
    select: str | None = None,
    full_refresh: bool = False,
    echo: Callable[[str], None] = print,
    dbt_vars: dict[str, Any] | None = None,
    report: TransformReport | None = None,
    wait: bool = False,
    wait_timeout: float | None = None,
) -> int:
    """Build, test and publish the dbt project; returns the process exit code.

    Args:
        settings: the lakehouse deployment (catalog, warehouse, Spark).
        target: `local` (embedded Spark, Iceberg-branch WAP) or `trino` (audit schema).
        select: a dbt selection (`--select`), default every node.
        full_refresh: reload incremental marts from scratch, still through the audit gate.
        echo: where progress and failures are printed.
        dbt_vars: extra dbt vars (e.g. {"chess_timezone": "Europe/Madrid"}).
        report: filled with failures and published snapshots, if given.
        wait: wait for the `transform` lakehouse lock another run holds (else LockHeld).
        wait_timeout: seconds `wait` waits at most (default: an hour).

    Returns:
        0 published, 1 a model or test failed (nothing published), 2 bad input.

    Raises:
        LockHeld: another process builds or publishes the marts (the CLI exits 75).
    """
    from spark_jobs.common.lock import DEFAULT_WAIT_TIMEOUT, TRANSFORM, hold_locks

    report = report if report is not None else TransformReport(target=target)
    if target not in TARGETS:
        echo(f"error: unknown target {target!r}; use one of: {', '.join(TARGETS)}")
        return EXIT_BAD_INPUT
    prepare_dbt_env(settings, target)
    runner = _run_local if target == "local" else _run_trino
    # One build + publish at a time (two would race on the audit branches), locked before
    # the runner starts Spark or dbt: a run that has to give way costs nothing.
    timeout = DEFAULT_WAIT_TIMEOUT if wait_timeout is None else wait_timeout
    with hold_locks(settings.home, [TRANSFORM], wait=wait, timeout=timeout, progress=echo):
        return runner(settings, select, full_refresh, dict(dbt_vars or {}), echo, report)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m spark_jobs.transform [--print-env] [--wait]` (exit 75: another run holds
    the transform lock and --wait was not given)."""
    from spark_jobs.settings import load_settings

    args = list(sys.argv[1:] if argv is None else argv)
    settings = load_settings()
    if "--print-env" in args:
        for key, value in dbt_env(settings).items():
            print(f"export {key}={json.dumps(value)}")
        print(f"export DBT_PROFILES_DIR={DBT_PROJECT_DIR}")
        return EXIT_OK
    from spark_jobs.common.lock import EXIT_LOCKED, LockHeld

    try:
        return run_transform(settings, wait="--wait" in args)
    except LockHeld as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
