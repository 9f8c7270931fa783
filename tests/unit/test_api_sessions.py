"""REST sessions resource: list, create, detail, /info, /clients and /document."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from backend import clock as app_clock
from backend.extensions import db
from backend.models import DocumentNode, Operation, Session
from tests.conftest import ADMIN
from tests.helpers import add_client

SESSIONS = "/api/v1/sessions"
UNKNOWN_ID = "3f0c6a52-6c1e-4d0b-9a51-0d6f1d2b7c11"
SUMMARY_KEYS = {
    "session_id",
    "project_id",
    "created_at",
    "last_activity",
    "active_clients",
    "is_active",
}


def create(client, **body):
    body.setdefault("project_id", "proj")
    response = client.post(SESSIONS, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def listing(client, **query):
    response = client.get(SESSIONS, query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ids(page):
    return [item["session_id"] for item in page["sessions"]]


def error(response):
    return response.get_json()["error"]


def session_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Session))


def end(client, session_id):
    response = client.delete(f"{SESSIONS}/{session_id}", headers=ADMIN)
    assert response.status_code == 200, response.get_json()


def add_nodes(app, session_id, nodes, version):
    with app.app_context():
        for node_id, props in nodes.items():
            db.session.add(DocumentNode(session_id=session_id, node_id=node_id, props=props))
        db.session.get(Session, session_id).version = version
        db.session.commit()


def add_operation(app, session_id, version, state):
    with app.app_context():
        op = {"type": "add_node", "node_id": f"n{version}", "props": {}}
        db.session.add(
            Operation(
                session_id=session_id,
                version=version,
                kind="op",
                state=state,
                op=op,
                inverse={"type": "delete_node", "node_id": f"n{version}"},
                created_at=app_clock.now(),
            )
        )
        db.session.commit()


def walk(client, limit, **query):
    """Every page of a listing, checking the cursor contract on the way."""
    pages, cursor = [], None
    while True:
        params = {"limit": limit, **query}
        if cursor is not None:
            params["cursor"] = cursor
        page = listing(client, **params)
        pages.append(ids(page))
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(page["sessions"]) == limit
        assert len(pages) <= 1000, "pagination does not terminate"


def walk_from(client, cursor, limit):
    seen = []
    while cursor is not None:
        page = listing(client, limit=limit, cursor=cursor)
        seen += ids(page)
        cursor = page["next_cursor"]
    return seen


def expected_order(client, session_ids):
    """The contract's order: last_activity DESC, then session_id DESC."""
    details = [client.get(f"{SESSIONS}/{sid}").get_json() for sid in session_ids]
    keyed = [(datetime.fromisoformat(d["last_activity"]), d["session_id"]) for d in details]
    return [sid for _, sid in sorted(keyed, reverse=True)]


def forged_cursor(payload):
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- create ----------------------------------------------------------------------------------


def test_create_answers_201_with_every_field_and_a_location(client, clock):
    response = client.post(SESSIONS, json={"project_id": "p1", "title": "Plan", "ttl_seconds": 60})
    assert response.status_code == 201
    body = response.get_json()
    assert uuid.UUID(body["session_id"]).version == 4
    now = clock.now()
    assert body == {
        "session_id": body["session_id"],
        "project_id": "p1",
        "title": "Plan",
        "ttl_seconds": 60,
        "created_at": now.isoformat(),
        "last_activity": now.isoformat(),
        "active_clients": 0,
        "is_active": True,
        "pinned": False,
        "ended_at": None,
        "end_reason": None,
        "peak_clients": 0,
        "first_joined_at": None,
        "version": 0,
        "node_count": 0,
        "undo_available": False,
        "redo_available": False,
        "duration_seconds": 0.0,
        "expires_at": (now + timedelta(seconds=60)).isoformat(),
    }
    location = response.headers["Location"]
    assert location.endswith(f"{SESSIONS}/{body['session_id']}")
    detail = client.get(location)
    assert detail.status_code == 200
    assert detail.get_json() == body


def test_title_and_ttl_are_optional(client):
    body = create(client, project_id="p1")
    assert body["title"] is None
    assert body["ttl_seconds"] is None
    assert body["expires_at"] is None


