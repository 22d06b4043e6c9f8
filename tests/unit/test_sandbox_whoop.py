"""The WHOOP API v2 sandbox app, its OAuth2 server and its generator, over real HTTP.

.venv/bin/pytest tests/unit/test_sandbox_whoop.py -q
"""

from __future__ import annotations

import base64
import itertools
import math
import stat
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
import requests

from spark_jobs.common.oauth import TokenStore
from spark_jobs.sandbox.server import SandboxServer
from spark_jobs.sandbox.whoop import (
    ALL_SCOPES,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEMO_DAYS,
    WhoopApp,
    WhoopStore,
    mount_demo,
)
from spark_jobs.sandbox.whoop_generator import V1_CUTOFF, generate_person, trip_days

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "whoop"
SPEC_EXAMPLES = FIXTURES / "spec"
PERSON = "demo_player"
# Spans New York's end of summer time (11-03) and the week in Berlin of 2024's fourth quarter.
START, END = date(2024, 9, 20), date(2024, 11, 30)
REDIRECT = "https://app.example.com/whoop/callback"
STATE = "state-0123456789"
COLLECTIONS = {
    "cycle": "/developer/v2/cycle",
    "recovery": "/developer/v2/recovery",
    "sleep": "/developer/v2/activity/sleep",
    "workout": "/developer/v2/activity/workout",
}
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.fixture()
def store() -> WhoopStore:
    return WhoopStore.with_generated_person(PERSON, START, END)


@pytest.fixture()
def server(store: WhoopStore) -> Iterator[SandboxServer]:
    with SandboxServer() as srv:
        srv.mount("whoop", WhoopApp(store))
        yield srv


@pytest.fixture()
def base(server: SandboxServer) -> str:
    return server.base_url("whoop")


@pytest.fixture()
def token(store: WhoopStore) -> str:
    return store.issue_token(PERSON)[0]


