"""WHOOP ingestion: API v2 -> raw -> `lake.bronze.whoop_<resource>`, incrementally.

The shared loop (spark_jobs/common/ingest.py) runs it; this module declares, per account:

1. plan: cycles, recoveries, sleeps and workouts are read by calendar month (UTC), from
   `--from` (else the first month already in state, else the first month with a cycle
   since WHOOP_HISTORY_START, found by bisection) to `--to` (else the current month). A
   month is final once it was read more than the overlap (WHOOP_OVERLAP_DAYS, default 7)
   after it ended *and* held no record still PENDING_SCORE; final months are skipped,
   every other one is read again, so each run re-reads at least the trailing week and
   rescored, late and deleted records converge.
   The profile and body measurement are read whole each run.
2. fetch: every page (`nextToken`, 25 records a page) of the month.
3. merge: the newest record per natural key (cycle `id`, recovery `cycle_id`, sleep and
   workout `id`), into bronze in one commit per resource. A re-read month is mirrored: a
   record that vanished from it upstream is deleted from bronze.

Run it with `lakehouse ingest whoop [--account NAME] [--from YYYY-MM] [--to YYYY-MM]`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import orjson
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs.common.http import ApiResponse
from spark_jobs.common.iceberg import latest_by_key, mirror
from spark_jobs.common.ingest import AccountRun, Fetch, Fetched, SourceIngest
from spark_jobs.common.periods import month_end, month_of, month_start, next_month_start
from spark_jobs.common.raw import rebuild_from_raw
from spark_jobs.whoop.client import (
    COLLECTIONS,
    RESOURCES,
    check_collection_body,
    explain_status,
    month_params,
)
from spark_jobs.whoop.schemas import TABLES
from spark_jobs.whoop.transforms import parse

log = logging.getLogger(__name__)

SOURCE = "whoop"
WHOLE = "all"  # the period of the single documents (profile, body measurement)
DEFAULT_OVERLAP_DAYS = 7


def months(first: str, last: str) -> list[str]:
    """Every month YYYY-MM from first to last, inclusive."""
    out, day = [], month_start(first)
    while month_of(day) <= last:
        out.append(month_of(day))
        day = next_month_start(day)
    return out


def _scope(account: str, periods: Sequence[str]) -> str:
    """SQL predicate on bronze: the rows the read months own (mirrored on merge)."""
    quoted = ", ".join(f"'{p}'" for p in sorted(periods))
    return f"account = '{account}' AND `_window` IN ({quoted})"


def bronze_rows(resource: str, raw: DataFrame) -> DataFrame:
    """Raw responses of one resource -> its bronze rows, newest per natural key."""
    return latest_by_key(parse(resource, raw), TABLES[resource].keys, ("_fetched_at",))


def merge_resource(spark: SparkSession, resource: str, raw: DataFrame, scope: str | None) -> None:
    """Parse raw responses of one resource and MERGE them into its bronze table."""
    mirror(spark, bronze_rows(resource, raw), TABLES[resource], scope)


PROBE = "first_month_probe"  # raw `resource` of the probes (not a bronze table)


def first_month(run: AccountRun, earliest: str, last: str) -> str:
    """The first month from `earliest` to `last` that holds a cycle (WHOOP has one per
    day of wear), found by bisection: a first run without --from then reads the member's
    history, not years of empty months. About log2(months) requests of one record each,
    kept in raw like every response; any failure falls back to `earliest` (whose fetch then
    reports it)."""
    span = months(earliest, last)
    lo, hi = 0, len(span) - 1  # the answer is span[hi] when nothing earlier has a cycle
    while lo < hi:
        mid = (lo + hi) // 2
        query = {**month_params(earliest), "end": month_params(span[mid])["end"], "limit": 1}
        resp = run.client.get(RESOURCES["cycle"].path, params=query)
        run.raw.add(PROBE, run.account, f"{earliest}..{span[mid]}", resp)
        try:
            found = resp.status == 200 and bool(orjson.loads(resp.body)["records"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return earliest
        if resp.status != 200:
            return earliest
        if found:
            hi = mid
        else:
            lo = mid + 1
    if span[hi] != earliest:
        run.progress(f"{run.account}: first month with WHOOP data: {span[hi]}")
    return span[hi]


class WhoopIngest(SourceIngest):
    """WHOOP's declaration to the shared ingest loop (one instance per run)."""

    source = SOURCE
    tables = tuple(TABLES.values())
    flush_every = 25

    def __init__(
        self,
        *,
        first: str | None = None,
        last: str | None = None,
        refresh: bool = False,
        overlap_days: int = DEFAULT_OVERLAP_DAYS,
        history_start: str = "2020-01",
    ) -> None:
        self.first = first
        self.last = last
        self.refresh = refresh
        self.overlap = timedelta(days=overlap_days)
        self.history_start = history_start
        self._pending: set[tuple[str, str]] = set()  # (resource, month) holding PENDING_SCORE

    def arguments(self) -> Mapping[str, object]:
        return {
            "from": self.first, "to": self.last, "refresh": self.refresh,
            "overlap_days": self.overlap.days,
        }  # fmt: skip

    def plan(self, run: AccountRun) -> list[Fetch]:
        current = month_of(run.now.astimezone(UTC).date())
        last = min(self.last or current, current)
        known = [p for (r, p) in run.state if p != WHOLE and r in COLLECTIONS]
        first = self.first or (min(known) if known else first_month(run, self.history_start, last))
        fetches: list[Fetch] = []
        listed = skipped = 0
        for name in COLLECTIONS:
            for period in months(first, last):
                listed += 1
                state = run.state.get((name, period))
                if state is not None and state.is_final and not self.refresh:
                    skipped += 1
                    continue
                reason = "refresh" if self.refresh else ("not-final" if state else "new")
                path = RESOURCES[name].path
                fetches.append(
                    Fetch(name, period, path, month_params(period), paginated=True, reason=reason)
                )
        for name, resource in RESOURCES.items():
            if not resource.collection:
                listed += 1
                fetches.append(Fetch(name, WHOLE, resource.path, None, reason="every run"))
        run.result.listed = listed
        run.result.skipped = skipped
        run.progress(
            f"{run.account}: {len(COLLECTIONS)} collections x months {first}..{last}: "
            f"{len(fetches)} reads, {skipped} final months skipped"
        )
        return fetches

    def check(self, fetch: Fetch, responses: Sequence[ApiResponse]) -> int:
        if not RESOURCES[fetch.resource].collection:
            doc = orjson.loads(responses[-1].body)
            if not isinstance(doc, dict):
                raise ValueError(f"not a WHOOP {fetch.resource} document")
            return 1
        total = pending = 0
        for r in responses:
            n, p = check_collection_body(fetch.resource, r.body)
            total, pending = total + n, pending + p
        if pending:
            self._pending.add((fetch.resource, fetch.period))
        return total

    def is_final(self, fetch: Fetch, checked_at: datetime) -> bool:
        if fetch.period == WHOLE or (fetch.resource, fetch.period) in self._pending:
            return False  # a PENDING_SCORE record is read again until WHOOP has scored it
        if checked_at.tzinfo is None:
            checked_at = checked_at.replace(tzinfo=UTC)
        return checked_at >= month_end(fetch.period) + self.overlap

    def explain(self, fetch: Fetch, resp: ApiResponse, account: str) -> str:
        why = explain_status(resp, fetch.resource, account)
        return f"{account} {fetch.resource} {fetch.period}: {why or f'HTTP {resp.status}'}"

    def merge(
        self, spark: SparkSession, account: str, raw: DataFrame, fetched: list[Fetched]
    ) -> None:
        by_resource: dict[str, list[str]] = {}
        for f in fetched:
            by_resource.setdefault(f.fetch.resource, []).append(f.fetch.period)
        for name, periods in by_resource.items():
            responses = raw.where((F.col("resource") == name) & F.col("period").isin(periods))
            scope = _scope(account, periods) if RESOURCES[name].collection else None
            merge_resource(spark, name, responses, scope)


def rebuild_bronze(spark: SparkSession, accounts: Sequence[str] | None = None) -> int:
    """Rebuild every `bronze.whoop_*` table from raw alone (no API calls); returns the
    number of rows the rebuilt accounts now have across the tables (see
    `common.raw.rebuild_from_raw`: the newest complete read of each month wins)."""
    return rebuild_from_raw(spark, SOURCE, TABLES, bronze_rows, merge_resource, accounts)