def test_each_create_makes_a_new_session(client, app):
    first, second = create(client), create(client)
    assert first["session_id"] != second["session_id"]
    assert session_count(app) == 2


@pytest.mark.parametrize(
    ("body", "stored"),
    [
        ({"project_id": "x"}, {"project_id": "x"}),
        ({"project_id": "x" * 128}, {"project_id": "x" * 128}),
        ({"project_id": "  padded  "}, {"project_id": "padded"}),
        ({"project_id": "p", "title": "t" * 200}, {"title": "t" * 200}),
        ({"project_id": "p", "title": None}, {"title": None}),
        ({"project_id": "p", "ttl_seconds": 1}, {"ttl_seconds": 1}),
        ({"project_id": "p", "ttl_seconds": None}, {"ttl_seconds": None}),
    ],
)
def test_create_accepts_values_at_the_limits(client, body, stored):
    created = create(client, **body)
    for key, value in stored.items():
        assert created[key] == value


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "project_id"),
        ({"project_id": ""}, "project_id"),
        ({"project_id": "   "}, "project_id"),
        ({"project_id": "\t\n"}, "project_id"),
        ({"project_id": "x" * 129}, "project_id"),
        ({"project_id": 123}, "project_id"),
        ({"project_id": None}, "project_id"),
        ({"project_id": ["p"]}, "project_id"),
        ({"project_id": "p", "title": "t" * 201}, "title"),
        ({"project_id": "p", "title": 5}, "title"),
        ({"project_id": "p", "ttl_seconds": 0}, "ttl_seconds"),
        ({"project_id": "p", "ttl_seconds": -5}, "ttl_seconds"),
        ({"project_id": "p", "ttl_seconds": 1.5}, "ttl_seconds"),
        ({"project_id": "p", "ttl_seconds": 60.0}, "ttl_seconds"),
        ({"project_id": "p", "ttl_seconds": "60"}, "ttl_seconds"),
        ({"project_id": "p", "ttl_seconds": True}, "ttl_seconds"),
        ({"project_id": "p", "ttl_seconds": False}, "ttl_seconds"),
    ],
)
def test_create_rejects_a_bad_field_and_creates_nothing(client, app, body, field):
    response = client.post(SESSIONS, json=body)
    assert response.status_code == 422
    problem = error(response)
    assert problem["code"] == "validation_error"
    assert field in problem["details"]["fields"]
    assert field in problem["message"]
    assert session_count(app) == 0


def test_create_rejects_unknown_fields_by_name(client, app):
    response = client.post(SESSIONS, json={"project_id": "p", "owner": "me", "colour": 1})
    assert response.status_code == 422
    assert error(response)["details"]["unknown_fields"] == ["colour", "owner"]
    assert session_count(app) == 0


def test_session_limit_counts_only_active_sessions(make_app):
    app = make_app(SESSION_MAX_CONCURRENT=2)
    client = app.test_client()
    first = create(client)
    create(client)
    response = client.post(SESSIONS, json={"project_id": "third"})
    assert response.status_code == 429
    problem = error(response)
    assert problem["code"] == "session_limit_reached"
    assert problem["details"] == {"limit": 2}
    assert session_count(app) == 2
    assert listing(client, project_id="third")["sessions"] == []

    end(client, first["session_id"])
    create(client, project_id="third")
    assert session_count(app) == 3


def test_a_zero_session_limit_means_no_limit(make_app):
    client = make_app(SESSION_MAX_CONCURRENT=0).test_client()
    for _ in range(3):
        create(client)
    assert len(listing(client)["sessions"]) == 3


# --- list ------------------------------------------------------------------------------------


def test_list_starts_empty(client):
    assert listing(client) == {"sessions": [], "next_cursor": None}


def test_list_items_carry_the_summary_fields(client, clock):
    created = create(client, project_id="p1", title="Plan")
    (item,) = listing(client)["sessions"]
    assert SUMMARY_KEYS <= set(item)
    assert item["session_id"] == created["session_id"]
    assert item["project_id"] == "p1"
    assert item["created_at"] == item["last_activity"] == clock.now().isoformat()
    assert item["active_clients"] == 0
    assert item["is_active"] is True