def _get(base: str, path: str, token: str | None = None, **params: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(f"{base}{path}", params=params, headers=headers, timeout=5)


def _walk(base: str, path: str, token: str, **params: Any) -> tuple[list[dict], int]:
    """Every record of a collection (following next_token to null) and the page count."""
    records: list[dict] = []
    pages = 0
    query = dict(params)
    while True:
        response = _get(base, path, token, **query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert list(body) == ["records", "next_token"]
        records.extend(body["records"])
        pages += 1
        if body["next_token"] is None:
            return records, pages
        assert pages < 1000, "next_token never became null"
        query = {**params, "nextToken": body["next_token"]}


def _key(record: dict) -> Any:
    return record.get("id", record.get("cycle_id"))


def _ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def _fixture(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def _clear_pending(store: WhoopStore, account: str = PERSON) -> None:
    for resource, key in store.pending(account):
        store.set_pending(account, resource, key, reads=0)


def _authorize(base: str, **overrides: str) -> requests.Response:
    params = {
        "response_type": "code",
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": " ".join(ALL_SCOPES),
        "state": STATE,
        **overrides,
    }
    params = {k: v for k, v in params.items() if v is not None}
    return requests.get(
        f"{base}/oauth/oauth2/auth", params=params, allow_redirects=False, timeout=5
    )


def _redirect_query(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def _token(base: str, auth: tuple[str, str] | None = None, **form: str) -> requests.Response:
    data = dict(form)
    if auth is None:
        data.update(client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET)
    return requests.post(f"{base}/oauth/oauth2/token", data=data, auth=auth, timeout=5)


def _login(base: str, **overrides: str) -> dict[str, Any]:
    code = _redirect_query(_authorize(base, **overrides))["code"]
    response = _token(base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------------------------------------
# Fixtures (tests/fixtures/whoop)
# ---------------------------------------------------------------------------------------------


def test_fixture_pages_are_mutually_consistent() -> None:
    pages = {name: _fixture(f"{name}.json") for name in COLLECTIONS}
    for name, body in pages.items():
        assert list(body) == ["records", "next_token"] and body["next_token"] is None, name
        assert 3 <= len(body["records"]) <= 6, name
    cycles = {c["id"]: c for c in pages["cycle"]["records"]}
    sleeps = {s["id"]: s for s in pages["sleep"]["records"]}
    ordered = sorted(cycles.values(), key=lambda c: c["start"])
    for older, newer in itertools.pairwise(ordered):
        assert older["end"] == newer["start"]  # cycles chain
    assert ordered[-1]["end"] is None  # the newest is open
    for sleep in sleeps.values():
        cycle = cycles[sleep["cycle_id"]]
        assert cycle["start"] <= sleep["start"] and (
            cycle["end"] is None or sleep["start"] < cycle["end"]
        )
        if not sleep["nap"]:
            assert sleep["start"] == cycle["start"]  # a main sleep starts its cycle
    for recovery in pages["recovery"]["records"]:
        sleep = sleeps[recovery["sleep_id"]]
        assert recovery["cycle_id"] in cycles and sleep["cycle_id"] == recovery["cycle_id"]
        assert sleep["nap"] is False
    every = [r for body in pages.values() for r in body["records"]]
    assert all(r["created_at"] <= r["updated_at"] for r in every)
    for name, body in pages.items():
        states = Counter(r["score_state"] for r in body["records"])
        expected = {"SCORED"} if name == "cycle" else {"SCORED", "PENDING_SCORE", "UNSCORABLE"}
        assert set(states) == expected, name
        for record in body["records"]:
            assert ("score" in record) == (record["score_state"] == "SCORED"), name
    assert any(s["nap"] for s in sleeps.values())
    assert any("v1_id" not in s for s in sleeps.values())
    assert any("v1_id" not in w for w in pages["workout"]["records"])
    for name in ("cycle", "sleep", "workout"):
        offsets = {r["timezone_offset"] for r in pages[name]["records"]}
        assert len(offsets) >= 2, name
    v1 = _fixture("v1_sleep.json")["records"][0]
    assert isinstance(v1["id"], int) and "cycle_id" not in v1
    assert any(s.get("v1_id") == v1["id"] for s in sleeps.values())


@pytest.mark.parametrize("resource", sorted(COLLECTIONS))
def test_fixtures_are_served_as_written(resource: str) -> None:
    store = WhoopStore()
    store.add_fixtures("fixture", FIXTURES)
    access, _ = store.issue_token("fixture")
    with SandboxServer() as srv:
        srv.mount("whoop", WhoopApp(store))
        base = srv.base_url("whoop")
        records, pages = _walk(
            base, COLLECTIONS[resource], access, limit=2, start="2025-08-01T00:00:00Z"
        )
        profile = _get(base, "/developer/v2/user/profile/basic", access).json()
        body = _get(base, "/developer/v2/user/measurement/body", access).json()
    expected = _fixture(f"{resource}.json")["records"]
    assert records == expected  # same records, same (newest first) order
    assert pages == math.ceil(len(expected) / 2)
    assert profile == _fixture("profile_basic.json")
    assert profile["email"].endswith("@example.com")
    assert body == _fixture("body_measurement.json")


def test_v1_records_and_paths_are_refused() -> None:
    store = WhoopStore()
    store.add_fixtures("fixture", FIXTURES)
    v1_sleep = _fixture("v1_sleep.json")["records"][0]
    with pytest.raises(ValueError, match="UUID"):
        store.add_record("fixture", "sleep", v1_sleep)
    access, _ = store.issue_token("fixture")
    with SandboxServer() as srv:
        srv.mount("whoop", WhoopApp(store))
        base = srv.base_url("whoop")
        by_v1_id = _get(base, f"/developer/v2/activity/sleep/{v1_sleep['id']}", access)
        workout_v1 = _get(base, "/developer/v2/activity/workout/1043", access)
        v1_paths = [
            _get(base, path, access)
            for path in (
                "/developer/v1/activity/sleep",
                f"/developer/v1/activity/sleep/{v1_sleep['id']}",
                "/developer/v1/cycle",
                "/developer/v1/user/profile/basic",
            )
        ]
        mapping = _get(base, f"/developer/v1/activity-mapping/{v1_sleep['id']}", access)
        no_mapping = _get(base, "/developer/v1/activity-mapping/999", access)
    assert by_v1_id.status_code == 404 and workout_v1.status_code == 404
    assert by_v1_id.json()["error"] == "not_found"
    for response in v1_paths:
        assert response.status_code == 404
        assert "v1 API is no longer supported" in response.json()["message"]
    v2 = next(s for s in _fixture("sleep.json")["records"] if s.get("v1_id") == v1_sleep["id"])
    assert mapping.json() == {"v2_activity_id": v2["id"]}
    assert no_mapping.status_code == 404


# ---------------------------------------------------------------------------------------------
# Collections: paging, order, windows, validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", sorted(COLLECTIONS))
def test_limit_25_pages_until_next_token_is_null(
    base: str, store: WhoopStore, token: str, resource: str
) -> None:
    _clear_pending(store)
    records, pages = _walk(base, COLLECTIONS[resource], token, limit=25)
    stored = store.records(PERSON, resource)
    assert len(stored) > 25  # more than one page
    assert pages == math.ceil(len(stored) / 25)
    keys = [_key(r) for r in records]
    assert len(keys) == len(set(keys))
    assert records == stored
    if resource == "recovery":
        cycles = {c["id"]: c["start"] for c in store.records(PERSON, "cycle")}
        starts = [cycles[r["cycle_id"]] for r in records]
    else:
        starts = [r["start"] for r in records]
    assert starts == sorted(starts, reverse=True)  # newest first
    assert starts[0] > starts[-1]


def test_default_limit_is_10_and_empty_next_token_is_the_first_page(base: str, token: str) -> None:
    body = _get(base, "/developer/v2/cycle", token).json()
    assert len(body["records"]) == 10 and isinstance(body["next_token"], str)
    again = _get(base, "/developer/v2/cycle", token, nextToken="").json()
    assert again["records"] == body["records"]


def _whole_second_store() -> tuple[WhoopStore, str]:
    store = WhoopStore()
    store.add_account("p")
    for day in (1, 2, 3):
        store.add_record(
            "p",
            "cycle",
            {
                "id": 100 + day,
                "user_id": 1,
                "created_at": f"2024-01-0{day}T08:00:00.000Z",
                "updated_at": f"2024-01-0{day}T08:00:00.000Z",
                "start": f"2024-01-0{day}T00:00:00.000Z",
                "end": f"2024-01-0{day + 1}T00:00:00.000Z",
                "timezone_offset": "Z",
                "score_state": "UNSCORABLE",
            },
        )
    return store, store.issue_token("p")[0]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2024-01-02T00:00:00.000Z", "2024-01-03T00:00:00.000Z"),
        ("2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"),  # no milliseconds
        ("2024-01-02T00:00:00+00:00", "2024-01-03T00:00:00.000+00:00"),
        ("2024-01-01T19:00:00-05:00", "2024-01-03T01:00:00+01:00"),  # other offsets
    ],
)
def test_start_is_inclusive_and_end_exclusive(start: str, end: str) -> None:
    store, access = _whole_second_store()
    with SandboxServer() as srv:
        srv.mount("whoop", WhoopApp(store))
        base = srv.base_url("whoop")
        exact = _get(base, "/developer/v2/cycle", access, start=start, end=end).json()
        one_ms_later = _get(
            base, "/developer/v2/cycle", access, start="2024-01-02T00:00:00.001Z", end=end
        ).json()
        open_end = _get(base, "/developer/v2/cycle", access, start=start).json()
    assert [c["id"] for c in exact["records"]] == [102]  # 103 starts exactly at `end`
    assert one_ms_later["records"] == []
    assert [c["id"] for c in open_end["records"]] == [103, 102]


def test_recovery_window_uses_its_cycle_start(base: str, store: WhoopStore, token: str) -> None:
    cycle = store.records(PERSON, "cycle")[5]
    nxt = store.records(PERSON, "cycle")[4]
    body = _get(
        base, "/developer/v2/recovery", token, start=cycle["start"], end=nxt["start"]
    ).json()
    assert [r["cycle_id"] for r in body["records"]] == [cycle["id"]]


def test_default_end_is_now(store: WhoopStore, token: str) -> None:
    cycles = store.records(PERSON, "cycle")
    now = datetime.fromisoformat(cycles[3]["start"])  # the 4th newest starts exactly now
    with SandboxServer() as srv:
        srv.mount("whoop", WhoopApp(store, now=lambda: now))
        body = _get(srv.base_url("whoop"), "/developer/v2/cycle", token, limit=3).json()
    assert [c["id"] for c in body["records"]] == [c["id"] for c in cycles[4:7]]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "26"},
        {"limit": "0"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"limit": "10.0"},
        {"limit": ""},
        {"start": "yesterday"},
        {"start": "2024-10-01"},  # a date, not a date-time
        {"start": "2024-10-01T00:00:00"},  # no offset
        {"end": "2024-13-01T00:00:00Z"},
        {"start": "2024-10-02T00:00:00Z", "end": "2024-10-01T00:00:00Z"},
    ],
)
def test_bad_query_values_are_400_with_a_json_body(
    base: str, token: str, params: dict[str, str]
) -> None:
    for path in (COLLECTIONS["cycle"], COLLECTIONS["workout"]):
        response = _get(base, path, token, **params)
        assert response.status_code == 400, (path, params)
        body = response.json()
        assert body["error"] == "bad_request" and body["message"]


