"""chess.com ingestion: archives -> raw -> `lake.bronze.chesscom_games`, incrementally.

The shared loop (spark_jobs/common/ingest.py) runs it; this module declares, per player:
1. plan: GET /games/archives (kept in raw) and pick the months to fetch: months never seen,
   months not final yet (the current month is always re-checked), none that are final
   (a month is final once fetched a day after it ended; `--refresh` ignores state);
2. fetch: each planned month with its stored ETag/Last-Modified: 304 costs no body;
3. merge: the run's games into bronze on (player, uuid) in one commit; games that vanished
   from a re-fetched month are deleted, so bronze mirrors the API exactly.

Run it with `lakehouse ingest chesscom --player NAME` or spark-submit
`spark_jobs/jobs/ingest.py chesscom --players NAME`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs.chesscom.client import (
    Archive,
    ChessComClient,
    check_archive_body,
    parse_archives,
    validate_username,
)
from spark_jobs.chesscom.schemas import GAMES_SCHEMA
from spark_jobs.chesscom.transforms import games_from_archives, malformed_archives
from spark_jobs.common.http import ApiResponse
from spark_jobs.common.iceberg import TableSpec, conform, ensure_table, latest_by_key, merge
from spark_jobs.common.ingest import (
    AccountResult,
    AccountRun,
    Fetch,
    Fetched,
    IngestReport,
    SourceIngest,
)
from spark_jobs.common.ingest import run_ingest as run_source_ingest
from spark_jobs.common.periods import check_order, month_end, validate_month
from spark_jobs.common.raw import latest_payloads, raw_table, read_raw
from spark_jobs.common.state import PeriodState

log = logging.getLogger(__name__)

SOURCE = "chesscom"
RESOURCE_MONTH = "games_month"
RESOURCE_ARCHIVES = "archives"
# chess.com refreshes archives at most every 12 h: a month fetched a day after it ended
# holds every game it will ever hold.
FINAL_GRACE = timedelta(days=1)

GAMES_TABLE = TableSpec(
    namespace="bronze",
    name="chesscom_games",
    schema=GAMES_SCHEMA,
    partition_by=("months(end_time)",),
    keys=("player", "uuid"),
    comment="chess.com games, one row per (player, game uuid), typed from the raw archives",
)


def is_month_final(period: str, checked_at: datetime) -> bool:
    """A month is final once it was fetched FINAL_GRACE after it ended."""
    if checked_at.tzinfo is None:
        checked_at = checked_at.replace(tzinfo=UTC)
    return checked_at >= month_end(period) + FINAL_GRACE


@dataclass(frozen=True)
class MonthPlan:
    archive: Archive
    etag: str | None
    last_modified: str | None
    reason: str  # new | not-final | refresh


def plan_months(
    archives: Sequence[Archive],
    state: dict[str, PeriodState],
    *,
    month_from: str | None = None,
    month_to: str | None = None,
    refresh: bool = False,
) -> tuple[list[MonthPlan], list[str]]:
    """Which months to request, with which validators; and the months skipped as final."""
    plans: list[MonthPlan] = []
    skipped: list[str] = []
    for archive in archives:
        if month_from and archive.period < month_from:
            continue
        if month_to and archive.period > month_to:
            continue
        known = state.get(archive.period)
        if refresh:
            plans.append(MonthPlan(archive, None, None, "refresh"))
        elif known is None:
            plans.append(MonthPlan(archive, None, None, "new"))
        elif known.is_final:
            skipped.append(archive.period)
        else:
            plans.append(MonthPlan(archive, known.etag, known.last_modified, "not-final"))
    return plans, skipped


class PlayerResult(AccountResult):
    """One player's run, in chess.com's words (months and games)."""

    @property
    def player(self) -> str:
        return self.account

    @property
    def months_listed(self) -> int:
        return self.listed

    @property
    def months_changed(self) -> int:
        return self.changed

    @property
    def months_unchanged(self) -> int:
        return self.unchanged

    @property
    def months_skipped(self) -> int:
        return self.skipped

    @property
    def games_merged(self) -> int:
        return self.rows_merged


def _keyed_games(raw: DataFrame) -> DataFrame:
    """The games of raw archive rows that have a natural key.

    A game without a uuid could never be matched again and would be re-inserted on every
    run: it stays in raw, bronze only takes keyed games.
    """
    return games_from_archives(raw).where(F.col("uuid").isNotNull())


def merge_games(
    spark: SparkSession,
    raw: DataFrame,
    *,
    delete_scope: str | None = None,
    months: Sequence[str] | None = None,
) -> None:
    """Transform raw archive rows and MERGE them into bronze in one commit.

    Args:
        raw: raw `games_month` rows, at most one per (account, period).
        delete_scope: SQL predicate on bronze columns; rows inside it that the new payloads
            no longer contain are deleted (a re-fetched month is mirrored).
        months: the archive months the rows belong to, so the MERGE only scans those
            partitions (a game's archive month is the UTC month of its end time).
    """
    ensure_table(spark, GAMES_TABLE)
    # No persist()/count() here: caching an Iceberg scan ahead of a MERGE makes the SQLite
    # catalog report SQLITE_BUSY at commit; callers count games from the bodies instead.
    games = latest_by_key(_keyed_games(raw), GAMES_TABLE.keys, ("_fetched_at",))
    target_filter = None
    if months:
        first, last = min(months), max(months)
        target_filter = (
            f"t.end_time >= TIMESTAMP '{first}-01 00:00:00' AND "
            f"t.end_time < TIMESTAMP '{month_end(last):%Y-%m-%d %H:%M:%S}'"
        )
    merge(
        spark, games, GAMES_TABLE, newer_than="_fetched_at", delete_scope=delete_scope,
        target_filter=target_filter,
    )  # fmt: skip


def _sql_list(values: Sequence[str]) -> str:
    # Values are validated usernames and YYYY-MM months: no quotes can occur.
    return ", ".join(f"'{v}'" for v in values)


class ChessComIngest(SourceIngest):
    """chess.com's declaration to the shared ingest loop (one instance per run)."""

    source = SOURCE
    tables = (GAMES_TABLE,)

    def __init__(
        self,
        client: ChessComClient,
        *,
        month_from: str | None = None,
        month_to: str | None = None,
        refresh: bool = False,
    ) -> None:
        self.client = client
        self.month_from = month_from
        self.month_to = month_to
        self.refresh = refresh

    def new_result(self, account: str) -> AccountResult:
        return PlayerResult(account)

    def arguments(self) -> Mapping[str, object]:
        return {"from": self.month_from, "to": self.month_to, "refresh": self.refresh}

    def plan(self, run: AccountRun) -> list[Fetch]:
        resp = self.client.archives(run.account)
        run.raw.add(RESOURCE_ARCHIVES, run.account, None, resp)
        archives = parse_archives(resp)
        state = {p: s for (r, p), s in run.state.items() if r == RESOURCE_MONTH}
        plans, skipped = plan_months(
            archives, state, month_from=self.month_from, month_to=self.month_to,
            refresh=self.refresh,
        )  # fmt: skip
        run.result.listed = len(archives)
        run.result.skipped = len(skipped)
        run.progress(
            f"{run.account}: {len(archives)} archives listed, {len(plans)} to check, "
            f"{len(skipped)} final months skipped"
        )
        return [
            Fetch(
                RESOURCE_MONTH,
                p.archive.period,
                p.archive.url,
                etag=p.etag,
                last_modified=p.last_modified,
                reason=p.reason,
            )
            for p in plans
        ]

    def check(self, fetch: Fetch, responses: Sequence[ApiResponse]) -> int:
        return check_archive_body(responses[-1].body)

    def is_final(self, fetch: Fetch, checked_at: datetime) -> bool:
        return is_month_final(fetch.period, checked_at)

    def explain(self, fetch: Fetch, resp: ApiResponse, account: str) -> str:
        if resp.status == 404:
            return (
                f"{account} {fetch.period}: chess.com answered 404 for {resp.url}, an archive "
                "it listed; the month is left as it was and retried next run"
            )
        # 403 and other refusals: the player cannot be read any further this run.
        self.client.raise_for_status(resp, f"archive {fetch.period}")
        return super().explain(fetch, resp, account)

    def merge(
        self, spark: SparkSession, account: str, raw: DataFrame, fetched: list[Fetched]
    ) -> None:
        changed = [f.fetch.period for f in fetched]
        run_raw = raw.where(F.col("period").isin(changed))
        scope = f"player = '{account}' AND archive_month IN ({_sql_list(changed)})"
        # One response per month in a run: no need to pick the newest.
        merge_games(spark, run_raw, delete_scope=scope, months=changed)


def run_ingest(
    spark: SparkSession,
    client: ChessComClient,
    players: Sequence[str],
    *,
    month_from: str | None = None,
    month_to: str | None = None,
    refresh: bool = False,
    now: datetime | None = None,
    progress: Callable[[str], None] = log.info,
) -> IngestReport:
    """Ingest several players, one after the other (chess.com wants serial requests).

    Raises:
        ConfigError: an invalid player name or month (before any request is made).
    """
    names = [validate_username(p) for p in players]
    if month_from:
        validate_month(month_from, "--from")
    if month_to:
        validate_month(month_to, "--to")
    check_order(month_from, month_to)
    decl = ChessComIngest(client, month_from=month_from, month_to=month_to, refresh=refresh)
    return run_source_ingest(spark, decl, client.http, names, now=now, progress=progress)


def rebuild_bronze(spark: SparkSession, players: Sequence[str] | None = None) -> int:
    """Rebuild `bronze.chesscom_games` from raw alone (no API calls); returns its row count
    for the players rebuilt.

    Takes the newest 200 response per (player, month); games no longer in it are deleted.
    A malformed newest payload is skipped and its month left as it was in bronze.
    """
    names = [validate_username(p) for p in players] if players else None
    ensure_table(spark, raw_table(SOURCE))
    ensure_table(spark, GAMES_TABLE)
    raw = read_raw(spark, SOURCE, resource=RESOURCE_MONTH, accounts=names)
    newest = latest_payloads(raw)
    bad = malformed_archives(newest).collect()
    for row in bad:
        log.warning(
            "skipping malformed raw payload %s (%s %s, run %s); bronze keeps that month",
            row["url"], row["account"], row["period"], row["run_id"],
        )  # fmt: skip
    if names is None and not bad:
        _replace_all_games(spark, newest)
        return spark.table(GAMES_TABLE.identifier).count()
    scope = f"player IN ({_sql_list(names)})" if names else "true"
    for row in bad:
        scope += f" AND NOT (player = '{row['account']}' AND archive_month = '{row['period']}')"
    merge_games(spark, newest, delete_scope=scope)
    bronze = spark.table(GAMES_TABLE.identifier)
    return bronze.where(F.col("player").isin(names)).count() if names else bronze.count()


def _replace_all_games(spark: SparkSession, raw: DataFrame) -> None:
    """Replace the whole games table with the games parsed from `raw`, in one commit.

    The bulk path: `raw` holds one payload per (player, month) and the transform keeps one
    row per uuid within a payload, so keys are unique without a shuffle; Iceberg's own hash
    distribution by partition is the only shuffle, and it gives one file set per month.
    """
    conform(_keyed_games(raw), GAMES_SCHEMA).writeTo(GAMES_TABLE.identifier).overwrite(F.lit(True))