def test_status_filter(client):
    active = [create(client)["session_id"] for _ in range(2)]
    ended = create(client)["session_id"]
    end(client, ended)
    assert sorted(ids(listing(client))) == sorted(active)
    assert sorted(ids(listing(client, status="active"))) == sorted(active)
    assert ids(listing(client, status="ended")) == [ended]
    assert sorted(ids(listing(client, status="all"))) == sorted([*active, ended])


def test_project_filter(client):
    mine = {create(client, project_id="mine")["session_id"] for _ in range(2)}
    create(client, project_id="other")
    assert set(ids(listing(client, project_id="mine"))) == mine
    assert listing(client, project_id="nobody")["sessions"] == []


def test_project_and_status_filters_combine(client):
    kept = create(client, project_id="mine")["session_id"]
    gone = create(client, project_id="mine")["session_id"]
    create(client, project_id="other")
    end(client, gone)
    assert ids(listing(client, project_id="mine")) == [kept]
    assert ids(listing(client, project_id="mine", status="ended")) == [gone]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"status": "open"}, "status"),
        ({"project_id": ""}, "project_id"),
        ({"project_id": "x" * 129}, "project_id"),
        ({"cursor": "c" * 513}, "cursor"),
    ],
)
def test_list_rejects_a_bad_query(client, query, field):
    create(client)
    response = client.get(SESSIONS, query_string=query)
    assert response.status_code == 422
    problem = error(response)
    assert problem["code"] == "validation_error"
    assert field in problem["details"]["fields"]


@pytest.mark.parametrize("limit", ["1", "500"])
def test_list_accepts_limits_at_the_bounds(client, limit):
    for _ in range(2):
        create(client)
    page = listing(client, limit=limit)
    assert len(page["sessions"]) == min(int(limit), 2)


def test_default_limit_is_50(client):
    for _ in range(51):
        create(client)
    page = listing(client)
    assert len(page["sessions"]) == 50
    assert page["next_cursor"] is not None


def test_default_order_is_last_activity_then_session_id_descending(client, clock):
    oldest = create(client)["session_id"]
    clock.advance(seconds=10)
    tied = sorted(create(client)["session_id"] for _ in range(3))
    clock.advance(seconds=10)
    newest = create(client)["session_id"]
    assert ids(listing(client)) == [newest, *reversed(tied), oldest]


@pytest.mark.parametrize("total", [23, 20, 5, 1])
def test_pagination_over_ties_walks_to_the_end_without_repeats(client, total):
    created = [create(client)["session_id"] for _ in range(total)]  # one frozen instant
    pages = walk(client, limit=5)
    seen = [sid for page in pages for sid in page]
    assert len(seen) == len(set(seen)), "a session was listed twice"
    assert set(seen) == set(created), "a session was skipped"
    assert seen == sorted(created, reverse=True)
    assert [len(page) for page in pages] == [5] * (total // 5) + ([total % 5] if total % 5 else [])


def test_pagination_over_mixed_times_and_ties(client, clock):
    created = []
    for step in range(23):
        created.append(create(client)["session_id"])
        if step % 4 == 0:
            clock.advance(seconds=1)
        if step % 7 == 0:
            clock.advance(seconds=0.000001)
    seen = [sid for page in walk(client, limit=5) for sid in page]
    assert seen == expected_order(client, created)


def test_pagination_with_filters(client):
    created = [create(client, project_id="mine")["session_id"] for _ in range(12)]
    for sid in created[::3]:
        end(client, sid)
    create(client, project_id="other")
    seen = [sid for page in walk(client, limit=5, project_id="mine", status="all") for sid in page]
    assert seen == sorted(created, reverse=True)
    seen = [sid for page in walk(client, limit=2, status="ended") for sid in page]
    assert seen == sorted(created[::3], reverse=True)


def test_a_session_created_mid_walk_does_not_shift_the_pages(client, clock):
    created = [create(client)["session_id"] for _ in range(10)]
    first = listing(client, limit=4)
    clock.advance(seconds=5)
    create(client)
    rest = walk_from(client, first["next_cursor"], limit=4)
    assert ids(first) + rest == sorted(created, reverse=True)


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("garbage", id="not-base64-json"),
        pytest.param("%%%", id="punctuation"),
        pytest.param("é", id="non-ascii"),
        pytest.param(forged_cursor({"a": 1, "b": 2}), id="object"),
        pytest.param(forged_cursor([1, "x"]), id="number-time"),
        pytest.param(forged_cursor("just a string"), id="string"),
        pytest.param(forged_cursor(["2026-01-01T00:00:00", UNKNOWN_ID]), id="naive-time"),
        pytest.param(forged_cursor(["not a time", UNKNOWN_ID]), id="bad-time"),
        pytest.param(forged_cursor(["2026-01-01T00:00:00+00:00", 5]), id="number-id"),
        # Both parse, but fall outside what a datetime in UTC can hold.
        pytest.param(forged_cursor(["0001-01-01T00:00:00+01:00", UNKNOWN_ID]), id="before-year-1"),
        pytest.param(forged_cursor(["9999-12-31T23:59:59-01:00", UNKNOWN_ID]), id="after-9999"),
    ],
)
def test_a_garbage_cursor_is_400_invalid_cursor(client, cursor):
    create(client)
    response = client.get(SESSIONS, query_string={"cursor": cursor})
    assert response.status_code == 400
    problem = error(response)
    assert problem["code"] == "invalid_cursor"
    assert problem["message"]


