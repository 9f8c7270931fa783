"""Socket events a bad-input campaign got through: each is refused with an error ack and
changes nothing, and none can poison a session for the clients that come later."""

from __future__ import annotations

import json

import pytest
from flask import appcontext_pushed
from sqlalchemy import event

from backend.extensions import db
from backend.realtime.packets import UNDECODABLE_EVENT, GuardedPacket
from backend.schemas import MAX_JSON_DEPTH
from tests.helpers import create_session, database_state, events, join

SURROGATE = "bad \ud800 text"


def nested(depth: int) -> dict:
    """An object `depth` levels deep: {"k": {"k": ... {"leaf": 1}}}."""
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def operation(socket, session_id: str, op: dict) -> dict:
    return socket.emit("operation", {"session_id": session_id, "op": op}, callback=True)


def send_raw(socket, encoded: str) -> dict:
    """Hand the server an encoded packet as its Engine.IO layer would (the test client's own
    path), and return the ack it answered."""
    socket.socketio.server._handle_eio_message(socket.eio_sid, encoded)
    ack, socket.acks = socket.acks, None
    assert ack is not None, "no ack"
    return ack["args"][0]


def assert_refused(ack: dict, code: str) -> dict:
    assert ack["ok"] is False, ack
    assert ack["error"]["code"] == code, ack
    return ack["error"]


# --- a poisoned session ----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 600])
def test_props_nested_too_deep_are_refused(app, client, connect, depth) -> None:
    """600 deep decodes fine but could never be sent on: it was stored, then every later
    join to the session failed."""
    session_id = create_session(client)
    socket = connect()
    join(socket, session_id)
    before = database_state(app)
    op = {"type": "add_node", "node_id": "n", "props": nested(depth)}
    # Encoded by hand: the test client's own encoder would hit the recursion limit first.
    payload = json.dumps({"session_id": session_id, "op": op}, separators=(",", ":"))
    ack = send_raw(socket, '21["operation",' + payload + "]")
    error = assert_refused(ack, "invalid_payload")
    assert "props" in str(error["details"])
    assert database_state(app) == before


def test_the_deepest_allowed_props_still_broadcast_and_join(client, connect) -> None:
    session_id = create_session(client)
    ada, bob = connect(), connect()
    join(ada, session_id)
    join(bob, session_id)
    props = nested(MAX_JSON_DEPTH)
    ack = operation(ada, session_id, {"type": "add_node", "node_id": "deep", "props": props})
    assert ack["ok"] is True, ack
    [heard] = events(bob, "operation")
    assert heard["op"]["props"] == props
    later = join(connect(), session_id)
    assert later["ok"] is True
    assert later["document"]["nodes"] == [{"node_id": "deep", "props": props}]


# --- reserved event names --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["disconnect", "connect", "connect_error"])
def test_reserved_event_names_from_a_client_are_unknown_events(app, client, connect, name):
    session_id = create_session(client)
    socket = connect()
    join(socket, session_id)
    before = database_state(app)
    assert_refused(socket.emit(name, {"x": 1}, callback=True), "unknown_event")
    assert_refused(socket.emit(name, "client disconnect", callback=True), "unknown_event")
    assert socket.is_connected()
    assert database_state(app)["memberships"] == before["memberships"]
    assert client.get(f"/api/v1/sessions/{session_id}").json["active_clients"] == 1


def test_a_fake_connect_does_not_reset_the_rate_limiter(make_app, connect_to) -> None:
    app = make_app(SOCKET_RATE_LIMIT=2)  # bursts to 4
    socket = connect_to(app)
    for _ in range(4):
        socket.emit("ping_me", callback=True)
    assert_refused(socket.emit("connect", {}, callback=True), "rate_limited")
    assert_refused(socket.emit("ping_me", callback=True), "rate_limited")


# --- text and numbers ------------------------------------------------------------------------


def test_a_lone_surrogate_in_a_join_name_is_refused(app, client, connect) -> None:
    session_id = create_session(client)
    socket = connect()
    before = database_state(app)
    ack = join(socket, session_id, name=SURROGATE)
    assert "name" in assert_refused(ack, "invalid_payload")["details"]["fields"]
    assert database_state(app) == before


def test_a_lone_surrogate_in_the_auth_name_refuses_the_connection(connect) -> None:
    assert not connect({"name": SURROGATE}).is_connected()


