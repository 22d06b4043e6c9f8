"""The Oura API v2 sandbox app and its generator, exercised over real HTTP on 127.0.0.1.

.venv/bin/pytest tests/unit/test_sandbox_oura.py -q
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
import requests

from spark_jobs.sandbox.oura import (
    COLLECTIONS,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PAT,
    RECORDINGS_DIR,
    OuraApp,
    OuraStore,
)
from spark_jobs.sandbox.oura_generator import generate_person, night_quality
from spark_jobs.sandbox.server import Fault, SandboxServer

PERSON = "demo_player"
START, END = date(2024, 3, 1), date(2024, 4, 30)  # spans the 2024-03-31 DST change
REDIRECT = "http://127.0.0.1:9/callback"
WIDE = {"start_date": "2000-01-01", "end_date": "2030-12-31"}


@pytest.fixture(scope="module")
def person() -> dict[str, Any]:
    return generate_person(PERSON, START, END)


@pytest.fixture()
def store(person: dict[str, Any]) -> OuraStore:
    store = OuraStore.with_recordings("recorded")
    store.add_account(PERSON, personal_info=person["personal_info"])
    store.add_heartrate(PERSON, person["heartrate"])
    for endpoint in COLLECTIONS:
        store.add_documents(PERSON, endpoint, person[endpoint])
    return store


@pytest.fixture()
def server(store: OuraStore) -> Iterator[SandboxServer]:
    with SandboxServer() as srv:
        srv.mount("oura", OuraApp(store, page_size=7, heartrate_page_size=500))
        yield srv


@pytest.fixture()
def base(server: SandboxServer) -> str:
    return server.base_url("oura")


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _get(base: str, path: str, token: str = DEFAULT_PAT, **params: str) -> requests.Response:
    return requests.get(f"{base}{path}", params=params, headers=_auth(token), timeout=5)


def _walk(base: str, path: str, token: str, params: dict[str, str]) -> tuple[list[dict], int]:
    """Every record of a paged collection, and how many pages it took."""
    rows: list[dict] = []
    pages = 0
    query = dict(params)
    while True:
        response = _get(base, path, token, **query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"data", "next_token"}
        rows.extend(body["data"])
        pages += 1
        if body["next_token"] is None:
            return rows, pages
        query = {**params, "next_token": body["next_token"]}


def _recorded(name: str) -> Any:
    body = orjson.loads((RECORDINGS_DIR / f"{name}.json").read_bytes())
    return body["data"] if isinstance(body, dict) and "data" in body else body


def _authorize(base: str, **overrides: str) -> requests.Response:
    params = {
        "response_type": "code",
        "client_id": DEFAULT_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "daily heartrate personal",
        "state": "xyz-123",
        "account": PERSON,
        **overrides,
    }
    return requests.get(f"{base}/oauth/authorize", params=params, allow_redirects=False, timeout=5)


def _token(base: str, **form: str) -> requests.Response:
    data = {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET, **form}
    return requests.post(f"{base}/oauth/token", data=data, timeout=5)


# ---------------------------------------------------------------------------------------------
# OAuth2
# ---------------------------------------------------------------------------------------------


def test_authorization_code_flow(base: str) -> None:
    response = _authorize(base)
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["xyz-123"]
    code = query["code"][0]

    tokens = _token(base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86400
    assert set(body["scope"].split()) == {"daily", "heartrate", "personal"}
    data = _get(base, "/v2/usercollection/daily_sleep", body["access_token"], **WIDE)
    assert data.status_code == 200
    assert data.json()["data"][0]["day"] == START.isoformat()  # the account chosen at login

    replay = _token(base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"  # codes are single-use


def test_token_endpoint_checks_redirect_uri_and_client(base: str) -> None:
    code = parse_qs(urlsplit(_authorize(base).headers["Location"]).query)["code"][0]
    wrong = _token(base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT + "x")
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    bad_secret = _token(
        base,
        grant_type="authorization_code",
        code=code,
        client_secret="nope",
        redirect_uri=REDIRECT,
    )
    assert bad_secret.status_code == 401
    assert bad_secret.json()["error"] == "invalid_client"
    assert _token(base, grant_type="password").json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),  # implicit flow: not offered
        ({"scope": "daily everything"}, "invalid_scope"),
    ],
)
def test_authorize_errors_are_redirected_with_state(
    base: str, overrides: dict[str, str], error: str
) -> None:
    response = _authorize(base, **overrides)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == [error]
    assert query["state"] == ["xyz-123"]
    assert "code" not in query


def test_authorize_unknown_client_is_not_redirected(base: str) -> None:
    response = _authorize(base, client_id="someone-else")
    assert response.status_code == 400  # RFC 6749 §4.1.2.1: never redirect for a bad client
    assert "Location" not in response.headers
    assert response.json()["error"] == "invalid_client"


def test_refresh_token_rotation(base: str, store: OuraStore) -> None:
    access, refresh = store.issue_token(PERSON)
    first = _token(base, grant_type="refresh_token", refresh_token=refresh)
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != refresh
    assert rotated["access_token"] != access

    again = _token(base, grant_type="refresh_token", refresh_token=refresh)
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_grant",
        "error_description": "The grant is invalid, expired or already used.",
    }
    second = _token(base, grant_type="refresh_token", refresh_token=rotated["refresh_token"])
    assert second.status_code == 200
    ok = _get(base, "/v2/usercollection/daily_sleep", second.json()["access_token"], **WIDE)
    assert ok.status_code == 200


def test_expired_missing_and_unknown_tokens_are_401(base: str, store: OuraStore) -> None:
    access, _ = store.issue_token(PERSON)
    assert _get(base, "/v2/usercollection/daily_sleep", access).status_code == 200
    assert store.expire_access_tokens() >= 1
    expired = _get(base, "/v2/usercollection/daily_sleep", access)
    assert expired.status_code == 401
    assert isinstance(expired.json()["detail"], str)
    assert expired.headers["WWW-Authenticate"] == "Bearer"
    assert _get(base, "/v2/usercollection/daily_sleep", "not-a-token").status_code == 401
    bare = requests.get(f"{base}/v2/usercollection/daily_sleep", timeout=5)
    assert bare.status_code == 401
    # Personal access tokens never expire.
    assert _get(base, "/v2/usercollection/daily_sleep", DEFAULT_PAT).status_code == 200


def test_missing_scope_is_403(base: str, store: OuraStore) -> None:
    access, _ = store.issue_token(PERSON, scopes={"daily"})
    assert _get(base, "/v2/usercollection/sleep", access, **WIDE).status_code == 200
    for path in ("heartrate", "daily_spo2", "daily_stress", "workout", "vO2_max", "tag"):
        response = _get(base, f"/v2/usercollection/{path}", access)
        assert response.status_code == 403, path
        assert response.json() == {"detail": "Forbidden"}
    # personal_info: the id needs no scope (spec); the rest needs `personal` / `email`.
    info = _get(base, "/v2/usercollection/personal_info", access).json()
    assert info["id"]
    assert info["age"] is None
    assert info["email"] is None


def test_lapsed_membership_is_403(base: str, store: OuraStore) -> None:
    store.set_membership_active(PERSON, False)
    access, _ = store.issue_token(PERSON)
    assert _get(base, "/v2/usercollection/daily_sleep", access).status_code == 403


# ---------------------------------------------------------------------------------------------
# Collections on the recordings
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    sorted(p.stem for p in RECORDINGS_DIR.glob("*.json") if p.stem not in ("personal_info",)),
)
def test_recordings_are_served_verbatim(base: str, endpoint: str) -> None:
    recorded = _recorded(endpoint)
    if endpoint == "heartrate":
        params = {
            "start_datetime": "2024-12-13T00:00:00+00:00",
            "end_datetime": "2024-12-15T00:00:00+00:00",
        }
    elif endpoint == "ring_configuration":
        params = {}
    else:
        params = WIDE
    rows, _ = _walk(base, f"/v2/usercollection/{endpoint}", DEFAULT_PAT, params)
    assert sorted(orjson.dumps(r) for r in rows) == sorted(orjson.dumps(r) for r in recorded)
    with_id = [r for r in recorded if "id" in r]
    if with_id:  # cardiovascular age documents have no id, as recorded
        single = _get(base, f"/v2/usercollection/{endpoint}/{with_id[0]['id']}")
        assert single.status_code == 200
        assert single.json() == with_id[0]
        assert single.headers["Content-Type"] == "application/json"


def test_recordings_personal_info_and_unrecorded_collections(base: str) -> None:
    info = _get(base, "/v2/usercollection/personal_info").json()
    assert info == _recorded("personal_info")
    assert list(info) == ["id", "age", "weight", "height", "biological_sex", "email"]
    assert info["email"].endswith("@example.com")  # fictional
    for endpoint in ("vO2_max", "tag"):  # no genuine recording: nothing served
        assert _get(base, f"/v2/usercollection/{endpoint}", **WIDE).json() == {
            "data": [],
            "next_token": None,
        }


def test_empty_next_token_means_first_page(base: str) -> None:
    # The recorded clients send `next_token=` on their first request.
    response = _get(base, "/v2/usercollection/daily_stress", **WIDE, next_token="")
    assert response.status_code == 200
    assert len(response.json()["data"]) == 7


def test_recorded_window_edges(base: str) -> None:
    def days(endpoint: str, start: str, end: str) -> list[str]:
        rows, _ = _walk(
            base,
            f"/v2/usercollection/{endpoint}",
            DEFAULT_PAT,
            {"start_date": start, "end_date": end},
        )
        return sorted({r["day"] for r in rows})

    # daily scores include both edges (a recorded 11-11..11-12 call returned both days)
    assert days("daily_sleep", "2024-11-11", "2024-11-12") == ["2024-11-11", "2024-11-12"]
    # daily_activity excludes end_date (the same call returned only 11-11)
    assert days("daily_activity", "2024-11-11", "2024-11-12") == ["2024-11-11"]
    # /sleep excludes both (10-09..11-03 returned 10-10..11-02)
    sleep_days = days("sleep", "2024-10-09", "2024-11-03")
    assert (sleep_days[0], sleep_days[-1]) == ("2024-10-10", "2024-11-02")
    assert days("sleep", "2024-10-14", "2024-10-14") == []


def test_inclusive_edges_option(store: OuraStore) -> None:
    with SandboxServer() as srv:
        srv.mount("oura", OuraApp(store, edges="inclusive"))
        body = _get(
            srv.base_url("oura"),
            "/v2/usercollection/sleep",
            start_date="2024-10-14",
            end_date="2024-10-14",
        ).json()
    assert {r["day"] for r in body["data"]} == {"2024-10-14"}


def test_default_window_is_the_day_before_today(store: OuraStore) -> None:
    access, _ = store.issue_token(PERSON)
    with SandboxServer() as srv:
        srv.mount("oura", OuraApp(store, today=lambda: date(2024, 4, 10)))
        base = srv.base_url("oura")
        body = _get(base, "/v2/usercollection/daily_sleep", access).json()
        only_start = _get(base, "/v2/usercollection/daily_sleep", access, start_date="2024-04-07")
        only_end = _get(base, "/v2/usercollection/daily_sleep", access, end_date="2024-04-02")
    assert [r["day"] for r in body["data"]] == ["2024-04-09", "2024-04-10"]
    assert [r["day"] for r in only_start.json()["data"]][-1] == "2024-04-10"
    assert [r["day"] for r in only_end.json()["data"]] == ["2024-04-01", "2024-04-02"]


# ---------------------------------------------------------------------------------------------
# Paging, validation, errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["daily_sleep", "sleep", "daily_activity", "workout"])
def test_next_token_walk_returns_every_record_once(
    base: str, store: OuraStore, endpoint: str
) -> None:
    access, _ = store.issue_token(PERSON)
    rows, pages = _walk(base, f"/v2/usercollection/{endpoint}", access, WIDE)
    assert pages > 2
    keys = [r.get("id") or r["day"] for r in rows]
    assert len(keys) == len(set(keys))
    assert rows == store.documents(PERSON, endpoint)


def test_heartrate_walk_returns_every_sample_once(base: str, store: OuraStore) -> None:
    access, _ = store.issue_token(PERSON)
    start = datetime(2024, 3, 20, tzinfo=UTC)
    end = start + timedelta(days=5)
    params = {"start_datetime": start.isoformat(), "end_datetime": end.isoformat()}
    rows, pages = _walk(base, "/v2/usercollection/heartrate", access, params)
    assert pages == -(-len(rows) // 500) and pages > 2
    stamps = [(r["timestamp"], r["source"]) for r in rows]
    assert len(stamps) == len(set(stamps))
    assert rows == store.heartrate(PERSON, start, end)
    parsed = [datetime.fromisoformat(r["timestamp"]) for r in rows]
    assert parsed == sorted(parsed)
    assert start <= parsed[0] and parsed[-1] < end  # [start, end)
    assert list(rows[0]) == ["bpm", "source", "timestamp"]


def test_next_token_is_bound_to_its_query(base: str, store: OuraStore) -> None:
    access, _ = store.issue_token(PERSON)
    first = _get(base, "/v2/usercollection/daily_sleep", access, **WIDE).json()
    token = first["next_token"]
    other = _get(
        base,
        "/v2/usercollection/daily_sleep",
        access,
        start_date="2024-03-01",
        end_date="2024-03-31",
        next_token=token,
    )
    assert other.status_code == 400
    assert isinstance(other.json()["detail"], str)
    elsewhere = _get(base, "/v2/usercollection/sleep", access, **WIDE, next_token=token)
    assert elsewhere.status_code == 400
    forged = _get(base, "/v2/usercollection/daily_sleep", access, **WIDE, next_token="abc" + token)
    assert forged.status_code == 400
    # Alone, a token continues the query it came from.
    alone = _get(base, "/v2/usercollection/daily_sleep", access, next_token=token).json()
    second = _get(base, "/v2/usercollection/daily_sleep", access, **WIDE, next_token=token).json()
    assert alone == second and alone["data"][0]["day"] == "2024-03-08"


@pytest.mark.parametrize(
    ("path", "params", "loc", "msg"),
    [
        ("daily_sleep", {"start_date": "yesterday"}, "start_date", "valid datetime or date"),
        ("sleep", {"end_date": "2024-13-01"}, "end_date", "valid datetime or date"),
        (
            "daily_sleep",
            {"start_date": "2025-01-15", "end_date": "2024-01-16"},
            "start_date",
            "Start date must be before end date",
        ),
        ("heartrate", {"start_datetime": "noon"}, "start_datetime", "valid datetime or date"),
        (
            "heartrate",
            {"start_datetime": "2024-03-02T00:00:00Z", "end_datetime": "2024-03-01T00:00:00Z"},
            "start_datetime",
            "before end datetime",
        ),
    ],
)
def test_validation_errors_have_the_http_validation_error_shape(
    base: str, path: str, params: dict[str, str], loc: str, msg: str
) -> None:
    response = _get(base, f"/v2/usercollection/{path}", **params)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert set(error) == {"type", "loc", "msg", "input"}
    assert error["loc"] == ["query", loc]
    assert msg in error["msg"]
    assert error["input"] == params[loc]


def test_numeric_dates_are_unix_seconds(base: str) -> None:
    # Recorded: start_date=1&end_date=2 answered 200 with an empty page (1970-01-01).
    response = _get(base, "/v2/usercollection/sleep", start_date="1", end_date="2")
    assert response.status_code == 200
    assert response.content == b'{"data":[],"next_token":null}'


def test_heartrate_window_is_at_most_30_days(base: str, store: OuraStore) -> None:
    access, _ = store.issue_token(PERSON)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    ok = _get(
        base,
        "/v2/usercollection/heartrate",
        access,
        start_datetime=start.isoformat(),
        end_datetime=(start + timedelta(days=30)).isoformat(),
    )
    assert ok.status_code == 200
    too_long = _get(
        base,
        "/v2/usercollection/heartrate",
        access,
        start_datetime=start.isoformat(),
        end_datetime=(start + timedelta(days=30, seconds=1)).isoformat(),
    )
    assert too_long.status_code == 400
    assert isinstance(too_long.json()["detail"], str)


def test_single_document_404_and_unknown_routes(base: str) -> None:
    missing = _get(base, "/v2/usercollection/daily_sleep/not-existing")
    assert missing.status_code == 404
    assert missing.content == b'{"detail":"Document not found."}'  # byte for byte as recorded
    assert _get(base, "/v2/usercollection/nothing_here").status_code == 404
    assert _get(base, "/v2/usercollection/heartrate/abc").status_code == 404
    post = requests.post(f"{base}/v2/usercollection/sleep", headers=_auth(DEFAULT_PAT), timeout=5)
    assert post.status_code == 405


def test_store_changes_are_served(base: str, store: OuraStore) -> None:
    access, _ = store.issue_token(PERSON)
    night = next(d for d in store.documents(PERSON, "sleep") if d["day"] == "2024-04-02")
    store.update_document(PERSON, "sleep", night["id"], type="deleted")
    served = _get(base, f"/v2/usercollection/sleep/{night['id']}", access).json()
    assert served["type"] == "deleted"
    score = next(d for d in store.documents(PERSON, "daily_sleep") if d["day"] == "2024-04-02")
    store.update_document(PERSON, "daily_sleep", score["id"], score=12)  # rescored
    assert _get(base, f"/v2/usercollection/daily_sleep/{score['id']}", access).json()["score"] == 12
    assert store.delete_document(PERSON, "daily_sleep", score["id"])
    assert _get(base, f"/v2/usercollection/daily_sleep/{score['id']}", access).status_code == 404
    window = {"start_date": "2024-04-01", "end_date": "2024-04-03"}
    days = [
        r["day"]
        for r in _get(base, "/v2/usercollection/daily_sleep", access, **window).json()["data"]
    ]
    assert days == ["2024-04-01", "2024-04-03"]
    store.add_documents(PERSON, "daily_sleep", [{**score, "score": 70}])  # late sync
    rows = _get(base, "/v2/usercollection/daily_sleep", access, **window).json()["data"]
    assert [r["score"] for r in rows if r["day"] == "2024-04-02"] == [70]


# ---------------------------------------------------------------------------------------------
# Rate limits and faults
# ---------------------------------------------------------------------------------------------


def test_fault_429_with_retry_after_on_the_oura_mount(server: SandboxServer, base: str) -> None:
    server.faults.add(
        Fault(
            source="oura",
            kind="429",
            path=r"/v2/usercollection/daily_sleep$",
            times=1,
            retry_after=3,
        )
    )
    limited = _get(base, "/v2/usercollection/daily_sleep", **WIDE)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "3"
    assert _get(base, "/v2/usercollection/daily_sleep", **WIDE).status_code == 200
    assert server.request_log.count(source="oura", status=429) == 1


def test_rate_limit_counter(store: OuraStore) -> None:
    with SandboxServer() as srv:
        srv.mount("oura", OuraApp(store, rate_limit=3, rate_window=60))
        statuses = [
            _get(srv.base_url("oura"), "/v2/usercollection/ring_configuration") for _ in range(4)
        ]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert 1 <= int(statuses[-1].headers["Retry-After"]) <= 60


# ---------------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------------


def _types(docs: list[Any], path: str = "", out: dict | None = None) -> dict[str, set[str]]:
    """Every key path of the recorded documents and the non-null types seen there."""
    out = {} if out is None else out
    for doc in docs:
        if isinstance(doc, dict):
            out.setdefault(path + "{}", set()).add(",".join(doc))  # the keys, in order
            for key, value in doc.items():
                _types([value], f"{path}.{key}", out)
        elif isinstance(doc, list):
            out.setdefault(path, set()).add("list")
            _types(doc[:200], path + "[]", out)
        else:
            out.setdefault(path, set()).add(type(doc).__name__)
    return out


@pytest.mark.parametrize("endpoint", sorted(p.stem for p in RECORDINGS_DIR.glob("*.json")))
def test_generated_documents_have_the_recorded_shape(person: dict[str, Any], endpoint: str) -> None:
    recorded = _recorded(endpoint)
    generated = person[endpoint]
    if endpoint == "personal_info":
        recorded, generated = [recorded], [generated]
    assert generated, endpoint
    expected = _types(recorded if isinstance(recorded, list) else [recorded])
    actual = _types(generated[:400])
    # Fields only ever null in the recordings (e.g. sleep_time.optimal_bedtime) take the
    # spec's shape; everything else: same keys in the same order, same non-null types.
    only_null = {p for p, kinds in expected.items() if kinds == {"NoneType"}}
    for path, kinds in actual.items():
        if any(path.startswith(prefix) for prefix in only_null):
            continue
        assert path in expected, f"{endpoint}: unexpected {path}"
        kinds = kinds - {"NoneType"}
        assert kinds <= expected[path], f"{endpoint}{path}: {kinds} vs {expected[path]}"
    missing = {p for p in expected if p.endswith("{}")} - set(actual)
    assert not missing, f"{endpoint}: never generated {missing}"


def test_generated_vo2_max_follows_the_spec(person: dict[str, Any]) -> None:
    assert person["vO2_max"]
    for doc in person["vO2_max"]:
        assert list(doc) == ["id", "day", "timestamp", "vo2_max"]


def test_generator_is_deterministic_and_stable_across_ranges(person: dict[str, Any]) -> None:
    again = generate_person(PERSON, START, END)
    assert orjson.dumps(again) == orjson.dumps(person)
    shorter = generate_person(PERSON, START, date(2024, 3, 20))
    for endpoint in COLLECTIONS:
        # A longer range reproduces the shorter one on the days they share.
        expected = [
            d
            for d in person[endpoint]
            if endpoint == "ring_configuration" or (d.get("day") or d["start_day"]) <= "2024-03-20"
        ]
        assert shorter[endpoint] == expected, endpoint
    assert generate_person("someone_else", START, END)["daily_sleep"] != person["daily_sleep"]


def test_generator_covers_every_day(person: dict[str, Any]) -> None:
    days = [(START + timedelta(days=i)).isoformat() for i in range((END - START).days + 1)]
    long_sleeps = Counter(d["day"] for d in person["sleep"] if d["type"] == "long_sleep")
    assert sorted(long_sleeps) == days and set(long_sleeps.values()) == {1}
    for endpoint in ("daily_sleep", "daily_readiness", "daily_activity", "daily_stress"):
        assert [d["day"] for d in person[endpoint]] == days, endpoint
    types = Counter(d["type"] for d in person["sleep"])
    assert types["sleep"] > 0 and types["late_nap"] + types["rest"] > 0
    sources = Counter(s["source"] for s in person["heartrate"])
    assert {"awake", "rest", "sleep", "workout"} <= set(sources)
    assert len(person["heartrate"]) <= len(days) * 288  # one sample per 5 minutes


def test_generator_local_offsets_follow_daylight_saving(person: dict[str, Any]) -> None:
    offsets = {d["bedtime_start"][-6:] for d in person["sleep"]}
    assert offsets == {"+01:00", "+02:00"}
    crossing = [
        d
        for d in person["sleep"]
        if d["type"] == "long_sleep" and d["bedtime_start"][-6:] != d["bedtime_end"][-6:]
    ]
    assert [d["day"] for d in crossing] == ["2024-03-31"]
    night = crossing[0]
    start = datetime.fromisoformat(night["bedtime_start"])
    end = datetime.fromisoformat(night["bedtime_end"])
    assert (end - start).total_seconds() == night["time_in_bed"]  # real length across the change
    other = generate_person(PERSON, START, END, tz="America/New_York")
    assert {d["bedtime_start"][-6:] for d in other["sleep"]} == {"-05:00", "-04:00"}


def test_night_quality_is_pure_and_drives_the_sleep_score(person: dict[str, Any]) -> None:
    day = date(2024, 3, 5)
    assert night_quality(PERSON, day) == night_quality(PERSON, day)
    qualities = [night_quality(PERSON, date.fromisoformat(d["day"])) for d in person["daily_sleep"]]
    assert all(0.0 <= q <= 1.0 for q in qualities)
    assert statistics.pstdev(qualities) > 0.08
    scores = [d["score"] for d in person["daily_sleep"]]
    assert statistics.correlation(qualities, scores) > 0.8
