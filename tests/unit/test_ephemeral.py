"""Ephemeral state and signals (DESIGN section 12): live, relayed, size-limited, cleared when
the member goes, and never in the database or the document's versions."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.conftest import ADMIN
from tests.helpers import SESSIONS, create_session, database_state, events, join

CURSOR = {"x": 10, "y": 20, "dragging": {"node_id": "card-1", "x": 300, "y": 120}}


def set_state(socket: Any, session_id: str, state: Any) -> dict[str, Any]:
    return socket.emit("set_state", {"session_id": session_id, "state": state}, callback=True)


def signal(socket: Any, session_id: str, event: str, data: Any = None) -> dict[str, Any]:
    payload = {"session_id": session_id, "event": event, "data": data}
    return socket.emit("signal", payload, callback=True)


@pytest.fixture()
def room(app: Flask, connect) -> tuple[str, Any, Any, str]:
    """A session with Ada and Bob in it, their join presence drained; Ada's client id."""
    session_id = create_session(app.test_client())
    ada, bob = connect({"name": "Ada"}), connect({"name": "Bob"})
    ada_id = join(ada, session_id)["clients"][0]["client_id"]
    join(bob, session_id)
    events(ada, "presence")
    return session_id, ada, bob, ada_id


def test_a_state_reaches_the_room_and_the_next_joiner(app, connect, room) -> None:
    session_id, ada, bob, ada_id = room
    before = database_state(app)
    assert set_state(ada, session_id, CURSOR) == {"ok": True}
    assert events(bob, "state") == [
        {"session_id": session_id, "client_id": ada_id, "state": CURSOR}
    ]
    assert events(ada, "state") == []  # not echoed to its sender
    cy = connect({"name": "Cy"})
    ack = join(cy, session_id)
    assert ack["states"] == {ada_id: CURSOR}
    assert ack["version"] == 0  # not a document change
    after = database_state(app)
    # Only Cy's membership and the activity it caused: no state anywhere in the database.
    assert "dragging" not in repr(after)
    assert after["operations"] == before["operations"] == []


def test_a_new_state_replaces_the_old_and_null_clears_it(connect, room) -> None:
    session_id, ada, bob, ada_id = room
    set_state(ada, session_id, {"x": 1})
    set_state(ada, session_id, {"x": 2})
    assert join(connect(), session_id)["states"] == {ada_id: {"x": 2}}
    set_state(ada, session_id, None)
    assert [e["state"] for e in events(bob, "state")] == [{"x": 1}, {"x": 2}, None]
    assert join(connect(), session_id)["states"] == {}


@pytest.mark.parametrize("how", ["leave", "disconnect"])
def test_leaving_or_disconnecting_clears_the_state_and_the_room_hears_null(
    connect, room, how: str
) -> None:
    session_id, ada, bob, ada_id = room
    set_state(ada, session_id, CURSOR)
    events(bob, "state")
    if how == "leave":
        ada.emit("leave_session", {"session_id": session_id}, callback=True)
    else:
        ada.disconnect()
    assert events(bob, "state") == [{"session_id": session_id, "client_id": ada_id, "state": None}]
    assert join(connect(), session_id)["states"] == {}


def test_a_member_without_state_leaves_without_a_state_event(room) -> None:
    session_id, ada, bob, _ = room
    ada.emit("leave_session", {"session_id": session_id}, callback=True)
    assert events(bob, "state") == []


def test_an_ended_session_forgets_its_states(app, connect, room) -> None:
    session_id, ada, _, _ = room
    set_state(ada, session_id, CURSOR)
    app.test_client().delete(f"{SESSIONS}/{session_id}", headers=ADMIN)
    from backend import ephemeral

    with app.app_context():
        assert ephemeral.states().all(session_id) == {}


def test_a_signal_is_relayed_once_and_kept_nowhere(app, connect, room) -> None:
    session_id, ada, bob, ada_id = room
    before = database_state(app)
    assert signal(ada, session_id, "ping", {"at": [1, 2]}) == {"ok": True}
    assert events(bob, "signal") == [
        {"session_id": session_id, "client_id": ada_id, "event": "ping", "data": {"at": [1, 2]}}
    ]
    assert events(ada, "signal") == []
    assert signal(ada, session_id, "wave") == {"ok": True}
    assert events(bob, "signal")[0]["data"] is None
    assert join(connect(), session_id)["states"] == {}
    assert database_state(app)["operations"] == before["operations"]


def test_a_viewer_may_share_its_cursor(make_app, connect_to) -> None:
    app = make_app()
    session_id = create_session(app.test_client())
    minted = app.test_client().post(
        f"{SESSIONS}/{session_id}/tokens", json={"name": "Vi", "role": "viewer"}
    )
    viewer = connect_to(app)
    join(viewer, session_id, token=minted.get_json()["token"])
    assert set_state(viewer, session_id, {"x": 1}) == {"ok": True}
    assert signal(viewer, session_id, "hello") == {"ok": True}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"state": [1, 2]}, "state"),
        ({"state": "here"}, "state"),
        ({"state": {"big": "x" * 5000}}, "state"),
        ({"state": {"n": float("nan")}}, "state"),
        ({}, "state"),
        ({"state": {}, "extra": 1}, "extra"),
        ({"state": {}, "session_id": "not-a-session"}, "session_id"),
    ],
)
def test_a_bad_state_is_an_invalid_payload_and_changes_nothing(
    room, payload: dict, field: str
) -> None:
    session_id, ada, bob, _ = room
    ack = ada.emit("set_state", {"session_id": session_id, **payload}, callback=True)
    assert ack["error"]["code"] == "invalid_payload", ack
    details = ack["error"]["details"]
    assert field in details.get("fields", {}) or field in details.get("unknown_fields", [])
    assert events(bob, "state") == []


@pytest.mark.parametrize(
    "payload",
    [
        {"event": ""},
        {"event": "x" * 65},
        {"event": 5},
        {"event": "big", "data": "x" * 5000},
        {"data": {}},
    ],
)
def test_a_bad_signal_is_an_invalid_payload(room, payload: dict) -> None:
    session_id, ada, bob, _ = room
    ack = ada.emit("signal", {"session_id": session_id, **payload}, callback=True)
    assert ack["error"]["code"] == "invalid_payload", ack
    assert events(bob, "signal") == []


def test_the_size_limit_is_a_setting(make_app, connect_to) -> None:
    app = make_app(EPHEMERAL_MAX_BYTES=64)
    session_id = create_session(app.test_client())
    socket = connect_to(app)
    join(socket, session_id)
    assert set_state(socket, session_id, {"k": "x" * 40})["ok"] is True
    refused = set_state(socket, session_id, {"k": "x" * 80})
    assert "at most 64 bytes" in refused["error"]["details"]["fields"]["state"][0]


def test_only_members_may_set_state_or_signal(app, connect) -> None:
    session_id = create_session(app.test_client())
    outsider = connect()
    assert set_state(outsider, session_id, {"x": 1})["error"]["code"] == "not_joined"
    assert signal(outsider, session_id, "hi")["error"]["code"] == "not_joined"
    unknown = "00000000-0000-4000-8000-000000000000"
    assert set_state(outsider, unknown, {"x": 1})["error"]["code"] == "session_not_found"
