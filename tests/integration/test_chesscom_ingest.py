"""chess.com ingestion end to end: the real client against the sandbox, into real Iceberg.

Every test uses its own player names, so tests share one Spark session and lakehouse
without seeing each other's rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from spark_jobs.chesscom.client import ChessComClient, ConfigError
from spark_jobs.chesscom.ingest import is_month_final, rebuild_bronze, run_ingest
from spark_jobs.common.http import RetryPolicy
from spark_jobs.sandbox.chesscom import ChessComApp, ChessComStore
from spark_jobs.sandbox.chesscom_generator import generate_history
from spark_jobs.sandbox.server import Fault, SandboxServer
from tests.conftest import recent_month

pytestmark = pytest.mark.spark

FIXTURES = Path(__file__).parent.parent / "fixtures" / "chesscom"
UA = "lakehouse-tests/0.1 (tests@example.com)"
NOW = datetime.now(UTC)
THIS_MONTH = NOW.strftime("%Y-%m")
RECORDED = {
    ("magnuscarlsen", "2024-01"): "chess_hair__games_magnuscarlsen_2024_01.json",
    ("magnuscarlsen", "2024-02"): "chess_hair__games_magnuscarlsen_2024_02.json",
    ("ham_sammy", "2024-06"): "chess_hair__games_ham_sammy_2024_06.json",
    ("aegboye7", "2025-03"): "chessWrapped__games_aegboye7_2025_03.json",
}


@pytest.fixture(scope="module")
def store() -> ChessComStore:
    store = ChessComStore()
    for (player, month), name in RECORDED.items():
        store.load_recorded(FIXTURES / name, player, month)
    return store


@pytest.fixture(scope="module")
def server(store: ChessComStore) -> Iterator[SandboxServer]:
    with SandboxServer() as srv:
        srv.mount("chesscom", ChessComApp(store))
        yield srv


@pytest.fixture
def sandbox(server: SandboxServer) -> Iterator[SandboxServer]:
    server.faults.clear()
    server.clear_requests()
    yield server
    server.faults.clear()


def _client(server: SandboxServer, sleeps: list[float] | None = None) -> ChessComClient:
    return ChessComClient(
        server.base_url("chesscom"),
        UA,
        policy=RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05),
        sleep=(sleeps.append if sleeps is not None else None),
    )


def _ingest(spark, server: SandboxServer, players: list[str], **kwargs):
    sleeps: list[float] = kwargs.pop("sleeps", [])
    client = _client(server, sleeps)
    try:
        return run_ingest(spark, client, players, **kwargs)
    finally:
        client.close()


def _bronze(spark, player: str) -> list:
    return spark.sql(
        f"select uuid, archive_month from lake.bronze.chesscom_games where player = '{player}'"
    ).collect()


def _expected_uuids(store: ChessComStore, player: str) -> set[str]:
    return {g["uuid"] for m in store.months(player) for g in store.games(player, m)}


def test_recorded_archives_land_typed_and_reruns_add_nothing(spark, sandbox, store) -> None:
    report = _ingest(spark, sandbox, ["MagnusCarlsen", "ham_sammy"])
    assert report.ok, report.errors
    for player in ("magnuscarlsen", "ham_sammy"):
        rows = _bronze(spark, player)
        assert len(rows) == len({r.uuid for r in rows}) == len(_expected_uuids(store, player))
        assert {r.uuid for r in rows} == _expected_uuids(store, player)
    # Every response body is in raw, verbatim.
    raw = spark.sql(
        "select url, payload, payload_sha256 from lake.raw.chesscom_responses "
        f"where run_id = '{report.run_id}' and resource = 'games_month'"
    ).collect()
    assert len(raw) == 3
    for row in raw:
        month = row.url.rstrip("/").split("/games/")[1].replace("/", "-")
        player = row.url.split("/player/")[1].split("/")[0]
        assert json.loads(row.payload)["games"] == store.games(player, month)

    # Rerun: the months are final, so only the archives lists are requested.
    sandbox.clear_requests()
    again = _ingest(spark, sandbox, ["magnuscarlsen", "ham_sammy"])
    assert again.ok and again.requests == 2
    assert [r.path for r in sandbox.requests] == [
        "/pub/player/magnuscarlsen/games/archives",
        "/pub/player/ham_sammy/games/archives",
    ]
    assert len(_bronze(spark, "magnuscarlsen")) == len(_expected_uuids(store, "magnuscarlsen"))

    # A --refresh re-downloads everything; MERGE keeps it duplicate-free.
    refreshed = _ingest(spark, sandbox, ["magnuscarlsen"], refresh=True)
    assert refreshed.ok and refreshed.results[0].months_changed == 2
    rows = _bronze(spark, "magnuscarlsen")
    assert len(rows) == len({r.uuid for r in rows}) == len(_expected_uuids(store, "magnuscarlsen"))


def test_current_month_is_rechecked_with_a_conditional_request(spark, sandbox, store) -> None:
    player = "fictional_fischer"
    store.add_player(player, generate_history(player, recent_month(5), THIS_MONTH, seed=3))
    first = _ingest(spark, sandbox, [player])
    assert first.ok, first.errors
    assert first.results[0].months_changed == 6
    before = len(_bronze(spark, player))
    assert before == len(_expected_uuids(store, player))

    # Nothing changed: the archives list plus one 304 for the current month (and for last
    # month too on the 1st of a month, when it may still receive games).
    rechecked = sum(not is_month_final(m, NOW) for m in store.months(player))
    sandbox.clear_requests()
    second = _ingest(spark, sandbox, [player])
    assert second.ok
    assert (second.requests, second.not_modified) == (1 + rechecked, rechecked)
    month_req = sandbox.requests[-1]
    assert month_req.status == 304 and month_req.conditional
    assert second.bytes_received < 2000

    # A new game in the current month: one 200, the game arrives, nothing duplicates.
    template = store.games(player, THIS_MONTH)[-1]
    new_game = {**template, "uuid": "00000000-0000-4000-8000-000000000001"}
    store.add_games(player, THIS_MONTH, [new_game])
    third = _ingest(spark, sandbox, [player])
    assert third.ok and third.results[0].months_changed == 1
    rows = _bronze(spark, player)
    assert len(rows) == before + 1 == len({r.uuid for r in rows})

    # A game removed upstream from a re-fetched month disappears from bronze too.
    store.replace_month(player, THIS_MONTH, store.games(player, THIS_MONTH)[:-1])
    assert _ingest(spark, sandbox, [player]).ok
    assert len(_bronze(spark, player)) == before


def test_backfill_range_only_fetches_those_months(spark, sandbox, store) -> None:
    player = "range_rider"
    store.add_player(player, generate_history(player, "2023-01", "2023-12", seed=5))
    report = _ingest(spark, sandbox, [player], month_from="2023-03", month_to="2023-04")
    assert report.ok and report.results[0].months_changed == 2
    assert {r.archive_month for r in _bronze(spark, player)} == {"2023-03", "2023-04"}
    with pytest.raises(ConfigError, match="after --to"):
        _ingest(spark, sandbox, [player], month_from="2023-05", month_to="2023-04")
    with pytest.raises(ConfigError, match="YYYY-MM"):
        _ingest(spark, sandbox, [player], month_from="2023-5")


@pytest.mark.parametrize("kind", ["malformed", "truncated"])
def test_broken_body_is_kept_in_raw_and_reported(spark, sandbox, store, kind: str) -> None:
    player = f"broken_{kind}"
    store.add_player(player, generate_history(player, "2023-01", "2023-03", seed=9))
    sandbox.faults.add(Fault(source="chesscom", kind=kind, path=r"/games/2023/02$"))
    report = _ingest(spark, sandbox, [player])
    assert not report.ok
    (error,) = report.errors
    assert "2023-02" in error and "malformed" in error and "/games/2023/02" in error
    raw = spark.sql(
        "select payload_sha256, http_status from lake.raw.chesscom_responses "
        f"where run_id = '{report.run_id}' and account = '{player}' and period = '2023-02'"
    ).collect()
    assert len(raw) == 1 and raw[0].http_status == 200  # the broken body, kept verbatim
    # The good months are in bronze; the broken month has no rows at all.
    assert {r.archive_month for r in _bronze(spark, player)} == {"2023-01", "2023-03"}
    # A rebuild from raw skips the broken payload instead of failing.
    rebuild_bronze(spark, [player])
    assert {r.archive_month for r in _bronze(spark, player)} == {"2023-01", "2023-03"}

    # The API recovers: the rerun completes the month, no duplicates, no gaps.
    sandbox.faults.clear()
    rerun = _ingest(spark, sandbox, [player])
    assert rerun.ok and rerun.results[0].months_changed == 1
    rows = _bronze(spark, player)
    assert {r.uuid for r in rows} == _expected_uuids(store, player) and len(rows) == len(
        _expected_uuids(store, player)
    )


def test_5xx_storm_stops_the_player_and_keeps_completed_months(spark, sandbox, store) -> None:
    player = "stormy_weather"
    store.add_player(player, generate_history(player, "2023-01", "2023-04", seed=2))
    sandbox.faults.add(Fault(source="chesscom", kind="503", path=r"/games/2023/03$"))
    report = _ingest(spark, sandbox, [player])
    assert not report.ok
    assert "failed after 3 attempts (HTTP 503)" in report.errors[0]
    assert {r.archive_month for r in _bronze(spark, player)} == {"2023-01", "2023-02"}
    runs = spark.sql(
        f"select status, error from lake.raw.ingest_runs where run_id = '{report.run_id}'"
    ).collect()
    assert runs[0].status == "failed" and "503" in runs[0].error

    sandbox.faults.clear()
    rerun = _ingest(spark, sandbox, [player])
    assert rerun.ok and rerun.results[0].months_changed == 2  # only what was missing
    assert len(_bronze(spark, player)) == len(_expected_uuids(store, player))


def test_429_waits_for_retry_after(spark, sandbox, store) -> None:
    player = "rate_limited"
    store.add_player(player, generate_history(player, "2023-01", "2023-01", seed=4))
    sandbox.faults.add(
        Fault(source="chesscom", kind="429", path=r"/games/2023/01$", times=2, retry_after=3)
    )
    sleeps: list[float] = []
    report = _ingest(spark, sandbox, [player], sleeps=sleeps)
    assert report.ok
    assert sleeps == [3.0, 3.0]  # Retry-After honoured, not the (tiny) backoff
    assert len(_bronze(spark, player)) == len(_expected_uuids(store, player))


def test_unknown_player_is_reported_and_others_still_run(spark, sandbox, store) -> None:
    player = "lonely_knight"
    store.add_player(player, generate_history(player, "2023-01", "2023-01", seed=6))
    report = _ingest(spark, sandbox, ["no_such_player", player])
    assert not report.ok
    assert "'no_such_player' not found on chess.com (404" in report.errors[0]
    assert report.results[1].ok and len(_bronze(spark, player)) > 0


def test_403_without_contact_user_agent_says_how_to_fix(sandbox) -> None:
    with pytest.raises(ConfigError, match="CHESSCOM_USER_AGENT"):
        ChessComClient(sandbox.base_url("chesscom"), "python-requests/2")


def test_state_lives_in_the_lakehouse(spark, sandbox, store) -> None:
    player = "state_keeper"
    store.add_player(player, generate_history(player, recent_month(2), THIS_MONTH, seed=8))
    report = _ingest(spark, sandbox, [player])
    assert report.ok
    state = spark.sql(
        "select period, etag, is_final from lake.raw.ingest_state "
        f"where source = 'chesscom' and account = '{player}' order by period"
    ).collect()
    assert [s.period for s in state] == [recent_month(2), recent_month(1), THIS_MONTH]
    assert all(s.etag for s in state)
    assert state[-1].is_final is False  # the current month is never final
    last = spark.sql(
        "select max(finished_at) as t from lake.raw.ingest_runs "
        f"where account = '{player}' and status = 'success'"
    ).collect()[0]
    assert last.t is not None


def test_404_month_is_reported_not_swallowed(spark, sandbox, store) -> None:
    player = "vanishing_month"
    store.add_player(player, generate_history(player, "2023-01", "2023-02", seed=12))
    sandbox.faults.add(Fault(source="chesscom", kind="404", path=r"/games/2023/02$", times=1))
    report = _ingest(spark, sandbox, [player])
    assert not report.ok
    (error,) = report.errors
    assert "2023-02" in error and "404" in error and "/games/2023/02" in error
    assert {r.archive_month for r in _bronze(spark, player)} == {"2023-01"}
    # The 404 body is kept in raw too, and the month is retried (and found) next run.
    statuses = spark.sql(
        "select http_status from lake.raw.chesscom_responses "
        f"where run_id = '{report.run_id}' and period = '2023-02'"
    ).collect()
    assert [r.http_status for r in statuses] == [404]
    assert _ingest(spark, sandbox, [player]).ok
    assert {r.archive_month for r in _bronze(spark, player)} == {"2023-01", "2023-02"}
