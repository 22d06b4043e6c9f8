"""WHOOP ingestion end to end: the real client and OAuth against the sandbox, into Iceberg.

Each test uses its own account (the Spark session and lakehouse are shared by the run).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import requests

from spark_jobs.common.http import RetryPolicy
from spark_jobs.common.ingest import run_ingest
from spark_jobs.common.oauth import TokenPair
from spark_jobs.sandbox.server import SandboxServer
from spark_jobs.sandbox.whoop import (
    ALL_SCOPES,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    WhoopApp,
    WhoopStore,
)
from spark_jobs.whoop.auth import WhoopAuth
from spark_jobs.whoop.client import WhoopClient
from spark_jobs.whoop.ingest import WhoopIngest, rebuild_bronze
from spark_jobs.whoop.schemas import TABLES
from spark_jobs.whoop.settings import load_whoop_settings

FIRST, LAST = date(2024, 1, 1), date(2024, 3, 20)  # a DST change (10 March) inside
# A clock a few days after the data: March is inside the overlap, January and February final.
SOON_AFTER = datetime(2024, 3, 22, 9, 0, tzinfo=UTC)
ACCOUNTS = ("ana", "bea", "cruz", "dani", "eli", "fay")


@pytest.fixture(scope="module")
def store() -> WhoopStore:
    store = WhoopStore()
    for account in ACCOUNTS:
        store.add_generated_person(account, FIRST, LAST)
    return store


@pytest.fixture(scope="module")
def server(store: WhoopStore) -> Iterator[SandboxServer]:
    with SandboxServer() as srv:
        # No rate limit here: test_429... has its own app with a small one and a fake clock.
        srv.mount("whoop", WhoopApp(store, rate_limit_minute=100_000))
        yield srv


@pytest.fixture
def sandbox(server: SandboxServer) -> Iterator[SandboxServer]:
    server.faults.clear()
    server.clear_requests()
    yield server
    server.faults.clear()


def _settings(server: SandboxServer, tmp: Path):
    base = server.base_url("whoop")
    env = {
        "WHOOP_API_BASE": f"{base}/developer",
        "WHOOP_OAUTH_BASE": f"{base}/oauth/oauth2",
        "WHOOP_CLIENT_ID": DEFAULT_CLIENT_ID,
        "WHOOP_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "WHOOP_TOKEN_DIR": str(tmp),
    }
    return load_whoop_settings(env, tmp)


def _authorise(store: WhoopStore, settings, account: str, *, expired: bool = False) -> None:
    """A token file as `lakehouse auth whoop` leaves it (issued by the sandbox)."""
    path = settings.token_path(account)
    if path.exists():
        return
    access, refresh = store.issue_token(account)
    when = datetime.now(UTC) + (timedelta(minutes=-5) if expired else timedelta(hours=1))
    WhoopAuth(settings, account).store.save(
        TokenPair(access, refresh, when, " ".join(sorted(ALL_SCOPES)))
    )


def _ingest(spark, server, store, tmp, account, *, now=SOON_AFTER, sleeps=None, **kw):
    settings = _settings(server, tmp)
    _authorise(store, settings, account)
    client = WhoopClient(
        settings,
        WhoopAuth(settings, account),
        policy=RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.02),
        sleep=(sleeps if sleeps is not None else []).append,
    )
    try:
        decl = WhoopIngest(first=kw.pop("first", "2024-01"), last=kw.pop("last", "2024-03"), **kw)
        return run_ingest(spark, decl, client.http, [account], now=now, progress=lambda m: None)
    finally:
        client.close()


def _counts(spark, account: str) -> dict[str, int]:
    return {
        name: spark.table(spec.identifier).where(f"account = '{account}'").count()
        for name, spec in TABLES.items()
    }


def _expected(store: WhoopStore, account: str) -> dict[str, int]:
    return {
        **{name: len(store.records(account, name)) for name in ("cycle", "sleep", "workout")},
        "recovery": len(store.records(account, "recovery")),
        "profile": 1,
        "body_measurement": 1,
    }


def _fingerprint(spark, account: str) -> dict[str, str]:
    """A content hash of each bronze table's rows for the account (lineage columns aside)."""
    out = {}
    for name, spec in TABLES.items():
        cols = [f"`{f.name}`" for f in spec.schema if not f.name.startswith("_")]
        rows = spark.sql(
            f"select sha2(to_json(struct({', '.join(cols)})), 256) as h "
            f"from {spec.identifier} where account = '{account}'"
        ).collect()
        out[name] = hashlib.sha256("".join(sorted(r.h for r in rows)).encode()).hexdigest()
    return out