def test_next_token_is_signed_and_bound_to_its_query(base: str, token: str) -> None:
    window = {"start": "2024-10-01T00:00:00.000Z", "end": "2024-11-01T00:00:00.000Z"}
    first = _get(base, COLLECTIONS["sleep"], token, limit=5, **window).json()
    next_token = first["next_token"]
    assert next_token

    def status(path: str, **params: Any) -> int:
        return _get(base, path, token, limit=5, **params).status_code

    # Forged: one character changed, or the signature dropped.
    flipped = next_token[:-3] + ("A" if next_token[-3] != "A" else "B") + next_token[-2:]
    assert status(COLLECTIONS["sleep"], **window, nextToken=flipped) == 400
    assert status(COLLECTIONS["sleep"], **window, nextToken=next_token[16:]) == 400
    assert status(COLLECTIONS["sleep"], **window, nextToken="not-a-token") == 400
    # Another collection or another window.
    assert status(COLLECTIONS["workout"], **window, nextToken=next_token) == 400
    other = {**window, "start": "2024-10-02T00:00:00.000Z"}
    assert status(COLLECTIONS["sleep"], **other, nextToken=next_token) == 400
    assert status(COLLECTIONS["sleep"], start=window["start"], nextToken=next_token) == 400
    # The same query continues; a bare token continues the query it came from.
    second = _get(base, COLLECTIONS["sleep"], token, limit=5, **window, nextToken=next_token)
    bare = _get(base, COLLECTIONS["sleep"], token, limit=5, nextToken=next_token)
    assert second.status_code == 200 and bare.json() == second.json()
    first_ids = {r["id"] for r in first["records"]}
    assert first_ids.isdisjoint(r["id"] for r in second.json()["records"])
    assert second.json()["records"][0]["start"] < first["records"][-1]["start"]


def test_tokens_of_another_account_do_not_continue(store: WhoopStore) -> None:
    store.add_generated_person("someone_else", START, END)
    mine, _ = store.issue_token(PERSON)
    theirs, _ = store.issue_token("someone_else")
    with SandboxServer() as srv:
        srv.mount("whoop", WhoopApp(store))
        base = srv.base_url("whoop")
        next_token = _get(base, COLLECTIONS["cycle"], mine).json()["next_token"]
        response = _get(base, COLLECTIONS["cycle"], theirs, nextToken=next_token)
    assert response.status_code == 400


