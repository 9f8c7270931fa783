"""Socket.IO events through the Flask-SocketIO test client: every event and every bad payload."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import Membership, Session
from tests.conftest import ADMIN
from tests.helpers import create_session, events, join

UNKNOWN_ID = "6f1c1f0e-6c0b-4d53-9a53-1d3c7d3a0b11"


def memberships(app, session_id):
    with app.app_context():
        query = select(Membership).where(Membership.session_id == session_id)
        return list(db.session.scalars(query.order_by(Membership.id)))


def open_count(app, session_id) -> int:
    with app.app_context():
        query = select(func.count()).where(
            Membership.session_id == session_id, Membership.left_at.is_(None)
        )
        return db.session.scalar(query)


def detail(client, session_id):
    return client.get(f"/api/v1/sessions/{session_id}").json


# --- connect -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        {"name": "x" * 65},
        {"name": 5},
        {"device_id": "not-a-uuid"},
        {"device_id": 12},
        {"colour": "red"},
        "a string",
        [1, 2],
    ],
)
def test_a_malformed_auth_is_refused(connect, auth) -> None:
    assert not connect(auth).is_connected()


@pytest.mark.parametrize("auth", [None, {}, {"name": "Ada", "device_id": UNKNOWN_ID}])
def test_a_valid_auth_connects(connect, auth) -> None:
    assert connect(auth).is_connected()


# --- join ----------------------------------------------------------------------------------


def test_join_acks_the_session_clients_and_document(client, connect) -> None:
    session_id = create_session(client, title="Board")
    ada = connect({"name": "Ada"})
    ack = join(ada, session_id)
    assert ack["ok"] is True
    assert ack["session"]["session_id"] == session_id
    assert ack["session"]["active_clients"] == 1
    assert ack["version"] == 0
    assert ack["document"] == {"version": 0, "nodes": []}
    [me] = ack["clients"]
    assert me["name"] == "Ada"
    # Without a join token (AUTH_MODE=open): no app user id, and an editor.
    assert set(me) == {"client_id", "name", "joined_at", "user_id", "role"}
    assert (me["user_id"], me["role"]) == (None, "editor")
    # Which of the clients is this socket: a page marks "you" and knows its role from this.
    assert ack["client"] == me


def test_two_joins_count_two_and_the_first_hears_a_presence_diff(client, connect) -> None:
    session_id = create_session(client)
    ada, bob = connect({"name": "Ada"}), connect({"name": "Bob"})
    join(ada, session_id)
    ada.get_received()
    ack = join(bob, session_id, name="Robert")
    assert [c["name"] for c in ack["clients"]] == ["Ada", "Robert"]
    [presence] = events(ada, "presence")
    assert presence["session_id"] == session_id
    assert presence["active_clients"] == 2
    assert [c["name"] for c in presence["joined"]] == ["Robert"]
    assert presence["left"] == []
    assert events(bob, "presence") == []  # the joiner has the full list in its ack
    assert detail(client, session_id)["active_clients"] == 2
    assert client.get(f"/api/v1/sessions/{session_id}/clients").json["active_clients"] == 2


def test_client_ids_are_opaque_and_never_socket_ids(app, client, connect) -> None:
    session_id = create_session(client)
    ada = connect()
    ack = join(ada, session_id)
    [row] = memberships(app, session_id)
    assert ack["clients"][0]["client_id"] == row.client_id != row.sid
    assert row.sid not in str(client.get(f"/api/v1/sessions/{session_id}/clients").json)


def test_joining_twice_is_idempotent(app, client, connect) -> None:
    session_id = create_session(client)
    ada, bob = connect(), connect()
    join(ada, session_id)
    join(bob, session_id)
    ada.get_received()
    again = join(bob, session_id)
    assert again["ok"] is True and again["session"]["active_clients"] == 2
    assert len(memberships(app, session_id)) == 2
    assert events(ada, "presence") == []


def test_join_keeps_peak_and_first_joined(client, connect, clock) -> None:
    session_id = create_session(client)
    first_join = clock.advance(seconds=30)
    sockets = [connect() for _ in range(3)]
    for socket in sockets:
        join(socket, session_id)
    clock.advance(seconds=30)
    sockets[0].emit("leave_session", {"session_id": session_id}, callback=True)
    body = detail(client, session_id)
    assert body["peak_clients"] == 3
    assert body["active_clients"] == 2
    assert body["first_joined_at"] == first_join.isoformat()
    assert body["last_activity"] == clock.now().isoformat()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"session_id": "not-a-uuid"}, "session_id"),
        ({"session_id": 42}, "session_id"),
        ({}, "session_id"),
        ({"session_id": UNKNOWN_ID, "name": "x" * 65}, "name"),
        ({"session_id": UNKNOWN_ID, "name": ["Ada"]}, "name"),
    ],
)
def test_join_rejects_bad_fields(client, connect, payload, field) -> None:
    ack = connect().emit("join_session", payload, callback=True)
    assert ack["ok"] is False
    assert ack["error"]["code"] == "invalid_payload"
    assert field in ack["error"]["details"]["fields"]


def test_join_rejects_unknown_fields(connect) -> None:
    ack = connect().emit("join_session", {"session_id": UNKNOWN_ID, "role": "x"}, callback=True)
    assert ack["error"]["code"] == "invalid_payload"
    assert ack["error"]["details"]["unknown_fields"] == ["role"]


@pytest.mark.parametrize("payload", ["a string", 7, [UNKNOWN_ID], None])
def test_join_rejects_a_payload_that_is_not_an_object(connect, payload) -> None:
    ack = connect().emit("join_session", payload, callback=True)
    assert ack == {
        "ok": False,
        "error": {
            "code": "invalid_payload",
            "message": "The payload must be an object.",
            "details": {},
        },
    }


def test_join_with_no_payload_or_two_payloads_is_refused(connect) -> None:
    socket = connect()
    assert socket.emit("join_session", callback=True)["error"]["code"] == "invalid_payload"
    two = socket.emit("join_session", {"session_id": UNKNOWN_ID}, {"x": 1}, callback=True)
    assert two["error"]["code"] == "invalid_payload"


def test_join_an_unknown_session(connect) -> None:
    ack = join(connect(), UNKNOWN_ID)
    assert ack["ok"] is False and ack["error"]["code"] == "session_not_found"


def test_join_an_ended_session(client, connect, app) -> None:
    session_id = create_session(client)
    client.delete(f"/api/v1/sessions/{session_id}", headers=ADMIN)
    ack = join(connect(), session_id)
    assert ack["error"]["code"] == "session_ended"
    assert ack["error"]["details"] == {"session_id": session_id, "end_reason": "ended_by_admin"}
    assert memberships(app, session_id) == []


def test_join_a_session_past_its_ttl_before_the_sweep(client, connect, clock, app) -> None:
    session_id = create_session(client, ttl_seconds=60)
    clock.advance(seconds=61)
    assert detail(client, session_id)["is_active"] is True
    error = join(connect(), session_id)["error"]
    assert error["code"] == "session_ended" and error["details"]["end_reason"] == "ttl_expired"
    assert memberships(app, session_id) == []


def test_a_full_session_refuses_one_more(make_app, connect_to) -> None:
    app = make_app(SESSION_MAX_CLIENTS=2)
    client = app.test_client()
    session_id = create_session(client)
    first, second, third = (connect_to(app) for _ in range(3))
    assert join(first, session_id)["ok"] and join(second, session_id)["ok"]
    ack = join(third, session_id)
    assert ack["error"]["code"] == "session_full"
    assert ack["error"]["details"]["max_clients"] == 2
    assert open_count(app, session_id) == 2
    assert join(second, session_id)["ok"] is True  # already in: idempotent, not "full"


# --- leave and disconnect ------------------------------------------------------------------


def test_leave_tells_the_room_and_counts_once(app, client, connect) -> None:
    session_id = create_session(client)
    ada, bob = connect({"name": "Ada"}), connect({"name": "Bob"})
    join(ada, session_id)
    join(bob, session_id)
    ada.get_received()
    ack = bob.emit("leave_session", {"session_id": session_id}, callback=True)
    assert ack == {"ok": True, "session_id": session_id, "active_clients": 1}
    [presence] = events(ada, "presence")
    assert presence["active_clients"] == 1
    assert [c["name"] for c in presence["left"]] == ["Bob"]
    assert presence["joined"] == []
    again = bob.emit("leave_session", {"session_id": session_id}, callback=True)
    assert again["error"]["code"] == "not_joined"
    bob.disconnect()
    assert open_count(app, session_id) == 1
    assert detail(client, session_id)["active_clients"] == 1
    assert [row.left_reason for row in memberships(app, session_id)] == [None, "left"]


def test_leave_errors(client, connect) -> None:
    session_id = create_session(client)
    socket = connect()
    assert (
        socket.emit("leave_session", {"session_id": session_id}, callback=True)["error"]["code"]
        == "not_joined"
    )
    assert (
        socket.emit("leave_session", {"session_id": UNKNOWN_ID}, callback=True)["error"]["code"]
        == "session_not_found"
    )
    assert (
        socket.emit("leave_session", {"session_id": "x"}, callback=True)["error"]["code"]
        == "invalid_payload"
    )
    assert socket.emit("leave_session", "x", callback=True)["error"]["code"] == "invalid_payload"


def test_disconnect_closes_every_membership_and_records_why(app, client, connect) -> None:
    first, second = create_session(client), create_session(client)
    ada, bob = connect({"name": "Ada"}), connect({"name": "Bob"})
    for session_id in (first, second):
        join(ada, session_id)
        join(bob, session_id)
    bob.get_received()
    ada.disconnect()
    received = events(bob, "presence")
    assert {p["session_id"] for p in received} == {first, second}
    assert all(p["active_clients"] == 1 and p["left"][0]["name"] == "Ada" for p in received)
    for session_id in (first, second):
        reasons = [row.left_reason for row in memberships(app, session_id)]
        assert reasons == ["client_disconnect", None]
        assert detail(client, session_id)["active_clients"] == 1


def test_last_leave_starts_the_idle_clock(client, connect, clock) -> None:
    session_id = create_session(client)
    socket = connect()
    join(socket, session_id)
    left_at = clock.advance(hours=3)
    socket.disconnect()
    assert detail(client, session_id)["last_activity"] == left_at.isoformat()


# --- ending a session ----------------------------------------------------------------------


def test_ending_a_session_tells_its_clients_and_empties_it(app, client, connect) -> None:
    session_id = create_session(client)
    ada, bob = connect(), connect()
    join(ada, session_id)
    join(bob, session_id)
    ada.get_received()
    bob.get_received()
    client.delete(f"/api/v1/sessions/{session_id}", headers=ADMIN)
    for socket in (ada, bob):
        assert events(socket, "session_ended") == [
            {"session_id": session_id, "reason": "ended_by_admin"}
        ]
    assert [row.left_reason for row in memberships(app, session_id)] == ["session_ended"] * 2
    assert detail(client, session_id)["active_clients"] == 0
    ada.disconnect()  # its membership is already closed: nothing counts twice
    assert open_count(app, session_id) == 0
    assert (
        bob.emit("leave_session", {"session_id": session_id}, callback=True)["error"]["code"]
        == "not_joined"
    )


def test_admin_cleanup_tells_the_room(client, connect, clock) -> None:
    session_id = create_session(client)
    watcher = connect()
    join(watcher, session_id)
    watcher.emit("leave_session", {"session_id": session_id}, callback=True)
    clock.advance(hours=25)
    response = client.post("/api/v1/sessions/cleanup", json={}, headers=ADMIN)
    assert response.json["removed_sessions"] == [session_id]
    assert events(watcher, "session_ended") == []  # it left the room before


# --- every other event ---------------------------------------------------------------------


def test_an_unknown_event_is_answered_not_ignored(connect) -> None:
    ack = connect().emit("teleport", {"x": 1}, callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "unknown_event"


def test_pure_activity_writes_are_coalesced(make_app, connect_to, clock) -> None:
    app = make_app(ACTIVITY_FLUSH_SECS=5)
    client = app.test_client()
    session_id = create_session(client)
    socket = connect_to(app)
    joined_at = clock.advance(seconds=1)
    join(socket, session_id)
    clock.advance(seconds=3)
    socket.emit("teleport", {}, callback=True)
    assert detail(client, session_id)["last_activity"] == joined_at.isoformat()
    later = clock.advance(seconds=3)
    socket.emit("teleport", {}, callback=True)
    assert detail(client, session_id)["last_activity"] == later.isoformat()
    clock.advance(seconds=1)
    socket.emit("teleport", {}, callback=True)
    assert detail(client, session_id)["last_activity"] == later.isoformat()


def test_rate_limit_answers_rate_limited_then_refills(make_app, connect_to, clock) -> None:
    app = make_app(SOCKET_RATE_LIMIT=2)  # bursts to 4
    session_id = create_session(app.test_client())
    socket = connect_to(app)
    acks = [join(socket, session_id) for _ in range(5)]
    assert [ack["ok"] for ack in acks] == [True] * 4 + [False]
    assert acks[-1]["error"]["code"] == "rate_limited"
    clock.advance(seconds=1)
    assert join(socket, session_id)["ok"] is True
    assert socket.is_connected()


def test_a_client_that_keeps_flooding_is_disconnected(make_app, connect_to) -> None:
    app = make_app(SOCKET_RATE_LIMIT=1)  # bursts to 2
    client = app.test_client()
    session_id = create_session(client)
    socket = connect_to(app)
    join(socket, session_id)
    for _ in range(5):
        if not socket.is_connected():
            break
        socket.emit("join_session", {"session_id": session_id}, callback=True)
    assert not socket.is_connected()
    assert open_count(app, session_id) == 0
    with app.app_context():
        assert db.session.get(Session, session_id).active_clients == 0


def test_two_apps_in_one_process_both_answer_socket_events(make_app, connect_to) -> None:
    first, second = make_app(), make_app()
    session_id = create_session(first.test_client())
    assert join(connect_to(second), session_id)["ok"] is True
    assert join(connect_to(first), session_id)["session"]["active_clients"] == 2


def test_device_id_is_kept_on_the_membership(app, client, connect) -> None:
    device = str(uuid.uuid4())
    session_id = create_session(client)
    join(connect({"device_id": device}), session_id)
    assert memberships(app, session_id)[0].device_id == device


# --- join versus end -------------------------------------------------------------------------


def test_a_join_that_commits_just_before_an_end_still_hears_it(app, client, connect, monkeypatch):
    """The end lands between the join's commit and the rest of the handler: the socket must
    already be in the room, or `session_ended` would pass it by."""
    from backend import presence, registry

    session_id = create_session(client)
    joined = presence.join

    def join_then_end(*args, **kwargs):
        change = joined(*args, **kwargs)
        registry.end_session(change.session.id, "ended_by_admin")
        return change

    monkeypatch.setattr(presence, "join", join_then_end)
    socket = connect()
    join(socket, session_id)
    assert events(socket, "session_ended") == [
        {"session_id": session_id, "reason": "ended_by_admin"}
    ]
    assert open_count(app, session_id) == 0


def test_a_refused_join_leaves_the_room_it_entered(client, connect):
    from backend import broadcast

    ended = create_session(client)
    client.delete(f"/api/v1/sessions/{ended}", headers=ADMIN)
    socket = connect()
    assert join(socket, ended)["error"]["code"] == "session_ended"
    broadcast.session_ended(ended, "ended_by_admin")  # only a member of the room hears this
    assert events(socket, "session_ended") == []