def test_first_run_lands_every_resource_and_rerun_reads_only_open_months(
    spark, sandbox, store, tmp_path
):
    report = _ingest(spark, sandbox, store, tmp_path, "ana")
    assert report.ok, report.errors
    counts = _counts(spark, "ana")
    assert counts == _expected(store, "ana")
    assert counts["cycle"] >= 79 and counts["sleep"] > counts["cycle"]  # naps too
    # Paging: 25 a page, so a month of 31 cycles is two pages.
    assert report.requests > report.results[0].changed == 4 * 3 + 2
    rows = spark.sql(
        """
        select nap, count(*) as n, count(distinct timezone_offset) as offsets,
               sum(case when score_state = 'SCORED' then 1 else 0 end) as scored,
               sum(case when score is null then 1 else 0 end) as unscored
        from lake.bronze.whoop_sleep where account = 'ana' group by nap order by nap
        """
    ).collect()
    main_sleeps, naps = rows
    assert not main_sleeps.nap and naps.nap and naps.n >= 3
    assert main_sleeps.offsets >= 2  # -05:00 then -04:00 after 10 March
    # A score only when SCORED (the newest night is PENDING_SCORE on its first read).
    assert main_sleeps.unscored == main_sleeps.n - main_sleeps.scored >= 1
    open_cycles = spark.sql(
        "select count(*) from lake.bronze.whoop_cycle where account = 'ana' and `end` is null"
    ).first()[0]
    assert open_cycles == 1
    recovery = spark.sql(
        """
        select count(*) from lake.bronze.whoop_recovery r
        join lake.bronze.whoop_sleep s on s.account = r.account and s.id = r.sleep_id
        where r.account = 'ana' and not s.nap
        """
    ).first()[0]
    assert recovery == counts["recovery"]  # every recovery names a main sleep

    # Rerun on the same clock: January and February are final, March (and every month with a
    # PENDING_SCORE record) is read again.
    sandbox.clear_requests()
    again = _ingest(spark, sandbox, store, tmp_path, "ana")
    assert again.ok, again.errors
    result = again.results[0]
    assert result.skipped == 4 * 2 and result.changed == 4 + 2
    assert _counts(spark, "ana") == counts


def test_pending_scores_rescored_and_deleted_records_converge(spark, sandbox, store, tmp_path):
    assert _ingest(spark, sandbox, store, tmp_path, "bea").ok
    pending = spark.sql(
        "select id from lake.bronze.whoop_sleep where account = 'bea' "
        "and score_state = 'PENDING_SCORE'"
    ).collect()
    assert (
        len(pending) == 1
        and not spark.sql(
            f"select * from lake.bronze.whoop_sleep where id = '{pending[0].id}' "
            "and score is not null"
        ).count()
    )
    # Upstream meanwhile: a workout deleted, a sleep rescored (in March, the open month).
    march = [w for w in store.records("bea", "workout") if w["start"].startswith("2024-03")]
    gone = march[0]["id"]
    assert store.delete_record("bea", "workout", gone)
    assert _ingest(spark, sandbox, store, tmp_path, "bea").ok
    scored = spark.sql(
        f"select score_state, score.stage_summary.total_in_bed_time_milli as in_bed "
        f"from lake.bronze.whoop_sleep where account = 'bea' and id = '{pending[0].id}'"
    ).first()
    assert scored.score_state == "SCORED" and scored.in_bed > 0
    assert not spark.sql(f"select * from lake.bronze.whoop_workout where id = '{gone}'").count()
    assert _counts(spark, "bea") == _expected(store, "bea")


def test_a_final_month_with_a_pending_score_is_read_again_until_scored(
    spark, sandbox, store, tmp_path
):
    # February's last sleep is still PENDING_SCORE when a run two weeks later reads it.
    feb = [s for s in store.records("cruz", "sleep") if s["start"].startswith("2024-02")]
    store.set_pending("cruz", "sleep", feb[-1]["id"], reads=1)
    late = datetime(2024, 3, 14, tzinfo=UTC)
    assert _ingest(spark, sandbox, store, tmp_path, "cruz", now=late).ok
    sandbox.clear_requests()
    report = _ingest(spark, sandbox, store, tmp_path, "cruz", now=late)
    assert report.ok
    reread = [
        r.path
        for r in sandbox.request_log.items()
        if r.query.get("start", "").startswith("2024-02-01") and not r.query.get("nextToken")
    ]
    # Only February's sleeps were pending: the other resources' February is final.
    assert reread == ["/developer/v2/activity/sleep"], reread
    state = spark.sql(
        "select resource, period, is_final from lake.raw.ingest_state where source = 'whoop' "
        "and account = 'cruz' and period = '2024-02' order by resource"
    ).collect()
    assert {r.resource: r.is_final for r in state} == {
        "cycle": True,
        "recovery": True,
        "sleep": True,
        "workout": True,
    }  # fmt: skip  (scored on the re-read: now final)