@pytest.mark.parametrize(
    "op",
    [
        {"type": "add_node", "node_id": SURROGATE},
        {"type": "add_node", "node_id": "n", "props": {"text": SURROGATE}},
        {"type": "add_node", "node_id": "n", "props": {SURROGATE: 1}},
    ],
)
def test_a_lone_surrogate_in_an_operation_is_refused(app, client, connect, op) -> None:
    session_id = create_session(client)
    socket = connect()
    join(socket, session_id)
    before = database_state(app)
    assert_refused(operation(socket, session_id, op), "invalid_payload")
    assert database_state(app) == before


def test_an_integer_no_column_holds_is_refused(app, client, connect) -> None:
    session_id = create_session(client)
    socket = connect()
    before = database_state(app)
    ack = join(socket, session_id, since_version=2**63)
    assert "since_version" in assert_refused(ack, "invalid_payload")["details"]["fields"]
    assert database_state(app) == before


@pytest.mark.parametrize(
    ("encoded", "reason"),
    [
        ('27["join_session",{"since_version":' + "9" * 5000 + "}]", "too long"),
        ('28["operation",' + "[" * 5000 + "]" * 5000 + "]", "too deeply"),
        ('29["join_session",{"session_id":', "not valid JSON"),
    ],
)
def test_a_packet_whose_json_cannot_be_decoded_keeps_its_ack_id(encoded, reason) -> None:
    packet = GuardedPacket(encoded_packet=encoded)
    assert packet.id == int(encoded[1])
    event_name, message = packet.data
    assert event_name is UNDECODABLE_EVENT
    assert reason in message


@pytest.mark.parametrize(
    ("encoded", "reason"),
    [
        ('21["join_session",{"since_version":' + "9" * 5000 + "}]", "too long"),
        ('22["operation",' + "[" * 5000 + "]" * 5000 + "]", "too deeply"),
        ('23["undo",{"session_id": nope}]', "not valid JSON"),
        ('51-4["operation",{"_placeholder":true,"num":0},' + "9" * 5000 + "]", "too long"),
    ],
)
def test_an_undecodable_packet_is_answered_invalid_payload(app, connect, encoded, reason):
    socket = connect()
    before = database_state(app)
    error = assert_refused(send_raw(socket, encoded), "invalid_payload")
    assert reason in error["message"]
    assert database_state(app) == before
    assert socket.is_connected()


# --- the ended session and the flood ---------------------------------------------------------


def test_an_operation_on_an_ended_session_says_session_ended(client, connect) -> None:
    from tests.conftest import ADMIN

    session_id = create_session(client)
    socket = connect()
    client.delete(f"/api/v1/sessions/{session_id}", headers=ADMIN)
    ack = operation(socket, session_id, {"type": "add_node", "node_id": "n"})
    assert_refused(ack, "session_ended")


def test_a_refused_event_touches_neither_flask_nor_the_database(make_app, connect_to) -> None:
    """A flooding client must cost the others next to nothing: no app context, no query."""
    app = make_app(SOCKET_RATE_LIMIT=1)  # bursts to 2
    session_id = create_session(app.test_client())
    socket = connect_to(app)
    for _ in range(2):
        join(socket, session_id)
    statements: list[str] = []
    pushes: list[object] = []

    def count_statement(*args: object) -> None:
        statements.append(str(args[2]))

    def count_push(sender: object, **extra: object) -> None:
        pushes.append(sender)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count_statement)
    appcontext_pushed.connect(count_push, app)
    try:
        acks = [join(socket, session_id) for _ in range(1)]
    finally:
        event.remove(engine, "before_cursor_execute", count_statement)
        appcontext_pushed.disconnect(count_push, app)
    assert [ack["error"]["code"] for ack in acks] == ["rate_limited"]
    assert statements == []
    assert pushes == []


def test_an_undecodable_ack_from_a_client_is_dropped(app, connect) -> None:
    """The server never asks a client for an ack, so one it cannot decode is simply dropped."""
    socket = connect()
    before = database_state(app)
    socket.socketio.server._handle_eio_message(socket.eio_sid, "37[" + "[" * 5000)
    assert socket.acks is None
    assert socket.is_connected()
    assert database_state(app) == before
