"""The one ingest loop every source declares into.

Per account, one run, under the account's lakehouse lock (spark_jobs/common/lock.py: no
other process ingests that account or rebuilds the source meanwhile):

1. **plan** (the source): which periods to request and how, from the stored state; a plan
   may make listing requests first (chess.com's archives list), kept in raw like any other;
2. **fetch** (here): a conditional GET with the stored ETag / Last-Modified (a 304 costs no
   body), or every page of a cursor-paginated collection (`HttpClient.get_pages`);
3. **raw**: every response body, verbatim, appended in batches before anything parses it;
4. **check** (the source): a body that is not what the API promises (truncated, not JSON)
   is reported and its period left as it was: it stays in raw, bronze is not touched;
5. **parse + MERGE** (the source): the run's complete periods into bronze, one commit per
   table, on natural keys; a re-read period is mirrored (rows that vanished are deleted);
6. **state**: only then the periods' validators and finality go to `lake.raw.ingest_state`;
7. **run log**: one row per (run, account) in `lake.raw.ingest_runs`, written `running`
   before the account's first request and completed when it ends (spark_jobs/common/state.py).

A crash anywhere leaves raw rows (never lost), bronze unchanged or fully merged, and state
behind bronze; the rerun re-fetches what is missing and MERGE makes it idempotent.
API trouble never raises out of an account: it becomes an error line of the report, and
everything fetched before it is merged.
"""

from __future__ import annotations

import json
import logging
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs.common.errors import ConfigError
from spark_jobs.common.http import ApiError, ApiResponse, HttpClient
from spark_jobs.common.iceberg import TableSpec, ensure_table
from spark_jobs.common.lock import (
    DEFAULT_WAIT_TIMEOUT,
    LockScope,
    account_lock,
    hold_locks,
    source_lock,
)
from spark_jobs.common.progress import heartbeat
from spark_jobs.common.raw import RawRecord, raw_table, read_raw, write_raw
from spark_jobs.common.state import (
    STATE_TABLE,
    PeriodState,
    RunRecord,
    close_interrupted,
    ensure_state_tables,
    record_run,
    save_state,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetch:
    """One planned request (or page walk) for one period of one resource."""

    resource: str
    period: str
    path: str
    params: Mapping[str, str | int] | None = None
    etag: str | None = None
    last_modified: str | None = None
    paginated: bool = False
    reason: str = "new"  # new | not-final | refresh


@dataclass
class Fetched:
    """A period whose responses all arrived and passed the source's check."""

    fetch: Fetch
    responses: list[ApiResponse]
    records: int


@dataclass
class AccountResult:
    """What one account's run did (sources may subclass it to add their own names)."""

    account: str
    listed: int = 0  # periods the API offers (or the plan considered)
    changed: int = 0
    unchanged: int = 0  # 304s
    skipped: int = 0  # final periods not requested
    rows_merged: int = 0  # records received in changed periods
    responses_kept: int = 0
    errors: list[str] = field(default_factory=list)
    bad_input: bool = False  # the API refused the request itself (422): the input is wrong

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class IngestReport:
    run_id: str
    source: str
    results: list[AccountResult]
    requests: int = 0
    not_modified: int = 0
    bytes_received: int = 0

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def errors(self) -> list[str]:
        return [e for r in self.results for e in r.errors]

    @property
    def bad_input(self) -> bool:
        return any(r.bad_input for r in self.results)


class RawBuffer:
    """Collects responses and appends them to raw in batches (one commit per batch)."""

    def __init__(self, spark: SparkSession, source: str, run_id: str, flush_every: int) -> None:
        self.spark = spark
        self.source = source
        self.run_id = run_id
        self.flush_every = flush_every
        self.pending: list[RawRecord] = []
        self.written = 0

    def add(self, resource: str, account: str, period: str | None, resp: ApiResponse) -> None:
        self.pending.append(RawRecord(self.run_id, self.source, resource, account, period, resp))
        if len(self.pending) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.written += write_raw(self.spark, self.source, self.pending)
            self.pending = []


@dataclass
class AccountRun:
    """What a source's plan() sees: the account, its stored state, the run's clock, and
    the raw buffer (a listing request made while planning is kept in raw too)."""

    spark: SparkSession
    client: HttpClient
    account: str
    run_id: str
    now: datetime
    state: dict[tuple[str, str], PeriodState]
    raw: RawBuffer
    result: AccountResult
    progress: Callable[[str], None]


class SourceIngest(ABC):
    """What a source declares to the loop. One instance per run (it holds the arguments)."""

    source: str
    tables: Sequence[TableSpec]
    flush_every: int = 12

    def new_result(self, account: str) -> AccountResult:
        return AccountResult(account)

    @abstractmethod
    def plan(self, run: AccountRun) -> list[Fetch]:
        """The periods to request for this account (sets run.result.listed / skipped)."""

    @abstractmethod
    def check(self, fetch: Fetch, responses: Sequence[ApiResponse]) -> int:
        """Records in a complete fetch; raises ValueError for a malformed body."""

    @abstractmethod
    def is_final(self, fetch: Fetch, checked_at: datetime) -> bool:
        """Whether the period can never change any more once fetched at `checked_at`."""

    @abstractmethod
    def merge(
        self, spark: SparkSession, account: str, raw: DataFrame, fetched: list[Fetched]
    ) -> None:
        """Parse the run's raw rows of the `fetched` periods and MERGE them into bronze."""

    def explain(self, fetch: Fetch, resp: ApiResponse, account: str) -> str:
        """The error line for a final non-2xx answer (sources name the fix)."""
        return f"{account} {fetch.resource} {fetch.period}: HTTP {resp.status} from {resp.url}"

    def arguments(self) -> Mapping[str, object]:
        """The run's arguments, recorded in the run log."""
        return {}


def new_run_id(source: str, now: datetime) -> str:
    return f"{source}-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def load_account_state(
    spark: SparkSession, source: str, account: str
) -> dict[tuple[str, str], PeriodState]:
    """(resource, period) -> stored state, for one account of one source."""
    rows = (
        spark.table(STATE_TABLE.identifier)
        .where((F.col("source") == source) & (F.col("account") == account))
        .collect()
    )
    return {(r["resource"], r["period"]): PeriodState(**r.asDict()) for r in rows}


