"""Oura (API v2) as a registered source (see spark_jobs/common/source.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from spark_jobs.common.source import AccountOption, Source, Watermark

DEMO_DAYS = 365
"""The demo (and `lakehouse sandbox`) generate and ingest this much Oura history at most:
a year of nights is plenty for the dashboards, and keeps the demo's first run short."""

_DAILY = ("daily_sleep", "daily_readiness", "daily_resilience", "daily_stress", "sleep")


class OuraSource(Source):
    name = "oura"
    title = "Oura"
    account = AccountOption(
        name="account",
        short=None,
        help="Your name for the ring owner whose token is used (one token per person); "
        "repeat for several.",
        env_default="OURA_ACCOUNTS",
        fallback="me",
    )
    period = "date"
    sandbox_module = "spark_jobs.sandbox.oura"
    needs_auth = True
    # Both Oura-fed incremental marts: fct_daily_health's newest day can be later than
    # daily_health's (a WHOOP worn after the ring), so its window needs its own widening.
    watermarks = tuple(
        Watermark(
            bronze_table=f"lake.bronze.oura_{name}",
            event_column="day",
            mart=mart,
            mart_column="day",
            lookback_var="health_lookback_days",
            default_days=7,
        )
        for mart in ("daily_health", "fct_daily_health")
        for name in _DAILY
    )
    ingest_help = """Ingest Oura Ring data (API v2) into lake.bronze.oura_<endpoint>.

    Every endpoint (daily sleep, readiness, resilience, stress, activity, SpO2,
    cardiovascular age, sleep sessions, heart rate, workouts, sessions, tags, VO2 max,
    rest mode, ring configuration, personal info) is read in monthly windows (heart rate:
    half months), every page (`next_token`). Windows that ended more than
    OURA_OVERLAP_DAYS (default 7) before their last read are final and skipped; the rest
    are re-read, because Oura syncs late and rescores. The first run starts at --from,
    else OURA_HISTORY_START (default 2018-01-01). Needs a token: `lakehouse auth oura`
    (or OURA_PERSONAL_ACCESS_TOKEN for legacy accounts).
    """
    ingest_examples = (
        "lakehouse auth oura --account me",
        "lakehouse ingest oura --account me --from 2024-01-01",
        "lakehouse ingest oura                     # incremental, account 'me'",
    )

    def check_settings(self, env: Mapping[str, str], home: Path):
        from spark_jobs.oura.settings import load_oura_settings

        return load_oura_settings(env, home)

    def ready(self, source_settings, accounts: Sequence[str]) -> None:
        from spark_jobs.common.errors import ConfigError

        if source_settings.personal_access_token:
            return
        for account in accounts:
            if not source_settings.token_path(account).exists():
                raise ConfigError(
                    f"no Oura token for account {account!r}: run `lakehouse auth oura "
                    f"--account {account}` (or set OURA_PERSONAL_ACCESS_TOKEN)"
                )

    def tables(self):
        from spark_jobs.oura.schemas import TABLES

        return tuple(TABLES.values())

    def ingest(
        self,
        spark,
        settings,
        source_settings,
        accounts: Sequence[str],
        *,
        first: Any,
        last: Any,
        refresh: bool,
        progress: Callable[[str], None],
        now: datetime | None = None,
    ):
        from spark_jobs.common.ingest import ingest_each_account
        from spark_jobs.oura.auth import OuraAuth
        from spark_jobs.oura.client import OuraClient
        from spark_jobs.oura.ingest import OuraIngest

        return ingest_each_account(
            spark,
            accounts,
            lambda account: OuraClient(source_settings, OuraAuth(source_settings, account)),
            lambda client: OuraIngest(
                client,
                first=first,
                last=last,
                refresh=refresh,
                overlap_days=source_settings.overlap_days,
                history_start=source_settings.history_start,
            ),
            now=now,
            progress=progress,
        )

    def rebuild(self, spark, accounts: Sequence[str] | None) -> str:
        from spark_jobs.oura.ingest import rebuild_bronze

        n = rebuild_bronze(spark, accounts or None)
        return f"rebuilt lake.bronze.oura_* from raw: {n} rows"

    def authorize(self, settings, account: str, *, headless: bool, echo) -> str:
        import os

        from spark_jobs.oura.auth import run_authorization

        source_settings = self.check_settings(dict(os.environ), settings.home)
        path = run_authorization(
            source_settings, account, open_browser=not headless, headless=headless, echo=echo
        )
        return str(path)

    def demo_start(self, since: str, now: datetime) -> str:
        from datetime import timedelta

        return max(f"{since}-01", (now - timedelta(days=DEMO_DAYS)).date().isoformat())

    def coverage(self, spark) -> tuple[list[str], list[tuple]]:
        from spark_jobs.oura.client import ENDPOINTS
        from spark_jobs.oura.schemas import TABLES

        parts = [
            f"select account, to_date({ENDPOINTS[name].day_field}) as day, 1 as n "
            f"from {spec.identifier}"
            for name, spec in TABLES.items()
            if ENDPOINTS[name].day_field and spark.catalog.tableExists(spec.identifier)
        ]
        if not parts:
            return ["account"], []
        df = spark.sql(
            f"""
            select account, count(distinct day) as days, sum(n) as documents,
                   min(day) as first_day, max(day) as last_day
            from ({" union all ".join(parts)}) group by account order by account
            """
        )
        return df.columns, [tuple(r) for r in df.collect()]

    def summary(self, spark, account: str, layer: str) -> list[str]:
        if layer == "bronze":
            from spark_jobs.oura.schemas import TABLES

            lines = ["lake.bronze.oura_* (rows):"]
            counts = []
            for spec in TABLES.values():
                n = spark.table(spec.identifier).where(f"account = '{account}'").count()
                if n:
                    counts.append(f"{spec.name.removeprefix('oura_')} {n}")
            return [*lines, "  " + ", ".join(counts)]
        rows = spark.sql(
            f"""
            select year, month, round(avg_sleep_score, 1) as sleep,
                   round(avg_readiness_score, 1) as readiness,
                   round(avg_rest_bpm, 1) as rest_bpm, size(daily_details) as days
            from lake.marts.agg_monthly_health where account = '{account}'
            order by year desc, month desc limit 3
            """
        ).collect()
        return ["lake.marts.agg_monthly_health (latest months):"] + [
            f"  {r.year}-{r.month:02d}  {r.days:2} days  sleep {r.sleep}  readiness "
            f"{r.readiness}  resting hr {r.rest_bpm}"
            for r in rows
        ]

    def describe_result(self, result) -> str:
        status = "ok" if result.ok else "FAILED"
        return (
            f"{result.account}: {status} - {result.listed} windows, {result.changed} read, "
            f"{result.skipped} final skipped, {result.rows_merged} documents merged"
        )


SOURCE = OuraSource()
