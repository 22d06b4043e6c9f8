"""Oura ingestion: every v2 endpoint -> raw -> `lake.bronze.oura_<endpoint>`, incrementally.

The shared loop (spark_jobs/common/ingest.py) runs it; this module declares, per account:

1. plan: per endpoint, the windows of the days to read: calendar months (heartrate: halves
   of months, so a widened request stays under the API's 30-day limit), from `--from` (else
   the first window already in state, else OURA_HISTORY_START) to `--to` (else today, UTC).
   A window is final once it was fetched more than the overlap (default 7 days, Oura syncs
   late and rescores) after it ended; final windows are skipped, every other one re-read.
   Endpoints without a window (ring_configuration, personal_info) are read whole each run.
2. fetch: every page (`next_token`) of the widened window [start - 1 day, end + 1 day]:
   the API's edges are fuzzy, so neighbours' documents arrive too and are dropped in 3.
3. merge: documents whose day lies in the window they were fetched for, newest per natural
   key, into bronze in one commit per endpoint. A re-read window is mirrored: a document
   that vanished from it upstream is deleted from bronze. A sleep session whose `type`
   became `deleted` stays in bronze as delivered; staging drops it.

Run it with `lakehouse ingest oura [--account NAME] [--from YYYY-MM-DD] [--to YYYY-MM-DD]`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

import orjson
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs.common.http import ApiResponse
from spark_jobs.common.iceberg import latest_by_key, mirror
from spark_jobs.common.ingest import AccountRun, Fetch, Fetched, SourceIngest
from spark_jobs.common.periods import month_windows
from spark_jobs.common.raw import rebuild_from_raw
from spark_jobs.oura.client import ENDPOINTS, OuraClient, check_collection_body, explain_status
from spark_jobs.oura.client import window_params as request_params
from spark_jobs.oura.schemas import TABLES
from spark_jobs.oura.transforms import parse

log = logging.getLogger(__name__)

SOURCE = "oura"
WHOLE = "all"  # the period of endpoints read whole (no window)
DEFAULT_OVERLAP_DAYS = 7
DEFAULT_HISTORY_START = date(2018, 1, 1)  # before Oura's API v2 data begins for most rings
HEARTRATE_WINDOW_DAYS = 16  # widened by 3 days: 19 <= the API's 30-day limit


def window_key(start: date, end: date) -> str:
    return f"{start.isoformat()}..{end.isoformat()}"


def parse_window(period: str) -> tuple[date, date]:
    lo, hi = period.split("..")
    return date.fromisoformat(lo), date.fromisoformat(hi)


def windows(endpoint: str, first: date, last: date) -> list[tuple[date, date]]:
    """The windows of `endpoint` covering first..last (inclusive)."""
    max_days = HEARTRATE_WINDOW_DAYS if ENDPOINTS[endpoint].params == "datetime" else None
    if max_days is None:
        return list(month_windows(first, last))
    # Fixed halves of each month (1-16, 17-end), so keys repeat from run to run.
    out = []
    for lo, hi in month_windows(first, last):
        mid = lo.replace(day=HEARTRATE_WINDOW_DAYS)
        if lo <= mid < hi:
            out += [(lo, mid), (mid + timedelta(days=1), hi)]
        else:
            out.append((lo, hi))
    return out


def _window_bounds(period: Column) -> tuple[Column, Column]:
    return F.to_date(F.substring(period, 1, 10)), F.to_date(F.substring(period, 13, 10))


def _belonging(endpoint: str, parsed: DataFrame, raw: DataFrame) -> DataFrame:
    """The parsed documents whose day lies in the window of the fetch they came from."""
    day_field = ENDPOINTS[endpoint].day_field
    if day_field is None:
        return parsed
    meta = raw.select(
        F.col("run_id").alias("_m_run"), F.col("fetched_at").alias("_m_at"),
        F.col("account").alias("_m_account"), F.col("period").alias("_m_period"),
    ).distinct()  # fmt: skip
    joined = parsed.join(
        F.broadcast(meta),
        (parsed["_run_id"] == meta["_m_run"])
        & (parsed["_fetched_at"] == meta["_m_at"])
        & (parsed["account"] == meta["_m_account"]),
    )
    lo, hi = _window_bounds(F.col("_m_period"))
    day = (
        F.to_date(F.col(day_field))
        if ENDPOINTS[endpoint].params == "datetime"
        else F.col(day_field)
    )
    return joined.where(day.between(lo, hi)).select(*parsed.columns)


def _scope(endpoint: str, account: str, periods: Sequence[str]) -> str:
    """SQL predicate on bronze: the rows the fetched windows own (mirrored on merge)."""
    day_field = ENDPOINTS[endpoint].day_field
    base = f"account = '{account}'"
    if day_field is None or WHOLE in periods:
        return base
    parts = []
    for period in periods:
        lo, hi = parse_window(period)
        if ENDPOINTS[endpoint].params == "datetime":
            parts.append(
                f"(`{day_field}` >= TIMESTAMP '{lo} 00:00:00' AND "
                f"`{day_field}` < TIMESTAMP '{hi + timedelta(days=1)} 00:00:00')"
            )
        else:
            parts.append(f"(`{day_field}` BETWEEN DATE '{lo}' AND DATE '{hi}')")
    return f"{base} AND ({' OR '.join(parts)})"


def _bronze_rows(endpoint: str, raw: DataFrame) -> DataFrame:
    """Raw pages of one endpoint -> its bronze rows: the documents that belong to the window
    they were read for, newest per natural key."""
    spec = TABLES[endpoint]
    docs = _belonging(endpoint, parse(endpoint, raw), raw)
    return latest_by_key(docs, spec.keys, ("_fetched_at",))


def merge_endpoint(spark: SparkSession, endpoint: str, raw: DataFrame, scope: str | None) -> None:
    """Parse raw pages of one endpoint and MERGE them into its bronze table (one commit)."""
    mirror(spark, _bronze_rows(endpoint, raw), TABLES[endpoint], scope)


class OuraIngest(SourceIngest):
    """Oura's declaration to the shared ingest loop (one instance per run)."""

    source = SOURCE
    tables = tuple(TABLES.values())
    flush_every = 50

    def __init__(
        self,
        client: OuraClient,
        *,
        first: date | None = None,
        last: date | None = None,
        refresh: bool = False,
        overlap_days: int = DEFAULT_OVERLAP_DAYS,
        history_start: date = DEFAULT_HISTORY_START,
        endpoints: Sequence[str] | None = None,
    ) -> None:
        self.client = client
        self.first = first
        self.last = last
        self.refresh = refresh
        self.overlap = timedelta(days=overlap_days)
        self.history_start = history_start
        self.endpoints = list(endpoints or ENDPOINTS)

    def arguments(self) -> Mapping[str, object]:
        return {
            "from": self.first, "to": self.last, "refresh": self.refresh,
            "overlap_days": self.overlap.days,
        }  # fmt: skip

    def plan(self, run: AccountRun) -> list[Fetch]:
        today = run.now.astimezone(UTC).date()
        last = min(self.last or today, today)
        fetches: list[Fetch] = []
        listed = skipped = 0
        for name in self.endpoints:
            ep = ENDPOINTS[name]
            if ep.day_field is None:
                fetches.append(Fetch(name, WHOLE, ep.path, None, paginated=ep.paginated))
                listed += 1
                continue
            known = [parse_window(p)[0] for (r, p), _ in run.state.items() if r == name]
            first = self.first or (min(known) if known else self.history_start)
            for lo, hi in windows(name, first, last):
                period = window_key(lo, hi)
                listed += 1
                state = run.state.get((name, period))
                if state is not None and state.is_final and not self.refresh:
                    skipped += 1
                    continue
                (params,) = request_params(ep, lo, hi)
                reason = "refresh" if self.refresh else ("not-final" if state else "new")
                fetches.append(Fetch(name, period, ep.path, params, paginated=True, reason=reason))
        run.result.listed = listed
        run.result.skipped = skipped
        run.progress(
            f"{run.account}: {len(self.endpoints)} endpoints, {len(fetches)} windows to read, "
            f"{skipped} final windows skipped"
        )
        return fetches

    def check(self, fetch: Fetch, responses: Sequence[ApiResponse]) -> int:
        if not ENDPOINTS[fetch.resource].paginated:
            doc = orjson.loads(responses[-1].body)
            if not isinstance(doc, dict) or "id" not in doc:
                raise ValueError("not a personal_info document")
            return 1
        return sum(check_collection_body(r.body) for r in responses)

    def is_final(self, fetch: Fetch, checked_at: datetime) -> bool:
        if fetch.period == WHOLE:
            return False
        _, end = parse_window(fetch.period)
        return checked_at.astimezone(UTC).date() > end + self.overlap

    def explain(self, fetch: Fetch, resp: ApiResponse, account: str) -> str:
        why = explain_status(resp, fetch.resource, account)
        return f"{account} {fetch.resource} {fetch.period}: {why or f'HTTP {resp.status}'}"

    def merge(
        self, spark: SparkSession, account: str, raw: DataFrame, fetched: list[Fetched]
    ) -> None:
        by_endpoint: dict[str, list[str]] = {}
        for f in fetched:
            by_endpoint.setdefault(f.fetch.resource, []).append(f.fetch.period)
        for name, periods in by_endpoint.items():
            pages = raw.where((F.col("resource") == name) & F.col("period").isin(periods))
            merge_endpoint(spark, name, pages, _scope(name, account, periods))


def rebuild_bronze(spark: SparkSession, accounts: Sequence[str] | None = None) -> int:
    """Rebuild every `bronze.oura_*` table from raw alone (no API calls); returns the
    number of rows the rebuilt accounts now have across the tables (see
    `common.raw.rebuild_from_raw`)."""
    return rebuild_from_raw(spark, SOURCE, TABLES, _bronze_rows, merge_endpoint, accounts)