def _state(
    decl: SourceIngest, run: AccountRun, fetch: Fetch, resp: ApiResponse, changed: bool
) -> PeriodState:
    previous = run.state.get((fetch.resource, fetch.period))
    checked_at = resp.fetched_at
    return PeriodState(
        decl.source, run.account, fetch.resource, fetch.period, resp.url,
        resp.etag if changed else (previous.etag if previous else None),
        resp.last_modified if changed else (previous.last_modified if previous else None),
        # Finality on the run's clock (`now`: what planning used), checked_at as it happened.
        resp.status, decl.is_final(fetch, run.now), checked_at,
        checked_at if changed else (previous.changed_at if previous else None), run.run_id,
    )  # fmt: skip


def ingest_account(
    spark: SparkSession,
    decl: SourceIngest,
    client: HttpClient,
    account: str,
    *,
    run_id: str,
    now: datetime,
    progress: Callable[[str], None] = log.info,
) -> AccountResult:
    """Bring one account up to date; never raises for API trouble (see result.errors)."""
    result = decl.new_result(account)
    raw = RawBuffer(spark, decl.source, run_id, decl.flush_every)
    with heartbeat(f"{account}: reading its stored state", progress, announce=False):
        state = load_account_state(spark, decl.source, account)
    run = AccountRun(spark, client, account, run_id, now, state, raw, result, progress)
    states: list[PeriodState] = []
    fetched: list[Fetched] = []
    try:
        plans = decl.plan(run)
        for i, fetch in enumerate(plans, 1):
            where = f"{account} [{i}/{len(plans)}] {fetch.resource} {fetch.period}"
            if fetch.paginated:
                responses = []
                for resp in client.get_pages(fetch.path, params=fetch.params):
                    raw.add(fetch.resource, account, fetch.period, resp)
                    responses.append(resp)
            else:
                resp = client.get(
                    fetch.path, params=fetch.params, etag=fetch.etag,
                    last_modified=fetch.last_modified,
                )  # fmt: skip
                if resp.status != 304:
                    raw.add(fetch.resource, account, fetch.period, resp)
                responses = [resp]
            last = responses[-1]
            if last.status == 304:
                result.unchanged += 1
                states.append(_state(decl, run, fetch, last, changed=False))
                progress(f"{where}: unchanged (304)")
                continue
            if last.status != 200:
                result.bad_input |= last.status == 422
                result.errors.append(decl.explain(fetch, last, account))
                progress(f"{where}: HTTP {last.status} (reported)")
                continue
            try:
                records = decl.check(fetch, responses)
            except ValueError as exc:
                result.errors.append(
                    f"{account} {fetch.resource} {fetch.period}: malformed body from "
                    f"{last.url} ({exc}); kept verbatim in {raw_table(decl.source).identifier} "
                    f"(run_id={run_id}), bronze untouched for this period; rerun later"
                )
                progress(f"{where}: malformed body (reported)")
                continue
            fetched.append(Fetched(fetch, responses, records))
            states.append(_state(decl, run, fetch, last, changed=True))
            size = sum(len(r.body) for r in responses)
            pages = f", {len(responses)} pages" if len(responses) > 1 else ""
            progress(f"{where}: {records} records, {size / 1024:.0f} KiB{pages} ({fetch.reason})")
    except (ApiError, ConfigError) as exc:
        # Retries exhausted, a refused account or a refused token refresh: stop here, keep
        # and merge what arrived.
        result.errors.append(str(exc))
        result.bad_input |= isinstance(exc, ConfigError)
        progress(f"{account}: stopped: {exc}")
    raw.flush()
    result.responses_kept = raw.written
    result.changed = len(fetched)
    step = f"merging {len(fetched)} periods into bronze" if fetched else "saving state"
    with heartbeat(f"{account}: {step}", progress):
        if fetched:
            run_raw = read_raw(
                spark, decl.source, resources=sorted({f.fetch.resource for f in fetched}),
                run_id=run_id, accounts=[account], since=now - timedelta(days=1),
            )  # fmt: skip
            decl.merge(spark, account, run_raw, fetched)
            result.rows_merged = sum(f.records for f in fetched)
        save_state(spark, states)
    return result


