"""The sandbox server and its chess.com app, exercised over real HTTP on 127.0.0.1.

.venv/bin/pytest tests/unit/test_sandbox_chesscom.py -q
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Iterator
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import chess.pgn
import orjson
import pytest
import requests

from spark_jobs.sandbox.chesscom import ChessComApp, ChessComStore
from spark_jobs.sandbox.chesscom_generator import generate_history, month_bounds
from spark_jobs.sandbox.server import (
    Fault,
    SandboxRequest,
    SandboxResponse,
    SandboxServer,
)

PLAYER = "Sandbox_Sam"
USER_AGENT = "lakehouse-tests/0.1 (+https://github.com/example/lakehouse; me@example.com)"


@pytest.fixture(scope="module")
def history() -> dict[str, list[dict]]:
    # Small months keep the module fast; the generator has its own, fuller tests.
    return generate_history(PLAYER, "2024-01", "2024-03", seed=5, games_per_month=(4, 8))


@pytest.fixture()
def store(history: dict[str, list[dict]]) -> ChessComStore:
    store = ChessComStore()
    store.add_player(PLAYER, history)
    return store


@pytest.fixture()
def server(store: ChessComStore) -> Iterator[SandboxServer]:
    with SandboxServer() as srv:
        srv.mount("chesscom", ChessComApp(store))
        yield srv


@pytest.fixture()
def base(server: SandboxServer) -> str:
    return server.base_url("chesscom")


@pytest.fixture()
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["User-Agent"] = USER_AGENT
        yield session


def _month_url(base: str, month: str = "2024-02", user: str = PLAYER) -> str:
    return f"{base}/player/{user}/games/{month.replace('-', '/')}"


# ---------------------------------------------------------------------------------------------
# Contract
# ---------------------------------------------------------------------------------------------


def test_base_url_shape(server: SandboxServer) -> None:
    assert server.base_url("chesscom") == f"http://127.0.0.1:{server.port}/chesscom/pub"
    assert server.url == f"http://127.0.0.1:{server.port}"


def test_archives_point_back_at_the_sandbox(
    base: str, http: requests.Session, history: dict[str, list[dict]]
) -> None:
    response = http.get(f"{base}/player/{PLAYER}/games/archives", timeout=5)
    assert response.status_code == 200
    archives = response.json()["archives"]
    expected = [f"{base}/player/sandbox_sam/games/{m.replace('-', '/')}" for m in history]
    assert archives == expected  # ascending, absolute, lower-cased user, this very server
    for url, month in zip(archives, history, strict=True):
        followed = http.get(url, timeout=5)
        assert followed.status_code == 200
        assert len(followed.json()["games"]) == len(history[month])


def test_month_json_is_the_store_content_sorted(
    base: str, http: requests.Session, store: ChessComStore
) -> None:
    response = http.get(_month_url(base), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    games = response.json()["games"]
    assert games == store.games(PLAYER, "2024-02")
    end_times = [g["end_time"] for g in games]
    assert end_times == sorted(end_times)
    assert response.content == orjson.dumps({"games": games})  # compact and deterministic


def test_profile(base: str, http: requests.Session, history: dict[str, list[dict]]) -> None:
    profile = http.get(f"{base}/player/SANDBOX_SAM", timeout=5).json()
    assert profile["username"] == "sandbox_sam"
    assert profile["@id"] == "https://api.chess.com/pub/player/sandbox_sam"
    assert isinstance(profile["player_id"], int)
    assert profile["status"] == "basic"
    last = max(g["end_time"] for games in history.values() for g in games)
    assert profile["last_online"] == last
    assert profile["joined"] < last


def test_caching_headers(base: str, http: requests.Session, store: ChessComStore) -> None:
    response = http.get(_month_url(base), timeout=5)
    etag = response.headers["ETag"]
    assert etag == f'W/"{hashlib.md5(response.content).hexdigest()}"'
    newest = max(g["end_time"] for g in store.games(PLAYER, "2024-02"))
    assert response.headers["Last-Modified"] == formatdate(newest, usegmt=True)
    assert parsedate_to_datetime(response.headers["Last-Modified"]).timestamp() == newest
    assert response.headers["Cache-Control"] == "public, max-age=5"
    assert int(response.headers["Content-Length"]) == len(response.content)


def test_if_none_match_gives_304_with_empty_body(base: str, http: requests.Session) -> None:
    first = http.get(_month_url(base), timeout=5)
    etag = first.headers["ETag"]
    again = http.get(_month_url(base), headers={"If-None-Match": etag}, timeout=5)
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    # Weak comparison: a strong form of the same tag, or a list containing it, also matches.
    strong = etag.removeprefix("W/")
    listed = f'"nope", {strong}'
    assert http.get(_month_url(base), headers={"If-None-Match": listed}).status_code == 304
    other = http.get(_month_url(base), headers={"If-None-Match": '"other"'}, timeout=5)
    assert other.status_code == 200


def test_if_modified_since(base: str, http: requests.Session) -> None:
    last_modified = http.get(_month_url(base), timeout=5).headers["Last-Modified"]
    same = http.get(_month_url(base), headers={"If-Modified-Since": last_modified}, timeout=5)
    assert same.status_code == 304 and same.content == b""
    stamp = parsedate_to_datetime(last_modified).timestamp()
    older = formatdate(stamp - 3600, usegmt=True)
    stale = http.get(_month_url(base), headers={"If-Modified-Since": older}, timeout=5)
    assert stale.status_code == 200
    # If-None-Match takes precedence over If-Modified-Since.
    both = {"If-None-Match": '"other"', "If-Modified-Since": last_modified}
    assert http.get(_month_url(base), headers=both, timeout=5).status_code == 200


def test_add_games_changes_etag_and_last_modified(
    base: str, http: requests.Session, store: ChessComStore
) -> None:
    first = http.get(_month_url(base, "2024-03"), timeout=5)
    games = first.json()["games"]
    extra = dict(games[0], uuid="00000000-0000-1000-8000-000000000001")
    extra["end_time"] = month_bounds("2024-03")[0] + 5  # earliest of the month
    store.add_games(PLAYER.upper(), "2024-03", [extra])
    second = http.get(
        _month_url(base, "2024-03"), headers={"If-None-Match": first.headers["ETag"]}, timeout=5
    )
    assert second.status_code == 200
    assert second.headers["ETag"] != first.headers["ETag"]
    # The month's Last-Modified moved forward even though the new game is the oldest one.
    assert parsedate_to_datetime(second.headers["Last-Modified"]) > parsedate_to_datetime(
        first.headers["Last-Modified"]
    )
    new_games = second.json()["games"]
    assert len(new_games) == len(games) + 1
    assert new_games[0]["uuid"] == extra["uuid"]  # kept in end_time order
    since = {"If-Modified-Since": first.headers["Last-Modified"]}
    assert http.get(_month_url(base, "2024-03"), headers=since, timeout=5).status_code == 200


def test_store_api(store: ChessComStore) -> None:
    assert store.months("SANDBOX_SAM") == ["2024-01", "2024-02", "2024-03"]
    assert store.players() == ["sandbox_sam"]
    store.replace_month(PLAYER, "2024/4", [])
    assert store.months(PLAYER)[-1] == "2024-04"
    assert store.games(PLAYER, "2024-04") == []
    store.set_modified(PLAYER, "2024-04", 1_714_000_000)
    assert store.modified(PLAYER, "2024-04") == 1_714_000_000
    with pytest.raises(KeyError):
        store.months("nobody")
    # The store keeps its own copies: mutating what it returned changes nothing.
    games = store.games(PLAYER, "2024-01")
    games[0]["white"]["username"] = "mallory"
    assert store.games(PLAYER, "2024-01")[0]["white"]["username"] != "mallory"


def test_with_generated_player_and_load_recorded(tmp_path: Path) -> None:
    store = ChessComStore.with_generated_player("Gen_Gina", "2024-05", "2024-05", seed=1)
    assert store.months("gen_gina") == ["2024-05"]
    recorded = {"games": store.games("gen_gina", "2024-05")[:3]}
    path = tmp_path / "2024-05.json"
    path.write_bytes(orjson.dumps(recorded))
    other = ChessComStore()
    assert other.load_recorded(path, "Rec_Rita", "2024-05") == 3
    assert other.games("rec_rita", "2024-05") == recorded["games"]
    assert other.load_recorded(path, "rec_rita") == 3  # month inferred from end_time
    assert other.months("rec_rita") == ["2024-05"]


def test_pgn_endpoint(base: str, http: requests.Session, store: ChessComStore) -> None:
    response = http.get(_month_url(base) + "/pgn", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-chess-pgn"
    assert response.headers["ETag"].startswith('W/"')
    handle = io.StringIO(response.text)
    count = 0
    while (game := chess.pgn.read_game(handle)) is not None:
        assert not game.errors
        count += 1
    assert count == sum(1 for g in store.games(PLAYER, "2024-02") if g.get("pgn"))


def test_head_has_headers_but_no_body(base: str, http: requests.Session) -> None:
    get = http.get(_month_url(base), timeout=5)
    head = http.head(_month_url(base), timeout=5)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert head.headers["ETag"] == get.headers["ETag"]


@pytest.mark.parametrize(
    "agent",
    [None, "python-requests/2.34.2", "lakehouse/0.1", "no contact at all"],
)
def test_user_agent_without_contact_is_forbidden(base: str, agent: str | None) -> None:
    # requests drops a header whose value is None, so None sends no User-Agent at all.
    response = requests.get(_month_url(base), headers={"User-Agent": agent}, timeout=5)
    assert response.status_code == 403
    assert "User-Agent" in response.json()["message"]


@pytest.mark.parametrize(
    "agent", ["lakehouse/0.1 (me@example.com)", "lakehouse/0.1 (+https://example.com/bot)"]
)
def test_user_agent_with_contact_is_allowed(base: str, agent: str) -> None:
    response = requests.get(_month_url(base), headers={"User-Agent": agent}, timeout=5)
    assert response.status_code == 200


def test_not_found(base: str, http: requests.Session) -> None:
    unknown = http.get(f"{base}/player/nobody_here", timeout=5)
    assert unknown.status_code == 404
    assert unknown.json() == {"code": 0, "message": 'User "nobody_here" not found.'}
    assert http.get(f"{base}/player/nobody_here/games/archives", timeout=5).status_code == 404
    assert http.get(_month_url(base, "2024-02", "nobody_here"), timeout=5).status_code == 404
    month = http.get(_month_url(base, "2019-07"), timeout=5)
    assert month.status_code == 404
    assert month.json()["code"] == 0 and month.json()["message"]
    for path in ("/player", "/player/x/games/2024/1", "/player/x/games/2024/13", "/nope"):
        assert http.get(base + path, timeout=5).status_code == 404, path
    assert http.get(f"{base.rsplit('/', 2)[0]}/oura/v2/x", timeout=5).status_code == 404


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------


def test_429_carries_retry_after_and_times_is_honoured(
    server: SandboxServer, base: str, http: requests.Session
) -> None:
    server.faults.add(
        Fault(source="chesscom", path=r"/games/2024/02$", kind="429", times=2, retry_after=3)
    )
    for _ in range(2):
        limited = http.get(_month_url(base), timeout=5)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "3"
        assert limited.json()["message"]
    # Other paths are not affected, and after two hits normal service resumes.
    assert http.get(_month_url(base, "2024-01"), timeout=5).status_code == 200
    assert http.get(_month_url(base), timeout=5).status_code == 200
    assert len(server.faults) == 0
    assert [r.status for r in server.requests] == [429, 429, 200, 200]
    assert [r.fault for r in server.requests] == ["429", "429", None, None]


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_server_error_faults(
    server: SandboxServer, base: str, http: requests.Session, kind: str
) -> None:
    server.faults.add(Fault(source="chesscom", kind=kind, times=1, retry_after=0))
    response = http.get(_month_url(base), timeout=5)
    assert response.status_code == int(kind)
    assert ("Retry-After" in response.headers) == (kind == "503")
    assert http.get(_month_url(base), timeout=5).status_code == 200


def test_fault_forever_until_cleared(
    server: SandboxServer, base: str, http: requests.Session
) -> None:
    server.faults.add(Fault(source="*", kind="500"))  # times=None: forever, any source
    assert all(http.get(_month_url(base), timeout=5).status_code == 500 for _ in range(4))
    assert server.faults.clear() == 1
    assert http.get(_month_url(base), timeout=5).status_code == 200


def test_fault_for_another_source_does_not_apply(
    server: SandboxServer, base: str, http: requests.Session
) -> None:
    server.faults.add(Fault(source="oura", kind="500"))
    assert http.get(_month_url(base), timeout=5).status_code == 200


def test_malformed_is_not_json(server: SandboxServer, base: str, http: requests.Session) -> None:
    server.faults.add(Fault(source="chesscom", kind="malformed", times=1))
    response = http.get(_month_url(base), timeout=5)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.content)
    assert http.get(_month_url(base), timeout=5).json()["games"]


def test_truncated_fails_json_parsing(
    server: SandboxServer, base: str, http: requests.Session
) -> None:
    full = http.get(_month_url(base), timeout=5).content
    server.faults.add(Fault(source="chesscom", path="2024/02", kind="truncated", times=1))
    response = http.get(_month_url(base), timeout=5)
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content) < len(full)
    assert full.startswith(response.content)
    with pytest.raises(ValueError):
        orjson.loads(response.content)
    # The connection is still usable afterwards (the response was valid HTTP).
    assert http.get(_month_url(base), timeout=5).content == full
    assert server.requests[-2].response_bytes == len(response.content)


def test_reset_raises_connection_error(
    server: SandboxServer, base: str, http: requests.Session
) -> None:
    server.faults.add(Fault(source="chesscom", kind="reset", times=1))
    with pytest.raises(requests.ConnectionError):
        http.get(_month_url(base), timeout=5)
    assert http.get(_month_url(base), timeout=5).status_code == 200
    assert [(r.status, r.fault) for r in server.requests] == [(0, "reset"), (200, None)]


def test_delay_delays_then_serves(server: SandboxServer, base: str, http: requests.Session) -> None:
    server.faults.add(Fault(source="chesscom", kind="delay", delay=0.4, times=1))
    started = time.monotonic()
    response = http.get(_month_url(base), timeout=5)
    assert time.monotonic() - started >= 0.4
    assert response.status_code == 200 and response.json()["games"]
    with pytest.raises(requests.Timeout):
        server.faults.add(Fault(source="chesscom", kind="delay", delay=0.5, times=1))
        http.get(_month_url(base), timeout=0.1)


def test_fault_validation() -> None:
    with pytest.raises(ValueError):
        Fault(source="chesscom", kind="418")
    with pytest.raises(ValueError):
        Fault.from_dict({"source": "chesscom", "kind": "500", "colour": "red"})
    assert Fault.from_dict({"source": "chesscom", "kind": 429}).kind == "429"


# ---------------------------------------------------------------------------------------------
# Control endpoints, request log, plumbing
# ---------------------------------------------------------------------------------------------


def test_http_control_endpoints(server: SandboxServer, base: str, http: requests.Session) -> None:
    control = f"{server.url}/_sandbox"
    fault = {"source": "chesscom", "path": "archives", "kind": "503", "times": 1}
    added = requests.post(f"{control}/faults", json=fault, timeout=5)
    assert added.status_code == 201
    listed = requests.get(f"{control}/faults", timeout=5).json()["faults"]
    assert listed[0]["kind"] == "503" and listed[0]["remaining"] == 1
    assert http.get(f"{base}/player/{PLAYER}/games/archives", timeout=5).status_code == 503
    assert http.get(f"{base}/player/{PLAYER}/games/archives", timeout=5).status_code == 200

    requests.post(f"{control}/faults", json=[{"source": "chesscom", "kind": "500"}], timeout=5)
    assert http.get(_month_url(base), timeout=5).status_code == 500
    assert requests.delete(f"{control}/faults", timeout=5).json() == {"cleared": 1}
    assert http.get(_month_url(base), timeout=5).status_code == 200

    log = requests.get(f"{control}/requests", timeout=5).json()
    assert log["count"] == 4  # control requests themselves are not logged
    assert [r["status"] for r in log["requests"]] == [503, 200, 500, 200]
    assert log["requests"][0]["path"] == f"/pub/player/{PLAYER}/games/archives"
    assert requests.delete(f"{control}/requests", timeout=5).json() == {"cleared": 4}
    assert server.requests == []

    bad = requests.post(f"{control}/faults", json={"source": "chesscom", "kind": "boom"})
    assert bad.status_code == 400
    assert requests.post(f"{control}/faults", data=b"not json", timeout=5).status_code == 400
    info = requests.get(control, timeout=5).json()
    assert info["sources"] == {"chesscom": base}


def test_request_log_counts_304s_bytes_and_headers(
    server: SandboxServer, base: str, http: requests.Session
) -> None:
    first = http.get(_month_url(base), timeout=5)
    for _ in range(3):
        http.get(_month_url(base), headers={"If-None-Match": first.headers["ETag"]}, timeout=5)
    http.get(f"{base}/player/{PLAYER}", headers={"Authorization": "Bearer s3cret"}, timeout=5)
    log = server.request_log
    assert len(log) == 5
    assert log.count(status=304) == 3
    assert log.count(source="chesscom", path=r"/games/2024/02$") == 4
    assert log.total_bytes("chesscom") == len(first.content) + sum(
        r.response_bytes for r in server.requests[-1:]
    )
    entries = server.requests
    assert entries[0].user_agent == USER_AGENT and not entries[0].conditional
    assert entries[1].headers["If-None-Match"] == first.headers["ETag"]
    assert entries[1].conditional and entries[1].response_bytes == 0
    assert entries[4].has_authorization and not entries[0].has_authorization
    assert "s3cret" not in json.dumps(entries[4].to_dict())
    assert server.clear_requests() == 5 and server.requests == []


def test_keep_alive_reuses_the_connection(
    server: SandboxServer, base: str, http: requests.Session
) -> None:
    for _ in range(5):
        response = http.get(_month_url(base), timeout=5)
        assert response.raw.version == 11
    assert len({r.connection for r in server.requests}) == 1
    requests.get(_month_url(base), headers={"User-Agent": USER_AGENT}, timeout=5)
    assert len({r.connection for r in server.requests}) == 2


def test_generic_source_app_mount() -> None:
    """A minimal non-chess.com app: how Oura/WHOOP apps plug in."""

    class EchoApp:
        base_path = "/v2"

        def handle(self, request: SandboxRequest) -> SandboxResponse:
            return SandboxResponse.from_json(
                {
                    "path": request.path,
                    "query": request.query,
                    "form": request.form(),
                    "auth": request.header("AUTHORIZATION"),
                    "mount": request.mount_url,
                },
                status=201 if request.method == "POST" else 200,
            )

    with SandboxServer() as server:
        server.mount("echo", EchoApp())
        assert server.base_url("echo") == f"{server.url}/echo/v2"
        reply = requests.post(
            f"{server.base_url('echo')}/oauth/token?x=1&x=2",
            data={"grant_type": "refresh_token"},
            headers={"Authorization": "Basic abc"},
            timeout=5,
        )
        assert reply.status_code == 201
        assert reply.json() == {
            "path": "/v2/oauth/token",
            "query": {"x": "2"},
            "form": {"grant_type": "refresh_token"},
            "auth": "Basic abc",
            "mount": f"{server.url}/echo",
        }
        assert server.requests[0].headers["Authorization"] == "Basic <redacted>"
        with pytest.raises(ValueError):
            server.mount("_sandbox", EchoApp())


def test_stop_releases_the_port() -> None:
    server = SandboxServer().start()
    port = server.port
    server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/chesscom/pub/player/x", timeout=2)
