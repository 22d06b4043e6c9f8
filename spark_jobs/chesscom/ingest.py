"""chess.com ingestion: archives -> raw -> `lake.bronze.chesscom_games`, incrementally.

Per player, one run:
1. GET /games/archives (kept in raw) and plan the months to fetch: months never seen,
   months not final yet (the current month is always re-checked), none that are final
   (a month is final once fetched a day after it ended; `--refresh` ignores state).
2. GET each planned month with its stored ETag/Last-Modified: 304 costs no body.
   Bodies go to `lake.raw.chesscom_responses` in batches before anything parses them.
3. MERGE the run's games into bronze on (player, uuid) in one commit; games that vanished
   from a re-fetched month are deleted, so bronze mirrors the API exactly.
4. Only then save the months' validators to `lake.raw.ingest_state` and log the run.

A crash anywhere leaves raw rows (never lost), bronze unchanged or fully merged, and state
behind bronze; the rerun re-fetches what is missing and MERGE makes it idempotent.

Run it with `lakehouse ingest chesscom --player NAME` or spark-submit
`spark_jobs/jobs/chesscom_ingest.py --player NAME`.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs.chesscom.client import (
    Archive,
    ChessComClient,
    check_archive_body,
    parse_archives,
    validate_month,
    validate_username,
)
from spark_jobs.chesscom.schemas import GAMES_SCHEMA
from spark_jobs.chesscom.transforms import games_from_archives, malformed_archives
from spark_jobs.common.http import ApiError, ApiResponse
from spark_jobs.common.iceberg import TableSpec, conform, ensure_table, latest_by_key, merge
from spark_jobs.common.raw import RawRecord, latest_payloads, raw_table, read_raw, write_raw
from spark_jobs.common.state import (
    PeriodState,
    RunRecord,
    ensure_state_tables,
    load_state,
    record_run,
    save_state,
)

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


def new_run_id(now: datetime) -> str:
    return f"{SOURCE}-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def month_end(period: str) -> datetime:
    """First instant (UTC) after the month."""
    year, month = (int(p) for p in period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


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


@dataclass
class PlayerResult:
    player: str
    months_listed: int = 0
    months_changed: int = 0
    months_unchanged: int = 0
    months_skipped: int = 0
    games_merged: int = 0
    responses_kept: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class IngestReport:
    run_id: str
    results: list[PlayerResult]
    requests: int = 0
    not_modified: int = 0
    bytes_received: int = 0

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def errors(self) -> list[str]:
        return [e for r in self.results for e in r.errors]


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


class _RawBuffer:
    """Collects responses and appends them to raw in batches (one commit per batch)."""

    def __init__(self, spark: SparkSession, run_id: str, flush_every: int) -> None:
        self.spark = spark
        self.run_id = run_id
        self.flush_every = flush_every
        self.pending: list[RawRecord] = []
        self.written = 0

    def add(self, resource: str, account: str, period: str | None, resp: ApiResponse) -> None:
        self.pending.append(RawRecord(self.run_id, SOURCE, resource, account, period, resp))
        if len(self.pending) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.written += write_raw(self.spark, SOURCE, self.pending)
            self.pending = []


def ingest_player(
    spark: SparkSession,
    client: ChessComClient,
    player: str,
    *,
    run_id: str,
    now: datetime,
    month_from: str | None = None,
    month_to: str | None = None,
    refresh: bool = False,
    flush_every: int = 12,
    progress: Callable[[str], None] = log.info,
) -> PlayerResult:
    """Bring one player's games up to date; never raises for API trouble (see errors)."""
    result = PlayerResult(player)
    raw = _RawBuffer(spark, run_id, flush_every)
    fetched_states: list[PeriodState] = []
    changed: list[str] = []
    games_in_changed = 0
    try:
        resp = client.archives(player)
        raw.add(RESOURCE_ARCHIVES, player, None, resp)
        archives = parse_archives(resp)
        result.months_listed = len(archives)
        state = load_state(spark, SOURCE, player, RESOURCE_MONTH)
        plans, skipped = plan_months(
            archives, state, month_from=month_from, month_to=month_to, refresh=refresh
        )
        result.months_skipped = len(skipped)
        progress(
            f"{player}: {len(archives)} archives listed, {len(plans)} to check, "
            f"{len(skipped)} final months skipped"
        )
        for i, plan in enumerate(plans, 1):
            period = plan.archive.period
            resp = client.archive_month(plan.archive, plan.etag, plan.last_modified)
            checked_at = resp.fetched_at
            if resp.status == 304:
                result.months_unchanged += 1
                progress(f"{player} [{i}/{len(plans)}] {period}: unchanged (304)")
                previous = state[period]
                fetched_states.append(
                    PeriodState(
                        SOURCE, player, RESOURCE_MONTH, period, plan.archive.url,
                        previous.etag, previous.last_modified, 304,
                        is_month_final(period, checked_at), checked_at,
                        previous.changed_at, run_id,
                    )
                )  # fmt: skip
                continue
            raw.add(RESOURCE_MONTH, player, period, resp)
            if resp.status == 404:
                result.errors.append(
                    f"{player} {period}: chess.com answered 404 for {resp.url}, an archive "
                    "it listed; the month is left as it was and retried next run"
                )
                progress(f"{player} [{i}/{len(plans)}] {period}: 404 (reported)")
                continue
            try:
                games = check_archive_body(resp.body)
            except ValueError as exc:
                result.errors.append(
                    f"{player} {period}: malformed archive body from {resp.url} ({exc}); "
                    f"kept verbatim in {raw_table(SOURCE).identifier} (run_id={run_id}), "
                    "bronze untouched for this month; rerun later"
                )
                progress(f"{player} [{i}/{len(plans)}] {period}: malformed body (reported)")
                continue
            changed.append(period)
            games_in_changed += games
            fetched_states.append(
                PeriodState(
                    SOURCE, player, RESOURCE_MONTH, period, plan.archive.url,
                    resp.etag, resp.last_modified, 200,
                    is_month_final(period, checked_at), checked_at, checked_at, run_id,
                )
            )  # fmt: skip
            progress(
                f"{player} [{i}/{len(plans)}] {period}: {games} games, "
                f"{len(resp.body) / 1024:.0f} KiB ({plan.reason})"
            )
    except ApiError as exc:
        # Retries exhausted, 403/404 on the player, or a malformed archives list: stop this
        # player, but keep and merge everything fetched so far.
        result.errors.append(str(exc))
        progress(f"{player}: stopped: {exc}")
    raw.flush()
    result.responses_kept = raw.written
    result.months_changed = len(changed)
    if changed:
        run_raw = read_raw(
            spark, SOURCE, resource=RESOURCE_MONTH, run_id=run_id, accounts=[player],
            since=now - timedelta(days=1),
        ).where(F.col("period").isin(changed))  # fmt: skip
        scope = f"player = '{player}' AND archive_month IN ({_sql_list(changed)})"
        # One response per month in a run: no need to pick the newest.
        merge_games(spark, run_raw, delete_scope=scope, months=changed)
        result.games_merged = games_in_changed
    save_state(spark, fetched_states)
    return result


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
    if month_from and month_to and month_from > month_to:
        from spark_jobs.chesscom.client import ConfigError

        raise ConfigError(f"--from {month_from} is after --to {month_to}")
    started = now or datetime.now(UTC)
    run_id = new_run_id(started)
    ensure_table(spark, raw_table(SOURCE))
    ensure_table(spark, GAMES_TABLE)
    ensure_state_tables(spark)
    report = IngestReport(run_id, [])
    arguments = json.dumps(
        {"players": names, "from": month_from, "to": month_to, "refresh": refresh}
    )
    for name in dict.fromkeys(names):
        before = client.stats.as_dict()
        result = ingest_player(
            spark, client, name, run_id=run_id, now=started, month_from=month_from,
            month_to=month_to, refresh=refresh, progress=progress,
        )  # fmt: skip
        after = client.stats.as_dict()
        report.results.append(result)
        record_run(
            spark,
            [
                RunRecord(
                    run_id, SOURCE, name, started, datetime.now(UTC),
                    "success" if result.ok else "failed", arguments,
                    after["requests"] - before["requests"],
                    after["not_modified"] - before["not_modified"],
                    after["bytes_received"] - before["bytes_received"],
                    result.responses_kept, result.games_merged,
                    "\n".join(result.errors) or None,
                )
            ],
        )  # fmt: skip
    stats = client.stats.as_dict()
    report.requests = stats["requests"]
    report.not_modified = stats["not_modified"]
    report.bytes_received = stats["bytes_received"]
    return report


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