def lakehouse_home(spark: SparkSession) -> Path:
    """The LAKEHOUSE_HOME whose `locks/` guard the catalog this session writes: the
    embedded catalog's folder, else the configured home (the CLI locks the same one)."""
    uri = spark.conf.get("spark.sql.catalog.lake.uri", "") or ""
    if uri.startswith("jdbc:sqlite:"):
        return Path(uri.removeprefix("jdbc:sqlite:").split("?", 1)[0]).parent
    from spark_jobs.settings import load_settings

    return load_settings().home


def run_ingest(
    spark: SparkSession,
    decl: SourceIngest,
    client: HttpClient,
    accounts: Sequence[str],
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] = log.info,
    wait: bool = False,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
) -> IngestReport:
    """Ingest several accounts one after the other; one run log row per account.

    Holds the lakehouse locks (spark_jobs/common/lock.py): the source's, shared, for the
    whole run, and each account's before anything of that account is written. A caller
    that holds them already (the CLI and the Spark job take them before Spark starts)
    keeps them: taking them again here is a no-op.

    Raises:
        LockHeld: another process ingests one of the accounts or rebuilds the source
            (at once, or with `wait` after `wait_timeout` seconds).
    """
    home = lakehouse_home(spark)

    def locked(scope: LockScope) -> AbstractContextManager[None]:
        return hold_locks(home, [scope], wait=wait, timeout=wait_timeout, progress=progress)

    started = now or datetime.now(UTC)
    run_id = new_run_id(decl.source, started)
    report = IngestReport(run_id, decl.source, [])
    arguments = json.dumps({"accounts": list(accounts), **decl.arguments()}, default=str)
    with locked(source_lock(decl.source, shared=True)):
        checking = f"{decl.source}: checking its raw, bronze and state tables"
        with heartbeat(checking, progress, announce=False):
            ensure_table(spark, raw_table(decl.source))
            for table in decl.tables:
                ensure_table(spark, table)
            ensure_state_tables(spark)
        for account in dict.fromkeys(accounts):
            # One account's lock at a time: a long multi-account run never holds the others.
            with locked(account_lock(decl.source, account)):
                result = _logged_account(
                    spark, decl, client, account, run_id, started, arguments, progress
                )
                report.results.append(result)
    stats = client.stats.as_dict()
    report.requests = stats["requests"]
    report.not_modified = stats["not_modified"]
    report.bytes_received = stats["bytes_received"]
    return report