def test_single_records_and_cycle_subresources(base: str, store: WhoopStore, token: str) -> None:
    _clear_pending(store)
    cycle = store.records(PERSON, "cycle")[3]
    sleep = next(
        s for s in store.records(PERSON, "sleep") if s["cycle_id"] == cycle["id"] and not s["nap"]
    )
    recovery = store.record(PERSON, "recovery", cycle["id"])
    workout = store.records(PERSON, "workout")[0]
    assert _get(base, f"/developer/v2/cycle/{cycle['id']}", token).json() == cycle
    assert _get(base, f"/developer/v2/cycle/{cycle['id']}/sleep", token).json() == sleep
    assert _get(base, f"/developer/v2/cycle/{cycle['id']}/recovery", token).json() == recovery
    assert _get(base, f"/developer/v2/activity/sleep/{sleep['id']}", token).json() == sleep
    assert _get(base, f"/developer/v2/activity/workout/{workout['id']}", token).json() == workout
    assert recovery is not None and recovery["sleep_id"] == sleep["id"]
    assert _get(base, "/developer/v2/cycle/1", token).status_code == 404
    assert _get(base, "/developer/v2/cycle/abc", token).status_code == 400
    assert _get(base, f"/developer/v2/activity/sleep/{uuid.uuid4()}", token).status_code == 404
    assert _get(base, "/developer/v2/nothing", token).status_code == 404
    post = requests.post(
        f"{base}/developer/v2/cycle", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert post.status_code == 405


def test_store_changes_are_served(base: str, store: WhoopStore, token: str) -> None:
    _clear_pending(store)
    workout = store.records(PERSON, "workout")[2]
    path = f"/developer/v2/activity/workout/{workout['id']}"
    changed = store.update_record(PERSON, "workout", workout["id"], sport_name="yoga")
    served = _get(base, path, token).json()
    assert served["sport_name"] == "yoga" and served == changed
    assert served["updated_at"] > workout["updated_at"]
    assert store.delete_record(PERSON, "workout", workout["id"])
    assert not store.delete_record(PERSON, "workout", workout["id"])
    assert _get(base, path, token).status_code == 404
    ids = {r["id"] for r in _walk(base, COLLECTIONS["workout"], token, limit=25)[0]}
    assert workout["id"] not in ids
    store.add_record(PERSON, "workout", workout)  # a late upload
    assert _get(base, path, token).json() == workout


# ---------------------------------------------------------------------------------------------
# Auth and scopes
# ---------------------------------------------------------------------------------------------


def test_missing_unknown_expired_and_revoked_tokens_are_401(base: str, store: WhoopStore) -> None:
    access, _ = store.issue_token(PERSON)
    path = COLLECTIONS["cycle"]
    assert _get(base, path, access).status_code == 200
    for response in (
        _get(base, path),
        _get(base, path, "not-a-token"),
        requests.get(f"{base}{path}", headers={"Authorization": f"Basic {access}"}, timeout=5),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json()["error"] == "unauthorized"
    assert store.expire_access_tokens(PERSON) >= 1
    assert _get(base, path, access).status_code == 401
    fresh, _ = store.issue_token(PERSON)
    assert store.revoke_grant(fresh)
    assert _get(base, path, fresh).status_code == 401


@pytest.mark.parametrize(
    ("path", "scope"),
    [
        ("/developer/v2/cycle", "read:cycles"),
        ("/developer/v2/cycle/{cycle}", "read:cycles"),
        ("/developer/v2/cycle/{cycle}/sleep", "read:sleep"),
        ("/developer/v2/cycle/{cycle}/recovery", "read:recovery"),
        ("/developer/v2/recovery", "read:recovery"),
        ("/developer/v2/activity/sleep", "read:sleep"),
        ("/developer/v2/activity/sleep/{sleep}", "read:sleep"),
        ("/developer/v2/activity/workout", "read:workout"),
        ("/developer/v2/activity/workout/{workout}", "read:workout"),
        ("/developer/v2/user/profile/basic", "read:profile"),
        ("/developer/v2/user/measurement/body", "read:body_measurement"),
    ],
)
def test_each_path_needs_its_scope(base: str, store: WhoopStore, path: str, scope: str) -> None:
    ids = {
        "cycle": store.records(PERSON, "cycle")[1]["id"],
        "sleep": store.records(PERSON, "sleep")[1]["id"],
        "workout": store.records(PERSON, "workout")[1]["id"],
    }
    url = path.format(**ids)
    without, _ = store.issue_token(PERSON, scopes=[s for s in ALL_SCOPES if s != scope])
    only, _ = store.issue_token(PERSON, scopes=[scope])
    refused = _get(base, url, without)
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden" and scope in refused.json()["message"]
    assert _get(base, url, only).status_code == 200


def test_delete_user_access_revokes_the_grant(base: str, store: WhoopStore) -> None:
    access, refresh = store.issue_token(PERSON)
    other, _ = store.issue_token(PERSON)  # another grant stays valid
    response = requests.delete(
        f"{base}/developer/v2/user/access",
        headers={"Authorization": f"Bearer {access}"},
        timeout=5,
    )
    assert response.status_code == 204 and response.content == b""
    assert _get(base, COLLECTIONS["cycle"], access).status_code == 401
    assert refresh is not None
    refused = _token(base, grant_type="refresh_token", refresh_token=refresh, scope="offline")
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert _get(base, COLLECTIONS["cycle"], other).status_code == 200


# ---------------------------------------------------------------------------------------------
# Rate limits
# ---------------------------------------------------------------------------------------------


def test_every_developer_response_carries_the_rate_limit_headers(
    base: str, store: WhoopStore, token: str
) -> None:
    no_scope, _ = store.issue_token(PERSON, scopes=["offline"])
    responses = [
        _get(base, COLLECTIONS["cycle"], token),  # 200
        _get(base, COLLECTIONS["cycle"], token, limit=26),  # 400
        _get(base, "/developer/v2/activity/sleep/123", token),  # 404
        _get(base, "/developer/v1/cycle", token),  # 404 (v1)
        _get(base, COLLECTIONS["cycle"], no_scope),  # 403
        _get(base, COLLECTIONS["cycle"], token),  # 200
    ]
    assert [r.status_code for r in responses] == [200, 400, 404, 404, 403, 200]
    for response in responses:
        assert response.headers["X-RateLimit-Limit"] == "100, 100;window=60, 10000;window=86400"
        assert "Retry-After" not in response.headers
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in responses]
    assert remaining == [99, 98, 97, 96, 95, 94]  # one bucket per client app
    assert all(1 <= int(r.headers["X-RateLimit-Reset"]) <= 60 for r in responses)
    unauthenticated = _get(base, COLLECTIONS["cycle"])
    assert unauthenticated.status_code == 401
    assert all(name in unauthenticated.headers for name in RATE_HEADERS)
    # Authenticated requests only (the v1 404 is answered before the token is looked at).
    assert store.request_count(PERSON) == 5


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_429_over_the_minute_limit_says_when_to_come_back(store: WhoopStore, token: str) -> None:
    clock = _Clock()
    with SandboxServer() as srv:
        srv.mount("whoop", WhoopApp(store, rate_limit_minute=3, clock=clock))
        base = srv.base_url("whoop")
        statuses = []
        for _ in range(3):
            statuses.append(_get(base, COLLECTIONS["cycle"], token).status_code)
            clock.now += 10
        limited = _get(base, COLLECTIONS["cycle"], token)  # 30 s after the first
        clock.now += 29
        still = _get(base, COLLECTIONS["cycle"], token)
        clock.now += 1  # the first request leaves the window
        again = _get(base, COLLECTIONS["cycle"], token)
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.json()["error"] == "too_many_requests"
    assert "Retry-After" not in limited.headers
    assert limited.headers["X-RateLimit-Limit"] == "3, 3;window=60, 10000;window=86400"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.headers["X-RateLimit-Reset"] == "30"
    assert still.status_code == 429 and still.headers["X-RateLimit-Reset"] == "1"
    assert again.status_code == 200
    # The window holds the requests 50 s and 40 s old and this one: the oldest frees in 10 s.
    assert again.headers["X-RateLimit-Remaining"] == "0"
    assert again.headers["X-RateLimit-Reset"] == "10"


def test_the_day_limit_is_reported_when_it_is_the_tighter_window(
    store: WhoopStore, token: str
) -> None:
    clock = _Clock()
    with SandboxServer() as srv:
        srv.mount("whoop", WhoopApp(store, rate_limit_minute=100, rate_limit_day=2, clock=clock))
        base = srv.base_url("whoop")
        first = _get(base, COLLECTIONS["cycle"], token)
        clock.now += 3600
        second = _get(base, COLLECTIONS["cycle"], token)
        clock.now += 3600
        limited = _get(base, COLLECTIONS["cycle"], token)
    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert first.headers["X-RateLimit-Limit"] == "2, 100;window=60, 2;window=86400"
    assert second.status_code == 200 and second.headers["X-RateLimit-Remaining"] == "0"
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Reset"] == str(86_400 - 7200)


def test_rate_limits_are_per_client_app(store: WhoopStore) -> None:
    store.register_client("other-app", "other-secret")
    mine, _ = store.issue_token(PERSON)
    theirs, _ = store.issue_token(PERSON, client_id="other-app")
    with SandboxServer() as srv:
        srv.mount("whoop", WhoopApp(store, rate_limit_minute=2))
        base = srv.base_url("whoop")
        statuses = [_get(base, COLLECTIONS["cycle"], mine).status_code for _ in range(3)]
        other = _get(base, COLLECTIONS["cycle"], theirs)
    assert statuses == [200, 200, 429]
    assert other.status_code == 200 and other.headers["X-RateLimit-Remaining"] == "1"


# ---------------------------------------------------------------------------------------------
# OAuth2
# ---------------------------------------------------------------------------------------------


def test_authorization_code_flow(base: str, store: WhoopStore) -> None:
    store.add_generated_person("second_person", START, START + timedelta(days=3))
    query = _redirect_query(_authorize(base, account="second_person"))
    assert query["state"] == STATE
    assert query["scope"] == " ".join(ALL_SCOPES)
    response = _token(
        base, grant_type="authorization_code", code=query["code"], redirect_uri=REDIRECT
    )
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
    assert body["expires_in"] == 3600 and body["token_type"] == "bearer"
    assert body["scope"] == " ".join(ALL_SCOPES)
    profile = _get(base, "/developer/v2/user/profile/basic", body["access_token"]).json()
    assert profile["email"] == "second_person@example.com"  # the account chosen at login
    default = _login(base)  # without account=: the first account
    assert _get(base, "/developer/v2/user/profile/basic", default["access_token"]).json()[
        "email"
    ] == (f"{PERSON}@example.com")


@pytest.mark.parametrize("state", [None, "", "short", "1234567"])
def test_authorize_refuses_a_state_under_8_characters(base: str, state: str | None) -> None:
    query = _redirect_query(_authorize(base, state=state))
    assert query["error"] == "invalid_state"
    assert "code" not in query
    assert query.get("state") == (state or None)


def test_authorize_accepts_a_state_of_8_characters(base: str) -> None:
    query = _redirect_query(_authorize(base, state="12345678"))
    assert query["state"] == "12345678" and query["code"]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"scope": "read:cycles read:everything"}, "invalid_scope"),
        ({"scope": "read:cycles,read:sleep"}, "invalid_scope"),  # scopes are space-separated
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"account": "nobody"}, "access_denied"),
    ],
)
def test_authorize_errors_are_redirected_with_state(
    base: str, overrides: dict[str, str], error: str
) -> None:
    query = _redirect_query(_authorize(base, **overrides))
    assert query["error"] == error and query["state"] == STATE and "code" not in query