# --- detail ----------------------------------------------------------------------------------


def test_detail_reports_duration_and_document_numbers(client, app, clock):
    sid = create(client, title="Plan")["session_id"]
    add_nodes(app, sid, {"a": {"x": 1}, "b": {}}, version=2)
    clock.advance(seconds=90)
    detail = client.get(f"{SESSIONS}/{sid}").get_json()
    assert detail["duration_seconds"] == 90.0
    assert detail["node_count"] == 2
    assert detail["version"] == 2
    assert detail["title"] == "Plan"
    assert detail["is_active"] is True


def test_detail_of_an_ended_session_stops_its_clock(client, clock):
    sid = create(client)["session_id"]
    clock.advance(seconds=30)
    end(client, sid)
    clock.advance(hours=2)
    detail = client.get(f"{SESSIONS}/{sid}").get_json()
    assert detail["is_active"] is False
    assert detail["end_reason"] == "ended_by_admin"
    assert detail["ended_at"] == (clock.now() - timedelta(hours=2)).isoformat()
    assert detail["duration_seconds"] == 30.0


# --- /info -----------------------------------------------------------------------------------


def test_info_keeps_the_seed_contract_exactly(client, app, clock):
    sid = create(client, project_id="p1", title="hidden from /info")["session_id"]
    clock.advance(seconds=5)
    add_client(app, sid)
    add_nodes(app, sid, {"n1": {}}, version=1)
    add_operation(app, sid, 1, "applied")
    response = client.get(f"{SESSIONS}/{sid}/info")
    assert response.status_code == 200
    info = response.get_json()
    assert set(info) == {
        "session_id",
        "metadata",
        "project_id",
        "node_count",
        "undo_available",
        "redo_available",
    }
    assert set(info["metadata"]) == {"created_at", "last_activity", "active_clients"}
    assert info["session_id"] == sid
    assert info["project_id"] == "p1"
    assert info["node_count"] == 1
    assert info["undo_available"] is True
    assert info["redo_available"] is False
    assert info["metadata"]["active_clients"] == 1
    created = datetime.fromisoformat(info["metadata"]["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert created == clock.now() - timedelta(seconds=5)
    assert datetime.fromisoformat(info["metadata"]["last_activity"]).utcoffset() is not None


def test_info_reports_redo_after_an_undo(client, app):
    sid = create(client)["session_id"]
    add_operation(app, sid, 1, "undone")
    info = client.get(f"{SESSIONS}/{sid}/info").get_json()
    assert info["undo_available"] is False
    assert info["redo_available"] is True


# --- /clients and /document ------------------------------------------------------------------


def test_clients_of_a_new_session(client):
    sid = create(client)["session_id"]
    response = client.get(f"{SESSIONS}/{sid}/clients")
    assert response.status_code == 200
    assert response.get_json() == {"session_id": sid, "active_clients": 0, "clients": []}


def test_clients_lists_open_memberships_oldest_first_without_socket_ids(client, app, clock):
    sid = create(client)["session_id"]
    ada_row = add_client(app, sid, "ada")
    clock.advance(seconds=3)
    add_client(app, sid, "gone", left=True)
    bob_row = add_client(app, sid, "bob")
    ada, bob = ada_row.client_id, bob_row.client_id
    response = client.get(f"{SESSIONS}/{sid}/clients")
    body = response.get_json()
    assert body["session_id"] == sid
    assert body["active_clients"] == 2
    start = clock.now() - timedelta(seconds=3)
    assert body["clients"] == [
        {
            "client_id": ada,
            "name": "ada",
            "joined_at": start.isoformat(),
            "user_id": None,
            "role": "editor",
        },
        {
            "client_id": bob,
            "name": "bob",
            "joined_at": clock.now().isoformat(),
            "user_id": None,
            "role": "editor",
        },
    ]
    text = response.get_data(as_text=True)
    assert ada_row.sid not in text and bob_row.sid not in text


def test_document_of_a_new_session(client):
    sid = create(client)["session_id"]
    response = client.get(f"{SESSIONS}/{sid}/document")
    assert response.status_code == 200
    assert response.get_json() == {"version": 0, "nodes": []}


def test_document_snapshot_lists_nodes_in_a_stable_order(client, app):
    sid = create(client)["session_id"]
    other = create(client)["session_id"]
    add_nodes(app, sid, {"b": {"n": {"deep": [1, 2]}}, "a": {"label": "hi"}}, version=7)
    add_nodes(app, other, {"z": {}}, version=1)
    assert client.get(f"{SESSIONS}/{sid}/document").get_json() == {
        "version": 7,
        "nodes": [
            {"node_id": "a", "props": {"label": "hi"}},
            {"node_id": "b", "props": {"n": {"deep": [1, 2]}}},
        ],
    }


# --- unknown ids ------------------------------------------------------------------------------

PER_SESSION_ROUTES = [
    pytest.param("get", "{}", None, None, id="GET-detail"),
    pytest.param("get", "{}/info", None, None, id="GET-info"),
    pytest.param("get", "{}/clients", None, None, id="GET-clients"),
    pytest.param("get", "{}/document", None, None, id="GET-document"),
    pytest.param("patch", "{}", {"title": "x"}, ADMIN, id="PATCH"),
    pytest.param("delete", "{}", None, ADMIN, id="DELETE"),
]


@pytest.mark.parametrize(("method", "route", "body", "headers"), PER_SESSION_ROUTES)
@pytest.mark.parametrize(
    "session_id",
    [UNKNOWN_ID, "not-a-uuid", "12345", "zzzzzzzz-zzzz-4zzz-8zzz-zzzzzzzzzzzz", "%20"],
)
def test_every_per_session_route_is_404_for_an_unknown_or_malformed_id(
    client, app, method, route, body, headers, session_id
):
    create(client)
    url = f"{SESSIONS}/" + route.format(session_id)
    response = getattr(client, method)(url, json=body, headers=headers)
    assert response.status_code == 404
    problem = error(response)
    assert problem["code"] == "session_not_found"
    assert problem["message"]
    assert session_count(app) == 1


@pytest.mark.parametrize(("method", "route", "body", "headers"), PER_SESSION_ROUTES)
def test_a_different_uuid_never_reaches_a_session(client, method, route, body, headers):
    """Changing the version digit gives another (non-v4) UUID: it must not alias the session."""
    sid = create(client)["session_id"]
    alias = sid[:14] + "1" + sid[15:]
    assert alias != sid
    url = f"{SESSIONS}/" + route.format(alias)
    response = getattr(client, method)(url, json=body, headers=headers)
    assert response.status_code == 404
    assert error(response)["code"] == "session_not_found"
    detail = client.get(f"{SESSIONS}/{sid}").get_json()
    assert detail["is_active"] is True and detail["title"] is None
