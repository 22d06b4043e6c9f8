"""WHOOP (API v2) as a registered source (see spark_jobs/common/source.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from spark_jobs.common.source import AccountOption, Source, Watermark


class WhoopSource(Source):
    name = "whoop"
    title = "WHOOP"
    account = AccountOption(
        name="account",
        short=None,
        help="Your name for the WHOOP member whose token is used (one token per person); "
        "repeat for several.",
        env_default="WHOOP_ACCOUNTS",
        fallback="me",
    )
    period = "month"
    sandbox_module = "spark_jobs.sandbox.whoop"
    needs_auth = True
    # Every WHOOP day of the health marts is a sleep's wake-up day: a sleep backfilled
    # before their window widens it (recoveries and cycles join through the sleep).
    watermarks = (
        Watermark(
            bronze_table="lake.bronze.whoop_sleep",
            event_column="start",
            mart="fct_daily_health",
            mart_column="day",
            lookback_var="health_lookback_days",
            default_days=7,
        ),
    )
    ingest_help = """Ingest WHOOP data (API v2) into lake.bronze.whoop_<resource>.

    Cycles, recoveries, sleeps (naps included) and workouts are read by calendar month
    (UTC), every page; the profile and body measurement whole. A month is final once read
    WHOOP_OVERLAP_DAYS (default 7) after it ended with no record still PENDING_SCORE;
    final months are skipped, the rest re-read, so rescored and deleted records converge.
    The first run starts at --from, else at the member's first month with data since
    WHOOP_HISTORY_START (default 2020-01), found in a few requests. The client
    keeps under WHOOP's 100 requests/minute from its X-RateLimit headers. Needs a token:
    `lakehouse auth whoop`.
    """
    ingest_examples = (
        "lakehouse auth whoop --account me",
        "lakehouse ingest whoop --account me --from 2024-01",
        "lakehouse ingest whoop                    # incremental, account 'me'",
    )

    def check_settings(self, env: Mapping[str, str], home: Path):
        from spark_jobs.whoop.settings import load_whoop_settings

        return load_whoop_settings(env, home)

    def ready(self, source_settings, accounts: Sequence[str]) -> None:
        from spark_jobs.common.errors import ConfigError

        for account in accounts:
            if not source_settings.token_path(account).exists():
                raise ConfigError(
                    f"no WHOOP token for account {account!r}: run `lakehouse auth whoop "
                    f"--account {account}`"
                )

    def tables(self):
        from spark_jobs.whoop.schemas import TABLES

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
        from spark_jobs.whoop.auth import WhoopAuth
        from spark_jobs.whoop.client import WhoopClient
        from spark_jobs.whoop.ingest import WhoopIngest

        return ingest_each_account(
            spark,
            accounts,
            lambda account: WhoopClient(source_settings, WhoopAuth(source_settings, account)),
            lambda client: WhoopIngest(
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
        from spark_jobs.whoop.ingest import rebuild_bronze

        n = rebuild_bronze(spark, accounts or None)
        return f"rebuilt lake.bronze.whoop_* from raw: {n} rows"

    def authorize(self, settings, account: str, *, headless: bool, echo) -> str:
        import os

        from spark_jobs.common.oauth import run_authorization
        from spark_jobs.whoop.auth import PROVIDER

        source_settings = self.check_settings(dict(os.environ), settings.home)
        path = run_authorization(
            PROVIDER,
            source_settings,
            account,
            open_browser=not headless,
            headless=headless,
            echo=echo,
        )
        return str(path)

    def demo_start(self, since: str, now: datetime) -> str:
        from datetime import timedelta

        from spark_jobs.sandbox.whoop import DEMO_DAYS

        return max(since, (now - timedelta(days=DEMO_DAYS)).strftime("%Y-%m"))

    def summary(self, spark, account: str, layer: str) -> list[str]:
        if layer != "bronze":
            return []
        from spark_jobs.whoop.schemas import TABLES

        counts = []
        for spec in TABLES.values():
            n = spark.table(spec.identifier).where(f"account = '{account}'").count()
            if n:
                counts.append(f"{spec.name.removeprefix('whoop_')} {n}")
        return ["lake.bronze.whoop_* (rows):", "  " + ", ".join(counts)]

    def describe_result(self, result) -> str:
        status = "ok" if result.ok else "FAILED"
        return (
            f"{result.account}: {status} - {result.listed} months/documents, "
            f"{result.changed} read, {result.skipped} final skipped, "
            f"{result.rows_merged} records merged"
        )


SOURCE = WhoopSource()