def test_authorize_without_approval_is_access_denied(store: WhoopStore) -> None:
    with SandboxServer() as srv:
        srv.mount("whoop", WhoopApp(store, auto_approve=False))
        query = _redirect_query(_authorize(srv.base_url("whoop")))
    assert query["error"] == "access_denied"


def test_authorize_bad_client_or_redirect_uri_is_not_redirected(
    base: str, store: WhoopStore
) -> None:
    unknown = _authorize(base, client_id="someone-else")
    assert unknown.status_code == 400 and "Location" not in unknown.headers
    assert unknown.json()["error"] == "invalid_client"
    store.register_client("strict-app", "strict-secret", redirect_uris=[REDIRECT])
    wrong = _authorize(base, client_id="strict-app", redirect_uri="https://evil.example/cb")
    assert wrong.status_code == 400 and "Location" not in wrong.headers
    assert wrong.json()["error"] == "invalid_request"
    assert _redirect_query(_authorize(base, client_id="strict-app"))["code"]


def test_granted_scopes_limit_the_token(base: str) -> None:
    body = _login(base, scope="read:sleep read:cycles")
    assert body["scope"] == "read:cycles read:sleep"
    assert "refresh_token" not in body  # only `offline` gets a refresh token
    access = body["access_token"]
    assert _get(base, COLLECTIONS["sleep"], access).status_code == 200
    assert _get(base, COLLECTIONS["workout"], access).status_code == 403