class _Clock:
    """The sandbox's rate-limit clock, advanced by the client's sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds


def test_the_rate_limit_is_kept_from_its_headers_and_a_429_waited_out(spark, store, tmp_path):
    """Another client of the same app spent the minute's quota: the first request gets a
    429 with X-RateLimit-Reset (no Retry-After) and is asked again after it; then the
    client paces itself from X-RateLimit-Remaining and never meets a 429 again."""
    clock = _Clock()
    with SandboxServer() as srv:
        srv.mount("whoop", WhoopApp(store, rate_limit_minute=4, clock=clock))
        settings = _settings(srv, tmp_path)
        _authorise(store, settings, "dani")
        token = WhoopAuth(settings, "dani").access_token()
        for _ in range(4):
            url = f"{srv.base_url('whoop')}/developer/v2/user/measurement/body"
            requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        client = WhoopClient(settings, WhoopAuth(settings, "dani"), sleep=clock.sleep)
        try:
            decl = WhoopIngest(first="2024-03", last="2024-03")
            report = run_ingest(
                spark, decl, client.http, ["dani"], now=SOON_AFTER, progress=lambda m: None
            )
        finally:
            client.close()
        statuses = [r.status for r in srv.request_log.items()]
    assert report.ok, report.errors
    assert statuses[:5] == [200, 200, 200, 200, 429] and statuses.count(429) == 1
    assert 55 <= clock.sleeps[0] <= 61  # the 429's X-RateLimit-Reset, not a backoff guess
    assert len(clock.sleeps) >= 2  # and the pauses before the quota ran out again
    bronze = spark.table(TABLES["cycle"].identifier).where("account = 'dani'")
    assert bronze.count() == sum(
        c["start"].startswith("2024-03") for c in store.records("dani", "cycle")
    )


def test_401_refreshes_once_with_rotation_and_no_secret_is_logged(
    spark, sandbox, store, tmp_path, caplog
):
    settings = _settings(sandbox, tmp_path)
    _authorise(store, settings, "eli")
    before = TokenPair.from_dict(__import__("orjson").loads(settings.token_path("eli").read_text()))
    store.expire_access_tokens("eli")  # WHOOP refuses it although the file says it is valid
    with caplog.at_level(logging.DEBUG):
        report = _ingest(spark, sandbox, store, tmp_path, "eli", first="2024-03")
    assert report.ok, report.errors
    after = WhoopAuth(settings, "eli").store.load()
    assert after.refresh_token != before.refresh_token  # rotated, saved before use
    assert (settings.token_path("eli").stat().st_mode & 0o777) == 0o600
    assert sandbox.request_log.count(status=401) == 1
    for secret in (before.access_token, before.refresh_token, after.access_token,
                   after.refresh_token, DEFAULT_CLIENT_SECRET):  # fmt: skip
        assert secret not in caplog.text


def test_a_first_run_without_from_finds_the_first_month_with_data(spark, sandbox, store, tmp_path):
    """WHOOP_HISTORY_START is 2020-01 and the member's data begin in January 2024: a few
    one-record probes find it, instead of four reads of each of 48 empty months."""
    report = _ingest(spark, sandbox, store, tmp_path, "fay", first=None)
    assert report.ok, report.errors
    probes = [r for r in sandbox.request_log.items() if r.query.get("limit") == "1"]
    assert 1 <= len(probes) <= 7 and report.requests <= len(probes) + 20
    months_read = spark.sql(
        "select min(period) as lo, max(period) as hi from lake.raw.ingest_state "
        "where source = 'whoop' and account = 'fay' and period != 'all'"
    ).first()
    assert (months_read.lo, months_read.hi) == ("2024-01", "2024-03")
    assert _counts(spark, "fay") == _expected(store, "fay")


def test_rebuild_from_raw_reproduces_bronze(spark, sandbox, store, tmp_path):
    assert _ingest(spark, sandbox, store, tmp_path, "ana").ok  # a no-op after the first test
    before = _fingerprint(spark, "ana")
    assert all(_counts(spark, "ana").values())
    rebuild_bronze(spark, ["ana"])
    assert _fingerprint(spark, "ana") == before
