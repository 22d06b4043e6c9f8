"""Oura ingestion end to end: the real client and auth against the sandbox, into Iceberg.

Each test uses its own account (the Spark session and lakehouse are shared by the run).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from spark_jobs.common.http import RetryPolicy
from spark_jobs.common.ingest import Fetch, run_ingest
from spark_jobs.oura.auth import OuraAuth, TokenPair, token_store
from spark_jobs.oura.client import ENDPOINTS, OuraClient
from spark_jobs.oura.ingest import OuraIngest, rebuild_bronze
from spark_jobs.oura.schemas import TABLES
from spark_jobs.oura.settings import load_oura_settings
from spark_jobs.sandbox.oura import OuraApp, OuraStore
from spark_jobs.sandbox.server import Fault, SandboxServer

FIRST, LAST = date(2024, 1, 1), date(2024, 2, 10)
# A clock a few days after the data: February is inside the overlap, January is final.
SOON_AFTER = datetime(2024, 2, 12, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def store() -> OuraStore:
    store = OuraStore()
    for account in ("ana", "bea", "cruz", "dani", "eli", "fer", "gus"):
        store.add_generated_person(account, FIRST, LAST)
        store.register_pat(f"pat-{account}", account)
    return store


@pytest.fixture(scope="module")
def server(store: OuraStore) -> Iterator[SandboxServer]:
    with SandboxServer() as srv:
        # Small pages: every window is a multi-page walk.
        srv.mount("oura", OuraApp(store, page_size=7, heartrate_page_size=2000))
        yield srv


@pytest.fixture
def sandbox(server: SandboxServer) -> Iterator[SandboxServer]:
    server.faults.clear()
    server.clear_requests()
    yield server
    server.faults.clear()


def _settings(server: SandboxServer, tmp: Path, pat: str | None):
    base = server.base_url("oura")
    env = {
        "OURA_API_BASE": base,
        "OURA_TOKEN_URL": f"{base}/oauth/token",
        "OURA_AUTHORIZE_URL": f"{base}/oauth/authorize",
        "OURA_CLIENT_ID": "sandbox-client",
        "OURA_CLIENT_SECRET": "sandbox-secret",
        "OURA_TOKEN_DIR": str(tmp),
    }
    if pat:
        env["OURA_PERSONAL_ACCESS_TOKEN"] = pat
    return load_oura_settings(env, tmp)


def _ingest(spark, server, tmp, account, *, pat=True, now=None, sleeps=None, decl=OuraIngest, **kw):
    settings = _settings(server, tmp, f"pat-{account}" if pat else None)
    sleeps = [] if sleeps is None else sleeps
    client = OuraClient(
        settings,
        OuraAuth(settings, account),
        policy=RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.02),
        sleep=sleeps.append,
    )
    try:
        d = decl(client, first=kw.pop("first", FIRST), last=kw.pop("last", LAST), **kw)
        return run_ingest(spark, d, client.http, [account], now=now, progress=lambda m: None)
    finally:
        client.close()


def _in_range(doc: dict, field: str) -> bool:
    return FIRST <= date.fromisoformat(str(doc[field])[:10]) <= LAST


def _expected_counts(store: OuraStore, account: str) -> dict[str, int]:
    out = {}
    for name, ep in ENDPOINTS.items():
        if name == "heartrate":
            lo = datetime.combine(FIRST, datetime.min.time(), UTC)
            out[name] = len(
                store.heartrate(account, lo, lo + timedelta(days=(LAST - FIRST).days + 1))
            )
        elif name == "personal_info":
            out[name] = 1
        elif ep.day_field is None:
            out[name] = len(store.documents(account, name))
        else:
            out[name] = sum(_in_range(d, ep.day_field) for d in store.documents(account, name))
    return out


def _counts(spark, account: str) -> dict[str, int]:
    return {
        name: spark.table(spec.identifier).where(f"account = '{account}'").count()
        for name, spec in TABLES.items()
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


def test_first_run_lands_every_endpoint_and_rerun_skips_final_windows(
    spark, sandbox, store, tmp_path
):
    report = _ingest(spark, sandbox, tmp_path, "ana")
    assert report.ok, report.errors
    expected = _expected_counts(store, "ana")
    assert _counts(spark, "ana") == expected
    assert expected["daily_sleep"] == 41 and expected["heartrate"] > 10_000
    # Paging was exercised: more requests than windows.
    assert report.requests > report.results[0].changed
    sleep = spark.sql(
        "select type, total_sleep_duration, timezone_offset from lake.bronze.oura_sleep "
        "where account = 'ana' and day = date'2024-01-15' and type = 'long_sleep'"
    ).collect()
    doc = next(
        d
        for d in store.documents("ana", "sleep")
        if d["day"] == "2024-01-15" and d["type"] == "long_sleep"
    )
    assert [(r.total_sleep_duration, r.timezone_offset) for r in sleep] == [
        (doc["total_sleep_duration"], doc["bedtime_start"][-6:])
    ]

    sandbox.clear_requests()
    again = _ingest(spark, sandbox, tmp_path, "ana")
    assert again.ok and _counts(spark, "ana") == expected
    # Every window ended long ago: only the two window-less endpoints are read again.
    assert again.results[0].changed == 2
    assert again.results[0].skipped == again.results[0].listed - 2


def test_recent_windows_are_reread_rescored_deleted_and_vanished_documents_converge(
    spark, sandbox, store, tmp_path
):
    assert _ingest(spark, sandbox, tmp_path, "bea", now=SOON_AFTER).ok
    day_doc = next(d for d in store.documents("bea", "daily_sleep") if d["day"] == "2024-02-08")
    store.update_document("bea", "daily_sleep", day_doc["id"], score=11)
    night = next(
        d
        for d in store.documents("bea", "sleep")
        if d["day"] == "2024-02-09" and d["type"] == "long_sleep"
    )
    store.update_document("bea", "sleep", night["id"], type="deleted")
    gone = next(d for d in store.documents("bea", "daily_readiness") if d["day"] == "2024-02-07")
    store.delete_document("bea", "daily_readiness", gone["id"])
    old = next(d for d in store.documents("bea", "daily_sleep") if d["day"] == "2024-01-05")
    store.update_document("bea", "daily_sleep", old["id"], score=12)  # a final window

    report = _ingest(spark, sandbox, tmp_path, "bea", now=SOON_AFTER + timedelta(days=1))
    assert report.ok, report.errors
    got = dict(
        spark.sql(
            "select cast(day as string), score from lake.bronze.oura_daily_sleep "
            "where account = 'bea' and day in (date'2024-02-08', date'2024-01-05')"
        ).collect()
    )
    assert got["2024-02-08"] == 11  # rescored inside the overlap: converged
    assert got["2024-01-05"] == old["score"]  # final window: not re-read
    types = spark.sql(
        f"select type from lake.bronze.oura_sleep where account = 'bea' and id = '{night['id']}'"
    ).collect()
    assert [r.type for r in types] == ["deleted"]  # kept as delivered; staging drops it
    assert (
        spark.table("lake.bronze.oura_daily_readiness")
        .where(f"account = 'bea' and id = '{gone['id']}'")
        .count()
        == 0
    )


def test_429_waits_and_5xx_storm_keeps_completed_work(spark, sandbox, store, tmp_path):
    sandbox.faults.add(
        Fault(source="oura", kind="429", path="/daily_stress", times=1, retry_after=3)
    )
    sandbox.faults.add(Fault(source="oura", kind="503", path="/workout", times=None))
    sleeps: list[float] = []
    report = _ingest(spark, sandbox, tmp_path, "cruz", sleeps=sleeps)
    assert 3.0 in sleeps  # Retry-After honoured
    assert not report.ok
    (error,) = report.errors
    assert "workout" in error and "failed after 3 attempts" in error
    counts = _counts(spark, "cruz")
    expected = _expected_counts(store, "cruz")
    # The walk stopped at the storm; every endpoint before it landed complete.
    assert counts["daily_stress"] == expected["daily_stress"]
    assert counts["workout"] == 0
    sandbox.faults.clear()
    assert _ingest(spark, sandbox, tmp_path, "cruz").ok
    assert _counts(spark, "cruz") == expected


def test_truncated_body_is_kept_reported_and_rerun_completes(spark, sandbox, store, tmp_path):
    sandbox.faults.add(Fault(source="oura", kind="truncated", path="/daily_readiness", times=1))
    report = _ingest(spark, sandbox, tmp_path, "dani")
    (error,) = report.errors
    assert "daily_readiness" in error and "malformed body" in error and "kept verbatim" in error
    kept = spark.sql(
        "select count(*) from lake.raw.oura_responses where account = 'dani' "
        "and resource = 'daily_readiness' and payload not like '%}'"
    ).first()[0]
    assert kept == 1
    # The first page of January's window was cut: that window was not merged, February was.
    january = spark.sql(
        "select count(*) from lake.bronze.oura_daily_readiness where account = 'dani' "
        "and day < date'2024-02-01'"
    ).first()[0]
    assert january == 0 and _counts(spark, "dani")["daily_readiness"] == 10
    assert _ingest(spark, sandbox, tmp_path, "dani").ok
    assert _counts(spark, "dani") == _expected_counts(store, "dani")
    # Rebuilding from raw alone skips the truncated fetch and gives the same bronze.
    before = _fingerprint(spark, "dani")
    rebuild_bronze(spark, ["dani"])
    assert _fingerprint(spark, "dani") == before


def test_expired_token_is_refreshed_once_then_a_refused_refresh_names_auth(
    spark, sandbox, store, tmp_path, caplog
):
    access, refresh = store.issue_token("eli")
    settings = _settings(sandbox, tmp_path, None)
    token_store(settings, "eli").save(
        TokenPair(
            access_token=access, refresh_token=refresh, token_type="bearer",
            expires_at=datetime.now(UTC) + timedelta(hours=1), scope="daily",
        )
    )  # fmt: skip
    store.expire_access_tokens("eli")  # the server says no; our clock says yes: a 401
    report = _ingest(spark, sandbox, tmp_path, "eli", pat=False, endpoints=["daily_sleep"])
    assert report.ok, report.errors
    rotated = token_store(settings, "eli").load()
    assert rotated.refresh_token != refresh  # the new pair was persisted
    assert (tmp_path / "oura_eli.json").stat().st_mode & 0o777 == 0o600

    store.expire_access_tokens("eli")
    store.revoke(rotated.refresh_token)
    report = _ingest(
        spark, sandbox, tmp_path, "eli", pat=False, endpoints=["daily_sleep"], refresh=True
    )
    assert report.bad_input
    assert "lakehouse auth oura --account eli" in report.errors[0]
    logged = caplog.text + "\n".join(report.errors)
    for secret in (access, refresh, rotated.access_token, rotated.refresh_token):
        assert secret not in logged


def test_missing_scope_is_named(spark, sandbox, store, tmp_path):
    scopes = {"daily", "personal", "email"}
    access, refresh = store.issue_token("fer", scopes=scopes)
    settings = _settings(sandbox, tmp_path, None)
    token_store(settings, "fer").save(
        TokenPair(
            access_token=access, refresh_token=refresh, token_type="bearer",
            expires_at=datetime.now(UTC) + timedelta(hours=1), scope=" ".join(scopes),
        )
    )  # fmt: skip
    report = _ingest(
        spark, sandbox, tmp_path, "fer", pat=False, endpoints=["daily_sleep", "heartrate"]
    )
    assert _counts(spark, "fer")["daily_sleep"] == 41
    assert report.errors and all("heartrate" in e for e in report.errors)
    assert "missing scope heartrate or lapsed Oura membership" in report.errors[0]


class _BadDates(OuraIngest):
    """A plan with a date the API rejects: its 422 must name the input."""

    def plan(self, run):
        params = {"start_date": "2024-02-30", "end_date": "2024-03-01"}
        path = "/v2/usercollection/daily_sleep"
        return [Fetch("daily_sleep", "2024-02-01..2024-02-29", path, params, paginated=True)]


def test_422_names_the_input(spark, sandbox, tmp_path):
    report = _ingest(spark, sandbox, tmp_path, "gus", decl=_BadDates)
    assert report.bad_input
    assert "2024-02-30" in report.errors[0]