def test_codes_are_single_use_and_bound_to_the_redirect_uri(base: str) -> None:
    code = _redirect_query(_authorize(base))["code"]
    wrong = _token(base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT + "x")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    ok = _token(base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert ok.status_code == 200
    replay = _token(base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert replay.status_code == 400
    assert set(replay.json()) == {"error", "error_description"}
    assert replay.json()["error"] == "invalid_grant"
    # A replayed code revokes what it issued.
    assert _get(base, COLLECTIONS["cycle"], ok.json()["access_token"]).status_code == 401


def test_client_authentication(base: str, store: WhoopStore) -> None:
    _, refresh = store.issue_token(PERSON)
    assert refresh is not None
    basic = _token(
        base,
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        grant_type="refresh_token",
        refresh_token=refresh,
    )
    assert basic.status_code == 200, basic.text
    bad = requests.post(
        f"{base}/oauth/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": basic.json()["refresh_token"],
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": "wrong",
        },
        timeout=5,
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    header = "Basic " + base64.b64encode(f"{DEFAULT_CLIENT_ID}:wrong".encode()).decode()
    bad_basic = requests.post(
        f"{base}/oauth/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        headers={"Authorization": header},
        timeout=5,
    )
    assert bad_basic.status_code == 401
    assert _token(base, grant_type="password").json()["error"] == "unsupported_grant_type"
    assert requests.get(f"{base}/oauth/oauth2/token", timeout=5).status_code == 405


def test_refresh_rotates_and_the_old_refresh_token_dies(base: str, store: WhoopStore) -> None:
    access, refresh = store.issue_token(PERSON)
    assert refresh is not None
    # WHOOP's docs send scope=offline with every refresh.
    first = _token(base, grant_type="refresh_token", refresh_token=refresh, scope="offline")
    assert first.status_code == 200, first.text
    assert first.headers["Cache-Control"] == "no-store"
    rotated = first.json()
    assert rotated["refresh_token"] != refresh and rotated["access_token"] != access
    assert rotated["expires_in"] == 3600 and rotated["scope"] == " ".join(ALL_SCOPES)
    assert _get(base, COLLECTIONS["cycle"], rotated["access_token"]).status_code == 200
    assert _get(base, COLLECTIONS["cycle"], access).status_code == 401  # the old access dies
    second = _token(base, grant_type="refresh_token", refresh_token=rotated["refresh_token"])
    assert second.status_code == 200  # without `scope` too
    assert _get(base, COLLECTIONS["cycle"], second.json()["access_token"]).status_code == 200


def test_reusing_a_refresh_token_revokes_the_whole_grant(base: str, store: WhoopStore) -> None:
    _, first_refresh = store.issue_token(PERSON)
    assert first_refresh is not None
    newer = _token(
        base, grant_type="refresh_token", refresh_token=first_refresh, scope="offline"
    ).json()
    # A second process still holding the first refresh token refreshes too.
    reuse = _token(base, grant_type="refresh_token", refresh_token=first_refresh, scope="offline")
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    # ...which logs the account out: the newer pair is dead as well.
    assert _get(base, COLLECTIONS["cycle"], newer["access_token"]).status_code == 401
    dead = _token(base, grant_type="refresh_token", refresh_token=newer["refresh_token"])
    assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"
    # Other grants of the same account are untouched.
    other, _ = store.issue_token(PERSON)
    assert _get(base, COLLECTIONS["cycle"], other).status_code == 200


def test_refresh_cannot_widen_the_scope(base: str, store: WhoopStore) -> None:
    _, refresh = store.issue_token(PERSON, scopes=["offline", "read:sleep"])
    assert refresh is not None
    wider = _token(
        base, grant_type="refresh_token", refresh_token=refresh, scope="offline read:cycles"
    )
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    ok = _token(base, grant_type="refresh_token", refresh_token=refresh, scope="offline")
    assert ok.status_code == 200 and ok.json()["scope"] == "offline read:sleep"


def test_revoke_endpoint(base: str, store: WhoopStore) -> None:
    access, refresh = store.issue_token(PERSON)
    response = requests.post(
        f"{base}/oauth/oauth2/revoke",
        data={
            "token": refresh,
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
        timeout=5,
    )
    assert response.status_code == 200
    assert _get(base, COLLECTIONS["cycle"], access).status_code == 401  # the grant went along


# ---------------------------------------------------------------------------------------------
# Scoring states
# ---------------------------------------------------------------------------------------------


def test_newest_main_sleep_is_pending_in_the_first_page_that_contains_it(
    base: str, store: WhoopStore, token: str
) -> None:
    newest = next(s for s in store.records(PERSON, "sleep") if not s["nap"])
    assert newest["score_state"] == "SCORED" and store.pending(PERSON)
    first = _get(base, COLLECTIONS["sleep"], token, limit=3).json()["records"]
    second = _get(base, COLLECTIONS["sleep"], token, limit=3).json()["records"]
    (pending,) = [r for r in first if r["id"] == newest["id"]]
    (scored,) = [r for r in second if r["id"] == newest["id"]]
    assert pending["score_state"] == "PENDING_SCORE" and "score" not in pending
    assert scored["score_state"] == "SCORED" and scored["score"] == newest["score"]
    assert scored["updated_at"] > pending["updated_at"] == newest["updated_at"]
    others = [r for r in first if r["id"] != newest["id"]]
    assert all(r["score_state"] != "PENDING_SCORE" for r in others)


def test_pending_then_scored_on_the_next_read(base: str, store: WhoopStore, token: str) -> None:
    newest_cycle = store.records(PERSON, "cycle")[0]
    recovery_path = f"/developer/v2/cycle/{newest_cycle['id']}/recovery"
    pending = _get(base, recovery_path, token).json()
    scored = _get(base, recovery_path, token).json()
    assert pending["score_state"] == "PENDING_SCORE" and "score" not in pending
    assert scored["score_state"] == "SCORED" and scored["score"]["recovery_score"] > 0
    assert scored["updated_at"] > pending["updated_at"]
    assert scored["sleep_id"] == pending["sleep_id"]
    # The newest main sleep too: pending in the first response that contains it.
    sleep = _get(base, f"/developer/v2/cycle/{newest_cycle['id']}/sleep", token).json()
    sleep_again = _get(base, f"/developer/v2/activity/sleep/{sleep['id']}", token).json()
    assert sleep["score_state"] == "PENDING_SCORE" and "score" not in sleep
    assert sleep["id"] == scored["sleep_id"]
    assert sleep_again["score_state"] == "SCORED" and sleep_again["score"]["stage_summary"]
    assert sleep_again["updated_at"] > sleep["updated_at"]
    assert store.pending(PERSON) == {}


def test_a_newest_night_that_turns_out_unscorable_is_pending_first() -> None:
    # For this account the newest main sleep of the range is UNSCORABLE.
    store = WhoopStore.with_generated_person("acct26", date(2024, 1, 1), date(2024, 3, 20))
    newest = next(s for s in store.records("acct26", "sleep") if not s["nap"])
    assert newest["score_state"] == "UNSCORABLE"
    access, _ = store.issue_token("acct26")
    path = f"/developer/v2/cycle/{newest['cycle_id']}/recovery"
    with SandboxServer() as srv:
        srv.mount("whoop", WhoopApp(store))
        base = srv.base_url("whoop")
        views = [_get(base, path, access).json()["score_state"] for _ in range(2)]
        sleeps = [
            _get(base, f"/developer/v2/activity/sleep/{newest['id']}", access).json()
            for _ in range(2)
        ]
    assert views == ["PENDING_SCORE", "UNSCORABLE"]
    assert [s["score_state"] for s in sleeps] == ["PENDING_SCORE", "UNSCORABLE"]
    assert all("score" not in s for s in sleeps)


def test_set_pending_counts_responses_that_contain_the_record(
    base: str, store: WhoopStore, token: str
) -> None:
    _clear_pending(store)
    workout = next(w for w in store.records(PERSON, "workout") if w["score_state"] == "SCORED")
    store.set_pending(PERSON, "workout", workout["id"], reads=2)
    window = {"start": workout["start"], "end": workout["end"]}
    views = [
        _get(base, COLLECTIONS["workout"], token, **window).json()["records"][0],
        _get(base, f"/developer/v2/activity/workout/{workout['id']}", token).json(),
        _get(base, COLLECTIONS["workout"], token, **window).json()["records"][0],
    ]
    assert [v["score_state"] for v in views] == ["PENDING_SCORE", "PENDING_SCORE", "SCORED"]
    assert ["score" in v for v in views] == [False, False, True]
    assert views[2]["score"] == workout["score"]
    assert views[2]["updated_at"] > views[0]["updated_at"] == workout["updated_at"]
    # A page that does not contain the record does not count.
    store.set_pending(PERSON, "workout", workout["id"], reads=1)
    _get(base, COLLECTIONS["workout"], token, end=workout["start"])
    assert store.pending(PERSON) == {("workout", workout["id"]): 1}


# ---------------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def person() -> dict[str, Any]:
    return generate_person(PERSON, START, END)


def _spec_record(name: str) -> dict[str, Any]:
    body = orjson.loads((SPEC_EXAMPLES / name).read_bytes())["body"]
    return body["records"][0] if "records" in body else body


@pytest.mark.parametrize(
    ("resource", "example"),
    [
        ("cycle", "get_v2_cycle.json"),
        ("recovery", "get_v2_recovery.json"),
        ("sleep", "get_v2_activity_sleep.json"),
        ("workout", "get_v2_activity_workout.json"),
    ],
)
def test_generated_records_have_the_spec_shape(
    person: dict[str, Any], resource: str, example: str
) -> None:
    spec = _spec_record(example)

    def check(record: dict[str, Any], model: dict[str, Any], where: str) -> None:
        keys = list(record)
        assert keys == [k for k in model if k in record], where  # spec order, no extras
        for key, value in record.items():
            expected = model[key]
            if isinstance(expected, dict):
                assert isinstance(value, dict), f"{where}.{key}"
                check(value, expected, f"{where}.{key}")
            elif value is not None:
                # ints stay ints; floats stay floats (98.0, not 98)
                assert type(value) is type(expected), f"{where}.{key}: {value!r}"

    for record in person[resource]:
        check(record, spec, resource)
    optional = {"v1_id", "sport_id", "score", "end"}
    assert {k for k in spec if k not in optional} <= set(person[resource][0])


def test_generator_is_deterministic_and_stable_across_ranges(person: dict[str, Any]) -> None:
    assert orjson.dumps(generate_person(PERSON, START, END)) == orjson.dumps(person)
    later = generate_person(PERSON, START + timedelta(days=10), END + timedelta(days=10))
    middle = START + timedelta(days=15), END - timedelta(days=1)
    for resource in ("sleep", "workout"):

        def inside(records: list[dict]) -> list[dict]:
            return [
                r
                for r in records
                if middle[0].isoformat() <= r["start"][:10] <= middle[1].isoformat()
            ]

        shared = inside(person[resource])
        assert shared and inside(later[resource]) == shared, resource
    old_cycles = {c["id"]: c for c in person["cycle"][1:]}  # all but the open one
    for cycle in later["cycle"]:
        if cycle["id"] in old_cycles and cycle["start"][:10] >= middle[0].isoformat():
            assert cycle == old_cycles[cycle["id"]]
    other = generate_person("someone_else", START, END)
    assert other["sleep"][0]["start"] != person["sleep"][0]["start"]
    assert other["profile"]["user_id"] != person["profile"]["user_id"]


def test_generation_of_a_year_is_fast() -> None:
    began = time.perf_counter()
    year = generate_person("busy_person", date(2025, 1, 1), date(2025, 12, 31))
    elapsed = time.perf_counter() - began
    assert len(year["cycle"]) == 365
    assert elapsed < 1.0, f"a year took {elapsed:.2f} s"


def test_cycles_chain_and_the_newest_is_open(person: dict[str, Any]) -> None:
    cycles = person["cycle"]
    days = (END - START).days + 1
    assert len(cycles) == days == len(person["recovery"])
    newest = cycles[0]
    assert newest["end"] is None and newest["score_state"] == "SCORED"
    assert 0 < newest["score"]["strain"] < max(c["score"]["strain"] for c in cycles[1:])
    for newer, older in itertools.pairwise(cycles):
        assert older["end"] == newer["start"]
        assert older["id"] < newer["id"]  # int64 ids increase with time
    mains = {s["cycle_id"]: s for s in person["sleep"] if not s["nap"]}
    for cycle, recovery in zip(cycles, person["recovery"], strict=True):
        main = mains[cycle["id"]]
        assert main["start"] == cycle["start"]
        assert recovery["cycle_id"] == cycle["id"] and recovery["sleep_id"] == main["id"]
        assert main["timezone_offset"] == cycle["timezone_offset"]
    for record in [*cycles, *person["sleep"], *person["workout"], *person["recovery"]]:
        assert record["created_at"] <= record["updated_at"]
        for name in ("created_at", "updated_at", "start", "end"):
            if record.get(name) is not None:
                assert len(record[name]) == 24 and record[name].endswith("Z"), record[name]


def test_main_sleeps_naps_and_workouts(person: dict[str, Any]) -> None:
    cycles = {c["id"]: c for c in person["cycle"]}
    mains = [s for s in person["sleep"] if not s["nap"]]
    naps = [s for s in person["sleep"] if s["nap"]]
    assert len(mains) == len(cycles)
    assert 3 <= len(naps) <= 16  # about one day in eight
    for sleep in mains:
        hours = (_ms(sleep["end"]) - _ms(sleep["start"])) / 3_600_000
        assert 6 <= hours <= 9
        offset = timedelta(hours=int(sleep["timezone_offset"][:3]))
        local = datetime.fromisoformat(sleep["start"]) + offset
        assert local.hour in (22, 23) or (local.hour, local.minute) <= (0, 30)
    sleep_ids = {r["sleep_id"] for r in person["recovery"]}
    for nap in naps:
        cycle = cycles[nap["cycle_id"]]
        assert cycle["start"] < nap["start"] and (cycle["end"] is None or nap["end"] < cycle["end"])
        assert nap["id"] not in sleep_ids  # naps have no recovery
    weeks = Counter(
        datetime.fromisoformat(w["start"]).astimezone(UTC).isocalendar()[:2]
        for w in person["workout"]
    )
    full_weeks = list(weeks.values())[1:-1]
    assert full_weeks and all(2 <= n <= 6 for n in full_weeks)
    assert 3 <= sum(full_weeks) / len(full_weeks) <= 5
    sports = Counter(w["sport_name"] for w in person["workout"])
    assert len(sports) >= 2
    activities = sorted([*person["sleep"], *person["workout"]], key=lambda r: r["start"])
    for earlier, later in itertools.pairwise(activities):
        assert earlier["end"] <= later["start"]  # nothing overlaps


def test_unscorable_records(person: dict[str, Any]) -> None:
    big = generate_person("stats_person", date(2024, 1, 1), date(2025, 12, 31))
    mains = [s for s in big["sleep"] if not s["nap"]]
    bad_sleeps = [s for s in mains if s["score_state"] == "UNSCORABLE"]
    bad_workouts = [w for w in big["workout"] if w["score_state"] == "UNSCORABLE"]
    assert 0.01 < len(bad_sleeps) / len(mains) < 0.05  # about 1 in 40
    assert 0.02 < len(bad_workouts) / len(big["workout"]) < 0.09  # about 1 in 20
    assert all("score" not in r for r in [*bad_sleeps, *bad_workouts])
    recoveries = {r["sleep_id"]: r for r in big["recovery"]}
    for sleep in bad_sleeps:
        recovery = recoveries[sleep["id"]]
        assert recovery["score_state"] == "UNSCORABLE" and "score" not in recovery


def _local(text: str, offset: str) -> datetime:
    sign = -1 if offset.startswith("-") else 1
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    return datetime.fromisoformat(text) + sign * timedelta(hours=hours, minutes=minutes)


def test_local_offsets_follow_dst_and_a_week_abroad(person: dict[str, Any]) -> None:
    # The wake-up day (local date of the end) of every main sleep -> its offset.
    by_day = {
        _local(s["end"], s["timezone_offset"]).date(): s["timezone_offset"]
        for s in person["sleep"]
        if not s["nap"]
    }
    assert sorted(by_day) == [START + timedelta(days=i) for i in range((END - START).days + 1)]
    assert set(by_day.values()) == {"-04:00", "-05:00", "+01:00"}
    # New York left summer time at 02:00 on 11-03: that night started at -04:00.
    summer = [day for day, off in by_day.items() if off == "-04:00"]
    winter = [day for day, off in by_day.items() if off == "-05:00"]
    assert max(summer) == date(2024, 11, 3) and min(winter) == date(2024, 11, 4)
    first, last = trip_days(PERSON, 2024, 4)
    abroad = sorted(day for day, off in by_day.items() if off == "+01:00")
    assert abroad == [first + timedelta(days=i) for i in range(7)] and abroad[-1] == last
    for sleep in person["sleep"]:  # local bedtimes stay local abroad
        if not sleep["nap"]:
            local = _local(sleep["start"], sleep["timezone_offset"])
            assert local.hour in (22, 23) or (local.hour, local.minute) <= (0, 30)
    offsets = {w["timezone_offset"] for w in person["workout"]}
    assert offsets <= {"-04:00", "-05:00", "+01:00"} and len(offsets) >= 2


def test_v1_ids_only_before_september_2025() -> None:
    around = generate_person(PERSON, date(2025, 8, 20), date(2025, 9, 12))
    cutoff = V1_CUTOFF.isoformat().replace("+00:00", "")
    for resource in ("sleep", "workout"):
        records = around[resource]
        before = [r for r in records if r["start"] < cutoff]
        after = [r for r in records if r["start"] >= cutoff]
        assert before and after, resource
        assert all(isinstance(r["v1_id"], int) for r in before), resource
        assert all("v1_id" not in r for r in after), resource
        assert all(uuid.UUID(r["id"]).version == 5 for r in records), resource
    assert all(isinstance(w["sport_id"], int) for w in around["workout"] if "v1_id" in w)
    assert all("sport_id" not in w for w in around["workout"] if "v1_id" not in w)
    v1_ids = [r["v1_id"] for name in ("sleep", "workout") for r in around[name] if "v1_id" in r]
    assert len(v1_ids) == len(set(v1_ids))  # one v1 activity id space


def test_until_leaves_out_what_is_not_uploaded_yet() -> None:
    full = generate_person(PERSON, date(2025, 3, 1), date(2025, 3, 20))
    newest = next(s for s in full["sleep"] if not s["nap"])
    until = datetime.fromisoformat(newest["end"])  # the newest night has just ended
    cut = generate_person(PERSON, date(2025, 3, 1), date(2025, 3, 20), until=until)
    assert len(cut["cycle"]) == len(full["cycle"]) - 1
    assert cut["cycle"][0]["end"] is None  # the day before is the open cycle now
    assert cut["cycle"][0]["start"] == full["cycle"][1]["start"]
    assert newest["id"] not in {s["id"] for s in cut["sleep"]}
    cap = until.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for resource in ("cycle", "recovery", "sleep", "workout"):
        for record in cut[resource]:
            assert record["created_at"] <= record["updated_at"] <= cap, resource
            assert (record.get("end") or "") <= cap, resource
    assert cut["pending"] == [
        ("sleep", cut["recovery"][0]["sleep_id"]),
        ("recovery", cut["cycle"][0]["id"]),
    ]


# ---------------------------------------------------------------------------------------------
# mount_demo
# ---------------------------------------------------------------------------------------------


def test_mount_demo_env_and_token_files() -> None:
    now = datetime.now(UTC)
    accounts = ["demo_player", "second_player"]
    with SandboxServer() as srv:
        env = mount_demo(srv, accounts, "2020-01", now)
        base = srv.base_url("whoop")
        assert env == {
            "WHOOP_API_BASE": f"{base}/developer",
            "WHOOP_OAUTH_BASE": f"{base}/oauth/oauth2",
            "WHOOP_CLIENT_ID": DEFAULT_CLIENT_ID,
            "WHOOP_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
            "WHOOP_TOKEN_DIR": env["WHOOP_TOKEN_DIR"],
            "WHOOP_ACCOUNTS": "demo_player,second_player",
        }
        token_dir = Path(env["WHOOP_TOKEN_DIR"])
        emails = []
        for account in accounts:
            path = token_dir / f"whoop_{account}.json"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            pair = TokenStore(path, account).load()
            assert pair is not None and pair.refresh_token
            assert pair.scope == " ".join(ALL_SCOPES)
            assert timedelta(minutes=59) < pair.expires_at - now <= timedelta(hours=1)
            api = env["WHOOP_API_BASE"]
            emails.append(
                requests.get(
                    f"{api}/v2/user/profile/basic",
                    headers={"Authorization": f"Bearer {pair.access_token}"},
                    timeout=5,
                ).json()["email"]
            )
            cycles, _ = _walk(srv.url, "/whoop/developer/v2/cycle", pair.access_token, limit=25)
            oldest = datetime.fromisoformat(cycles[-1]["start"])
            assert now - oldest < timedelta(days=DEMO_DAYS + 2)
            assert cycles[0]["end"] is None
            assert all(datetime.fromisoformat(c["start"]) < now for c in cycles)
            refreshed = requests.post(
                f"{env['WHOOP_OAUTH_BASE']}/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": pair.refresh_token,
                    "client_id": env["WHOOP_CLIENT_ID"],
                    "client_secret": env["WHOOP_CLIENT_SECRET"],
                    "scope": "offline",
                },
                timeout=5,
            )
            assert refreshed.status_code == 200, refreshed.text
    assert emails == ["demo_player@example.com", "second_player@example.com"]


def test_mount_demo_starts_at_since_when_it_is_recent() -> None:
    now = datetime(2026, 3, 15, 18, 0, tzinfo=UTC)
    with SandboxServer() as srv:
        env = mount_demo(srv, ["demo_player"], "2026-02", now)
        pair = TokenStore(Path(env["WHOOP_TOKEN_DIR"]) / "whoop_demo_player.json").load()
        assert pair is not None
        cycles, _ = _walk(srv.url, "/whoop/developer/v2/cycle", pair.access_token, limit=25)
    starts = sorted(c["start"] for c in cycles)
    assert "2026-01-31" <= starts[0][:10] <= "2026-02-01"  # the night before 02-01
    assert starts[-1] < now.isoformat()
