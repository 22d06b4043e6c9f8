"""What a source is to the rest of the project: one folder, one `Source`, one registration.

A source lives in `spark_jobs/<name>/` and exposes `SOURCE` (an instance of a `Source`
subclass) from `spark_jobs/<name>/source.py`; `spark_jobs/sources.py` lists the names. The
CLI (`ingest`, `rebuild`, `auth`, `sandbox`, `status`), the Spark job entrypoint
(`spark_jobs/jobs/ingest.py --source NAME`), the demo, `lakehouse transform` and the DAG
helpers loop over the registry and know no source by name.

Source modules are imported by the CLI at start-up: they import neither pyspark nor their
heavy parts at module level (methods import what they need).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from spark_jobs.common.iceberg import TableSpec
    from spark_jobs.common.ingest import IngestReport
    from spark_jobs.settings import Settings


@dataclass(frozen=True)
class AccountOption:
    """How a source names the accounts an ingest reads (chess.com: players)."""

    name: str  # singular: "player" -> CLI `--player/-p NAME` (repeatable), job `--players a,b`
    short: str | None
    help: str
    env_default: str | None = None  # variable holding the default accounts (comma-separated)
    fallback: str | None = None  # default when neither option nor variable is given

    @property
    def plural(self) -> str:
        return f"{self.name}s"


@dataclass(frozen=True)
class Watermark:
    """How `lakehouse transform` notices a backfill of old data into a source's bronze.

    The incremental marts re-read a window before their newest date (`lookback_var` days).
    Bronze rows fetched since the last publish (`_fetched_at` above the mart's stored
    watermark) whose `event_column` lies before that window widen it for one run.
    """

    bronze_table: str  # e.g. lake.bronze.chesscom_games
    event_column: str  # a timestamp or date column of the bronze table
    mart: str  # the incremental mart whose table property stores the watermark
    mart_column: str  # the mart's date column (its newest value is the cursor)
    lookback_var: str  # the dbt var of the window, e.g. chess_lookback_days
    default_days: int


class Source(ABC):
    """One third-party API: its settings, ingest, rebuild, auth and sandbox."""

    name: str  # folder and prefix of its tables: lake.raw.<name>_responses, bronze.<name>_*
    title: str  # human name, e.g. "chess.com"
    account: AccountOption
    period: str  # "month" (YYYY-MM) or "date" (YYYY-MM-DD): what --from/--to take
    sandbox_module: str | None = None  # e.g. spark_jobs.sandbox.oura (not in the job zip)
    needs_auth: bool = False  # `lakehouse auth <name>` exists (OAuth sources)
    watermarks: Sequence[Watermark] = ()
    ingest_help: str = ""
    ingest_examples: Sequence[str] = ()

    # ------------------------------------------------------------------ input
    def accounts(self, given: Sequence[str], env: Mapping[str, str]) -> list[str]:
        """The accounts of a run: the option's values, else the variable, else the fallback.

        Raises:
            ConfigError: none given where the source needs them, or an invalid name.
        """
        from spark_jobs.common.errors import ConfigError

        names = [a for a in given if a.strip()]
        if not names and self.account.env_default:
            names = [a.strip() for a in env.get(self.account.env_default, "").split(",")]
            names = [a for a in names if a]
        if not names and self.account.fallback:
            names = [self.account.fallback]
        if not names:
            hint = f" or set {self.account.env_default}" if self.account.env_default else ""
            raise ConfigError(
                f"name at least one {self.account.name}: --{self.account.name} NAME{hint}"
            )
        return [self.validate_account(n) for n in names]

    def validate_account(self, name: str) -> str:
        """The canonical account name, or ConfigError."""
        from spark_jobs.common.errors import ConfigError

        candidate = name.strip()
        if not candidate.replace("_", "").replace("-", "").isalnum() or len(candidate) > 64:
            raise ConfigError(
                f"--{self.account.name} {name!r}: use letters, digits, '_' or '-' (at most 64)"
            )
        return candidate.lower()

    def bounds(self, first: str | None, last: str | None) -> tuple[Any, Any]:
        """Validated --from/--to (months as strings, dates as `date`), or ConfigError."""
        from spark_jobs.common.periods import check_order, validate_date, validate_month

        if self.period == "month":
            lo = validate_month(first, "--from") if first else None
            hi = validate_month(last, "--to") if last else None
        else:
            lo = validate_date(first, "--from") if first else None
            hi = validate_date(last, "--to") if last else None
        check_order(lo, hi)
        return lo, hi

    @abstractmethod
    def check_settings(self, env: Mapping[str, str], home: Path) -> Any:
        """The source's own settings from the environment (ConfigError names the fix).

        The result has `redacted() -> dict[str, str]` for `lakehouse config`.
        """

    def ready(self, source_settings: Any, accounts: Sequence[str]) -> None:
        """Raise ConfigError when an ingest of these accounts could not start (checked
        before Spark starts: a missing User-Agent or token costs nothing)."""
        return None

    # ----------------------------------------------------------------- layers
    @abstractmethod
    def tables(self) -> Sequence[TableSpec]:
        """The source's bronze tables (transform creates missing ones empty)."""

    @abstractmethod
    def ingest(
        self,
        spark: SparkSession,
        settings: Settings,
        source_settings: Any,
        accounts: Sequence[str],
        *,
        first: date | str | None,
        last: date | str | None,
        refresh: bool,
        progress: Callable[[str], None],
        now: datetime | None = None,
    ) -> IngestReport:
        """One ingest run (API -> raw -> bronze) for these accounts."""

    @abstractmethod
    def rebuild(self, spark: SparkSession, accounts: Sequence[str] | None) -> str:
        """Rebuild bronze from raw alone; returns a one-line summary."""

    def authorize(self, settings: Settings, account: str, *, headless: bool, echo) -> str | None:
        """Interactive authorisation (OAuth); None when the source needs none."""
        return None

    def demo_start(self, since: str, now: datetime) -> str:
        """The demo's --from for this source, given its --since month (YYYY-MM)."""
        return since if self.period == "month" else f"{since}-01"

    def summary(self, spark: SparkSession, account: str, layer: str) -> list[str]:
        """A few lines showing what an account has in `layer` ("bronze" or "marts"), for
        the demo; none by default."""
        return []

    def coverage(self, spark: SparkSession) -> tuple[list[str], list[tuple]]:
        """What bronze holds per account, for `lakehouse status`: column names (the first
        is the account) and one row per account. By default, rows per bronze table."""
        columns = ["account", "bronze table", "rows"]
        rows: list[tuple] = []
        for table in self.tables():
            if spark.catalog.tableExists(table.identifier):
                account = table.schema.fieldNames()[0]
                for r in spark.table(table.identifier).groupBy(account).count().collect():
                    rows.append((r[0], table.identifier, r["count"]))
        return columns, sorted(rows)

    def describe_result(self, result: Any) -> str:
        """One line per account for the CLI's report."""
        status = "ok" if result.ok else "FAILED"
        return (
            f"{result.account}: {status} - {result.listed} periods, {result.changed} changed, "
            f"{result.unchanged} unchanged (304), {result.skipped} final skipped, "
            f"{result.rows_merged} records merged"
        )