def _logged_account(
    spark: SparkSession,
    decl: SourceIngest,
    client: HttpClient,
    account: str,
    run_id: str,
    started: datetime,
    arguments: str,
    progress: Callable[[str], None],
) -> AccountResult:
    """One account's run between its two run-log rows: `running` first, then how it ended
    (a crash that Python sees is logged too; a kill -9 is closed by the next run)."""
    start = RunRecord(run_id, decl.source, account, started, None, "running", arguments)
    with heartbeat(f"{account}: logging the run's start", progress, announce=False):
        closed = close_interrupted(spark, decl.source, account, raw_table(decl.source).identifier)
        record_run(spark, [start], new=True)
    if closed:
        progress(f"{account}: closed {closed} interrupted earlier run(s) in the run log")
    before = client.stats.as_dict()

    def end(status: str, result: AccountResult | None, error: str | None) -> None:
        after = client.stats.as_dict()
        cost = {k: after[k] - before[k] for k in ("requests", "not_modified", "bytes_received")}
        record = replace(
            start, finished_at=datetime.now(UTC), status=status, **cost,
            responses_kept=result.responses_kept if result else 0,
            rows_merged=result.rows_merged if result else 0, error=error,
        )  # fmt: skip
        with heartbeat(f"{account}: logging the run's end", progress, announce=False):
            record_run(spark, [record])

    try:
        result = ingest_account(
            spark, decl, client, account, run_id=run_id, now=started, progress=progress
        )
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt | SystemExit) else "failed"
        try:
            end(status, None, f"{status}: {type(exc).__name__}: {exc}"[:2000])
        except Exception:  # the catalog itself may be what failed: the next run closes the row
            log.warning("could not log the end of run %s for %s", run_id, account)
        raise
    end("success" if result.ok else "failed", result, "\n".join(result.errors) or None)
    return result


def ingest_each_account(
    spark: SparkSession,
    accounts: Sequence[str],
    open_client: Callable[[str], object],
    declare: Callable[[object], SourceIngest],
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] = log.info,
) -> IngestReport:
    """OAuth sources: one token, hence one client, per account (each person authorises
    their own device). Runs `run_ingest` per account with `open_client(account)` (an
    object with `.http` and `.close()`) and `declare(client)`; one combined report."""
    combined: IngestReport | None = None
    for account in accounts:
        client = open_client(account)
        try:
            report = run_ingest(
                spark, declare(client), client.http, [account], now=now, progress=progress
            )
        finally:
            client.close()
        if combined is None:
            combined = report
        else:
            combined.results += report.results
            combined.requests += report.requests
            combined.not_modified += report.not_modified
            combined.bytes_received += report.bytes_received
    if combined is None:
        raise ConfigError("name at least one account")
    return combined
