"""The shared document over Socket.IO and REST: operations, undo/redo, compaction, catch-up."""

from __future__ import annotations

import copy
import json
import uuid

import pytest
from sqlalchemy import select

from backend.extensions import db
from backend.models import Operation
from backend.schemas import PROPS_MAX_BYTES
from tests.conftest import ADMIN
from tests.helpers import create_session, events, join

UNKNOWN_ID = "6f1c1f0e-6c0b-4d53-9a53-1d3c7d3a0b11"


def send(socket, session_id, op):
    return socket.emit("operation", {"session_id": session_id, "op": op}, callback=True)


def add(socket, session_id, node_id, **props):
    return send(socket, session_id, {"type": "add_node", "node_id": node_id, "props": props})


def update(socket, session_id, node_id, **props):
    return send(socket, session_id, {"type": "update_node", "node_id": node_id, "props": props})


def delete(socket, session_id, node_id):
    return send(socket, session_id, {"type": "delete_node", "node_id": node_id})


def undo(socket, session_id):
    return socket.emit("undo", {"session_id": session_id}, callback=True)


def redo(socket, session_id):
    return socket.emit("redo", {"session_id": session_id}, callback=True)


def ok(ack):
    assert ack["ok"] is True, ack
    return ack


def error_code(ack) -> str:
    assert ack["ok"] is False, ack
    return ack["error"]["code"]


def document(client, session_id):
    response = client.get(f"/api/v1/sessions/{session_id}/document")
    assert response.status_code == 200, response.json
    return response.json


def nodes(client, session_id) -> dict:
    return {node["node_id"]: node["props"] for node in document(client, session_id)["nodes"]}


def detail(client, session_id):
    return client.get(f"/api/v1/sessions/{session_id}").json


def info(client, session_id):
    return client.get(f"/api/v1/sessions/{session_id}/info").json


def history_flags(body) -> tuple[bool, bool]:
    return body["undo_available"], body["redo_available"]


def log_versions(app, session_id) -> list[int]:
    with app.app_context():
        query = select(Operation.version).where(Operation.session_id == session_id)
        versions = list(db.session.scalars(query.order_by(Operation.version)))
        db.session.remove()
        return versions


def state(app, client, session_id):
    """Everything a rejected event must leave alone: the document, its version and the log."""
    return document(client, session_id), log_versions(app, session_id)


def open_room(client, opener, names=("Ada", "Bob")):
    """A new session joined by one socket per name, their inboxes emptied; also returns the
    `{client_id, name}` the others are told for each socket."""
    session_id = create_session(client)
    sockets, authors = [], []
    for name in names:
        socket = opener({"name": name})
        ack = ok(join(socket, session_id))
        [me] = [c for c in ack["clients"] if c["name"] == name]
        sockets.append(socket)
        authors.append({"client_id": me["client_id"], "name": name})
    for socket in sockets:
        socket.get_received()
    return session_id, sockets, authors


def apply_op(doc: dict, op: dict) -> dict:
    """What a client does with an `operation` it hears, following DESIGN section 5."""
    doc = copy.deepcopy(doc)
    props = op.get("props") or {}
    if op["type"] == "add_node":
        assert op["node_id"] not in doc
        doc[op["node_id"]] = {k: v for k, v in props.items() if v is not None}
    elif op["type"] == "delete_node":
        del doc[op["node_id"]]
    else:
        merged = {**doc[op["node_id"]], **props}
        doc[op["node_id"]] = {k: v for k, v in merged.items() if v is not None}
    return doc


def props_of_length(length: int, key: str = "k") -> dict:
    """Props whose compact JSON is exactly `length` bytes."""
    overhead = len(json.dumps({key: ""}, separators=(",", ":")))
    props = {key: "x" * (length - overhead)}
    assert len(json.dumps(props, separators=(",", ":"))) == length
    return props


# --- operations ----------------------------------------------------------------------------


def test_an_operation_is_acked_and_told_to_everyone_else(client, connect) -> None:
    session_id, (ada, bob, cy), (ada_is, _, _) = open_room(client, connect, ("Ada", "Bob", "Cy"))
    op = {"type": "add_node", "node_id": "n1", "props": {"x": 1}}
    assert send(ada, session_id, op) == {"ok": True, "version": 1}
    told = {"session_id": session_id, "version": 1, "op": op, "client": ada_is}
    assert events(bob, "operation") == [told]
    assert events(cy, "operation") == [told]
    assert events(ada, "operation") == []
    assert document(client, session_id) == {
        "version": 1,
        "nodes": [{"node_id": "n1", "props": {"x": 1}}],
    }


def test_versions_go_up_by_one_per_session(client, connect) -> None:
    first, (ada, bob), _ = open_room(client, connect)
    second = create_session(client)
    ok(join(ada, second))
    assert [add(ada, first, f"n{i}")["version"] for i in range(3)] == [1, 2, 3]
    assert add(bob, first, "from-bob")["version"] == 4
    assert add(ada, second, "n0")["version"] == 1
    assert update(ada, first, "n0", a=1)["version"] == 5
    assert delete(bob, first, "n1")["version"] == 6
    assert document(client, first)["version"] == 6
    assert document(client, second)["version"] == 1
    assert [e["version"] for e in events(bob, "operation")] == [1, 2, 3, 5]


def test_add_node_drops_null_props_and_may_have_none(client, connect) -> None:
    session_id, (ada, _), _ = open_room(client, connect)
    ok(add(ada, session_id, "a", colour="red", size=None))
    ok(send(ada, session_id, {"type": "add_node", "node_id": "b"}))
    assert nodes(client, session_id) == {"a": {"colour": "red"}, "b": {}}


def test_update_merges_shallowly_and_null_removes_a_key(client, connect) -> None:
    session_id, (ada, _), _ = open_room(client, connect)
    ok(add(ada, session_id, "n", a=1, style={"colour": "red", "width": 2}, tags=["x"]))
    ok(update(ada, session_id, "n", style={"colour": "blue"}, b=2))
    assert nodes(client, session_id) == {
        "n": {"a": 1, "style": {"colour": "blue"}, "tags": ["x"], "b": 2}
    }
    ok(update(ada, session_id, "n", a=None, tags=None, missing=None))
    assert nodes(client, session_id) == {"n": {"style": {"colour": "blue"}, "b": 2}}


def test_last_writer_wins_per_key(client, connect) -> None:
    session_id, (ada, bob), _ = open_room(client, connect)
    ok(add(ada, session_id, "n"))
    ok(update(ada, session_id, "n", colour="red", size=1))
    ok(update(bob, session_id, "n", colour="blue"))
    assert nodes(client, session_id) == {"n": {"colour": "blue", "size": 1}}


def test_delete_node_removes_it(client, connect) -> None:
    session_id, (ada, bob), _ = open_room(client, connect)
    ok(add(ada, session_id, "keep", a=1))
    ok(add(ada, session_id, "gone", a=2))
    assert delete(bob, session_id, "gone") == {"ok": True, "version": 3}
    assert nodes(client, session_id) == {"keep": {"a": 1}}


def test_a_node_id_of_128_characters_is_accepted(client, connect) -> None:
    session_id, (ada, _), _ = open_room(client, connect)
    ok(add(ada, session_id, "n" * 128))
    assert nodes(client, session_id) == {"n" * 128: {}}


def test_props_up_to_the_limit_are_accepted(client, connect) -> None:
    session_id, (ada, _), _ = open_room(client, connect)
    big = props_of_length(PROPS_MAX_BYTES)
    ok(add(ada, session_id, "n", **big))
    assert nodes(client, session_id) == {"n": big}


def test_merged_props_up_to_the_limit_are_accepted(client, connect) -> None:
    session_id, (ada, _), _ = open_room(client, connect)
    ok(add(ada, session_id, "n", a="x" * 40_000))
    rest = PROPS_MAX_BYTES - len(json.dumps({"a": "x" * 40_000, "b": ""}, separators=(",", ":")))
    ok(update(ada, session_id, "n", b="y" * rest))
    ok(update(ada, session_id, "n", b=None, c="z" * rest))  # null frees room before the check
    assert nodes(client, session_id) == {"n": {"a": "x" * 40_000, "c": "z" * rest}}


def test_the_document_lists_nodes_ordered_by_node_id(client, connect) -> None:
    session_id, (ada, _), _ = open_room(client, connect)
    ids = ["b", "B", "a", "10", "9", "a-1", "_z", "A"]
    for index, node_id in enumerate(ids):
        ok(add(ada, session_id, node_id, i=index))
    body = document(client, session_id)
    assert body["version"] == len(ids)
    assert [node["node_id"] for node in body["nodes"]] == sorted(ids)
    assert all(set(node) == {"node_id", "props"} for node in body["nodes"])
    assert body["nodes"][0] == {"node_id": "10", "props": {"i": 3}}


def test_detail_and_info_report_node_count_and_version(client, connect) -> None:
    session_id, (ada, _), _ = open_room(client, connect)
    assert detail(client, session_id)["node_count"] == 0
    for node_id in ("a", "b", "c"):
        ok(add(ada, session_id, node_id))
    ok(update(ada, session_id, "a", x=1))
    ok(delete(ada, session_id, "b"))
    body = detail(client, session_id)
    assert (body["version"], body["node_count"]) == (5, 2)
    assert info(client, session_id)["node_count"] == 2
    assert set(info(client, session_id)) == {
        "session_id",
        "metadata",
        "project_id",
        "node_count",
        "undo_available",
        "redo_available",
    }


def test_a_document_of_an_unknown_session_is_not_found(client) -> None:
    response = client.get(f"/api/v1/sessions/{UNKNOWN_ID}/document")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "session_not_found"


# --- operations that do not apply ------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "op", "reason"),
    [
        (
            [{"type": "add_node", "node_id": "n"}],
            {"type": "add_node", "node_id": "n"},
            "node_exists",
        ),
        (
            [{"type": "add_node", "node_id": "n", "props": {"a": 1}}],
            {"type": "add_node", "node_id": "n", "props": {"a": 2}},
            "node_exists",
        ),
        ([], {"type": "update_node", "node_id": "n", "props": {"a": 1}}, "node_not_found"),
        ([], {"type": "delete_node", "node_id": "n"}, "node_not_found"),
        (
            [{"type": "add_node", "node_id": "n"}, {"type": "delete_node", "node_id": "n"}],
            {"type": "delete_node", "node_id": "n"},
            "node_not_found",
        ),
        (
            [{"type": "add_node", "node_id": "n", "props": {"a": "x" * 40_000}}],
            {"type": "update_node", "node_id": "n", "props": {"b": "y" * 30_000}},
            "props_too_large",
        ),
    ],
    ids=[
        "add-existing",
        "add-existing-other-props",
        "update-missing",
        "delete-missing",
        "delete-deleted",
        "merged-props-too-large",
    ],
)
def test_an_operation_that_does_not_apply_changes_nothing(
    app, client, connect, setup, op, reason
) -> None:
    session_id, (ada, bob), _ = open_room(client, connect)
    for earlier in setup:
        ok(send(ada, session_id, earlier))
    bob.get_received()
    before = state(app, client, session_id)
    ack = send(ada, session_id, op)
    assert error_code(ack) == "invalid_operation"
    assert ack["error"]["details"]["reason"] == reason
    assert ack["error"]["details"]["node_id"] == "n"
    assert state(app, client, session_id) == before
    assert events(bob, "operation") == []
    assert add(ada, session_id, "next")["version"] == len(setup) + 1  # no version was used up


def test_a_rejected_operation_still_counts_as_activity(client, connect, clock) -> None:
    """DESIGN 5: every event counts as activity, a refused one too."""
    session_id, (ada, _), _ = open_room(client, connect)
    ok(add(ada, session_id, "n"))
    refused_at = clock.advance(seconds=30)
    assert error_code(delete(ada, session_id, "missing")) == "invalid_operation"
    assert detail(client, session_id)["last_activity"] == refused_at.isoformat()


@pytest.mark.parametrize("event", ["undo", "redo"])
def test_a_refused_undo_or_redo_still_counts_as_activity(client, connect, clock, event) -> None:
    session_id, (ada, _), _ = open_room(client, connect)
    refused_at = clock.advance(seconds=30)
    ack = ada.emit(event, {"session_id": session_id}, callback=True)
    assert error_code(ack) == f"nothing_to_{event}"
    assert detail(client, session_id)["last_activity"] == refused_at.isoformat()


# --- payloads that are not valid -------------------------------------------------------------

TOO_BIG = props_of_length(PROPS_MAX_BYTES + 1)


def with_op(**op):
    return lambda session_id: {"session_id": session_id, "op": op}


BAD_PAYLOADS = {
    "a string": lambda session_id: "a string",
    "a number": lambda session_id: 7,
    "a list": lambda session_id: [session_id],
    "null": lambda session_id: None,
    "op missing": lambda session_id: {"session_id": session_id},
    "op a string": lambda session_id: {"session_id": session_id, "op": "add_node"},
    "op a list": lambda session_id: {"session_id": session_id, "op": ["add_node", "new"]},
    "op null": lambda session_id: {"session_id": session_id, "op": None},
    "type missing": with_op(node_id="new"),
    "type unknown": with_op(type="move_node", node_id="n"),
    "type not a string": with_op(type=1, node_id="new"),
    "node_id missing": with_op(type="add_node"),
    "node_id empty": with_op(type="add_node", node_id=""),
    "node_id 129 chars": with_op(type="add_node", node_id="n" * 129),
    "node_id a number": with_op(type="add_node", node_id=5),
    "node_id null": with_op(type="add_node", node_id=None),
    "node_id a list": with_op(type="add_node", node_id=["new"]),
    "props a string": with_op(type="add_node", node_id="new", props="x"),
    "props a list": with_op(type="add_node", node_id="new", props=[1]),
    "props a number": with_op(type="add_node", node_id="new", props=5),
    "props null": with_op(type="add_node", node_id="new", props=None),
    "update props a list": with_op(type="update_node", node_id="n", props=["a"]),
    "add props too large": with_op(type="add_node", node_id="new", props=TOO_BIG),
    "update props too large": with_op(type="update_node", node_id="n", props=TOO_BIG),
    "update without props": with_op(type="update_node", node_id="n"),
    "update with empty props": with_op(type="update_node", node_id="n", props={}),
    "delete with props": with_op(type="delete_node", node_id="n", props={"a": 1}),
    "delete with empty props": with_op(type="delete_node", node_id="n", props={}),
    "unknown field in op": with_op(type="add_node", node_id="new", colour="red"),
    "unknown field in payload": lambda session_id: {
        "session_id": session_id,
        "op": {"type": "add_node", "node_id": "new"},
        "extra": 1,
    },
    "session_id not a uuid": lambda session_id: {
        "session_id": "not-a-uuid",
        "op": {"type": "add_node", "node_id": "new"},
    },
    "session_id a number": lambda session_id: {
        "session_id": 42,
        "op": {"type": "add_node", "node_id": "new"},
    },
    "session_id a uuid1": lambda session_id: {
        "session_id": str(uuid.uuid1()),
        "op": {"type": "add_node", "node_id": "new"},
    },
    "session_id missing": lambda session_id: {"op": {"type": "add_node", "node_id": "new"}},
}


@pytest.mark.parametrize("make_payload", BAD_PAYLOADS.values(), ids=BAD_PAYLOADS.keys())
def test_a_bad_operation_payload_changes_nothing(app, client, connect, make_payload) -> None:
    session_id, (ada, bob), _ = open_room(client, connect)
    ok(add(ada, session_id, "n", a=1))
    bob.get_received()
    before = state(app, client, session_id)
    ack = ada.emit("operation", make_payload(session_id), callback=True)
    assert error_code(ack) == "invalid_payload"
    assert state(app, client, session_id) == before
    assert events(bob, "operation") == []


def test_bad_payloads_say_what_is_wrong(client, connect) -> None:
    session_id, (ada, _), _ = open_room(client, connect)
    extra = {"session_id": session_id, "op": {"type": "add_node", "node_id": "n"}, "extra": 1}
    ack = ada.emit("operation", extra, callback=True)
    assert ack["error"]["details"]["unknown_fields"] == ["extra"]
    ack = send(ada, session_id, {"type": "update_node", "node_id": "n"})
    assert "props" in ack["error"]["details"]["fields"]["op"]
    ack = send(ada, session_id, {"type": "add_node", "node_id": ""})
    assert "node_id" in ack["error"]["details"]["fields"]["op"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_props_with_a_number_json_cannot_carry_are_refused(app, client, connect, value) -> None:
    """python-socketio clients can send NaN and Infinity (Python's json allows them); JSON has
    no such numbers, so storing one breaks PostgreSQL and every reader of the document."""
    session_id, (ada, bob), _ = open_room(client, connect)
    ok(add(ada, session_id, "n", a=1))
    bob.get_received()
    before = state(app, client, session_id)
    ack = update(ada, session_id, "n", deep={"value": value})
    assert error_code(ack) == "invalid_payload"
    assert state(app, client, session_id) == before
    assert events(bob, "operation") == []


def test_no_payload_or_two_payloads_are_refused(client, connect) -> None:
    session_id, (ada, _), _ = open_room(client, connect)
    assert error_code(ada.emit("operation", callback=True)) == "invalid_payload"
    op = {"session_id": session_id, "op": {"type": "add_node", "node_id": "n"}}
    assert error_code(ada.emit("operation", op, op, callback=True)) == "invalid_payload"
    assert document(client, session_id)["version"] == 0


# --- who may change which session --------------------------------------------------------------


def test_an_operation_needs_a_joined_session(app, client, connect) -> None:
    session_id, (ada, bob), _ = open_room(client, connect)
    outsider = connect({"name": "Eve"})
    other = create_session(client)
    before = state(app, client, session_id)
    assert error_code(add(outsider, session_id, "n")) == "not_joined"
    assert error_code(add(ada, other, "n")) == "not_joined"
    ok(ada.emit("leave_session", {"session_id": session_id}, callback=True))
    assert error_code(add(ada, session_id, "n")) == "not_joined"
    for event in ("undo", "redo"):
        payload = {"session_id": session_id}
        assert error_code(outsider.emit(event, payload, callback=True)) == "not_joined"
    assert state(app, client, session_id) == before
    assert document(client, other)["version"] == 0
    assert events(bob, "operation") == []


def test_an_operation_on_an_unknown_session(connect) -> None:
    socket = connect()
    assert error_code(add(socket, UNKNOWN_ID, "n")) == "session_not_found"
    for event in ("undo", "redo"):
        payload = {"session_id": UNKNOWN_ID}
        assert error_code(socket.emit(event, payload, callback=True)) == "session_not_found"


def test_an_ended_session_refuses_changes(app, client, connect) -> None:
    session_id, (ada, bob), _ = open_room(client, connect)
    ok(add(ada, session_id, "n", a=1))
    ok(update(ada, session_id, "n", a=2))
    ok(undo(ada, session_id))
    assert client.delete(f"/api/v1/sessions/{session_id}", headers=ADMIN).status_code == 200
    bob.get_received()
    before = state(app, client, session_id)
    refused = add(ada, session_id, "m")
    assert refused["error"]["details"] == {"session_id": session_id, "end_reason": "ended_by_admin"}
    assert error_code(update(ada, session_id, "n", a=3)) == "session_ended"
    assert error_code(undo(ada, session_id)) == "session_ended"
    assert error_code(redo(bob, session_id)) == "session_ended"
    assert state(app, client, session_id) == before
    assert events(bob, "operation") == []


def test_a_session_past_its_ttl_refuses_changes_before_the_sweep(
    app, client, connect, clock
) -> None:
    session_id = create_session(client, ttl_seconds=60)
    ada, bob = connect({"name": "Ada"}), connect({"name": "Bob"})
    ok(join(ada, session_id))
    ok(join(bob, session_id))
    ok(add(ada, session_id, "n", a=1))
    ok(update(ada, session_id, "n", a=2))
    ok(undo(ada, session_id))
    bob.get_received()
    clock.advance(seconds=61)
    assert detail(client, session_id)["is_active"] is True
    before = state(app, client, session_id)
    refused = add(ada, session_id, "m")
    assert refused["error"]["details"] == {"session_id": session_id, "end_reason": "ttl_expired"}
    assert error_code(delete(bob, session_id, "n")) == "session_ended"
    assert error_code(undo(ada, session_id)) == "session_ended"
    assert error_code(redo(ada, session_id)) == "session_ended"
    assert state(app, client, session_id) == before
    assert events(bob, "operation") == []


BAD_HISTORY_PAYLOADS = {
    "a string": lambda session_id: "a string",
    "null": lambda session_id: None,
    "a list": lambda session_id: [session_id],
    "session_id missing": lambda session_id: {},
    "session_id not a uuid": lambda session_id: {"session_id": "not-a-uuid"},
    "session_id a number": lambda session_id: {"session_id": 42},
    "unknown field": lambda session_id: {"session_id": session_id, "steps": 2},
}


@pytest.mark.parametrize("event", ["undo", "redo"])
@pytest.mark.parametrize(
    "make_payload", BAD_HISTORY_PAYLOADS.values(), ids=BAD_HISTORY_PAYLOADS.keys()
)
def test_undo_and_redo_refuse_bad_payloads(app, client, connect, event, make_payload) -> None:
    session_id, (ada, bob), _ = open_room(client, connect)
    ok(add(ada, session_id, "n", a=1))
    ok(update(ada, session_id, "n", a=2))
    ok(undo(ada, session_id))
    bob.get_received()
    before = state(app, client, session_id)
    ack = ada.emit(event, make_payload(session_id), callback=True)
    assert error_code(ack) == "invalid_payload"
    assert state(app, client, session_id) == before
    assert events(bob, "operation") == []


# --- undo and redo -----------------------------------------------------------------------------


def test_undo_answers_what_it_applied_and_the_room_hears_it(app, client, connect) -> None:
    session_id, (ada, bob), (_, bob_is) = open_room(client, connect)
    ok(add(ada, session_id, "n", a=1))
    bob.get_received()
    ack = undo(bob, session_id)
    assert ack == {"ok": True, "version": 2, "op": {"type": "delete_node", "node_id": "n"}}
    assert events(ada, "operation") == [
        {"session_id": session_id, "version": 2, "op": ack["op"], "client": bob_is}
    ]
    assert events(bob, "operation") == []
    assert document(client, session_id) == {"version": 2, "nodes": []}
    assert log_versions(app, session_id) == [1, 2]


def test_one_shared_history_undo_reverts_someone_elses_newest_change(client, connect) -> None:
    session_id, (ada, bob), (_, bob_is) = open_room(client, connect)
    ok(add(bob, session_id, "mine", a=1))
    ok(add(ada, session_id, "n", colour="red"))
    ok(update(ada, session_id, "n", colour="blue"))
    ada.get_received()
    ack = ok(undo(bob, session_id))
    assert ack["version"] == 4
    assert nodes(client, session_id) == {"mine": {"a": 1}, "n": {"colour": "red"}}
    [heard] = events(ada, "operation")
    assert heard["client"] == bob_is and heard["op"] == ack["op"]


def test_undo_of_a_delete_restores_the_node_with_all_its_props(client, connect) -> None:
    session_id, (ada, bob), _ = open_room(client, connect)
    props = {"label": "Box", "style": {"colour": "red", "width": 2}, "tags": ["a", "b"], "n": 0}
    ok(add(ada, session_id, "box", **props))
    ok(update(ada, session_id, "box", extra=True))
    ok(delete(ada, session_id, "box"))
    ack = ok(undo(bob, session_id))
    assert ack["op"] == {"type": "add_node", "node_id": "box", "props": {**props, "extra": True}}
    assert nodes(client, session_id) == {"box": {**props, "extra": True}}


def test_undo_of_an_update_restores_old_values_and_removes_added_keys(client, connect) -> None:
    session_id, (ada, bob), _ = open_room(client, connect)
    ok(add(ada, session_id, "n", a=1, b={"x": 1}, c="keep", gone="soon"))
    before = nodes(client, session_id)
    ok(update(ada, session_id, "n", a=2, b={"y": 2}, added="new", gone=None))
    assert nodes(client, session_id) == {"n": {"a": 2, "b": {"y": 2}, "c": "keep", "added": "new"}}
    bob.get_received()
    ack = ok(undo(bob, session_id))
    assert nodes(client, session_id) == before
    assert ack["op"]["type"] == "update_node" and ack["op"]["node_id"] == "n"
    # the op answered (and broadcast) is what was applied: replaying it gives the same document
    after_update = {"n": {"a": 2, "b": {"y": 2}, "c": "keep", "added": "new"}}
    assert apply_op(after_update, ack["op"]) == before


def test_undo_then_redo_gives_back_the_same_document(client, connect) -> None:
    session_id, (ada, bob), _ = open_room(client, connect)
    ok(add(ada, session_id, "a", x=1))
    ok(add(bob, session_id, "b", y=[1, 2]))
    ok(update(ada, session_id, "a", x=None, z={"deep": True}))
    before = document(client, session_id)
    seen = {n["node_id"]: n["props"] for n in before["nodes"]}
    undone = ok(undo(bob, session_id))
    assert nodes(client, session_id) == {"a": {"x": 1}, "b": {"y": [1, 2]}}
    redone = ok(redo(ada, session_id))
    assert redone["version"] == undone["version"] + 1 == 5
    assert redone["op"] == {
        "type": "update_node",
        "node_id": "a",
        "props": {"x": None, "z": {"deep": True}},
    }
    assert document(client, session_id) == {"version": 5, "nodes": before["nodes"]}
    assert apply_op(apply_op(seen, undone["op"]), redone["op"]) == seen


def test_two_undos_then_two_redos_reapply_the_last_undone_first(client, connect) -> None:
    session_id, (ada, bob), _ = open_room(client, connect)
    ok(add(ada, session_id, "n", v=1))
    ok(update(ada, session_id, "n", v=2, w=1))
    ok(add(ada, session_id, "m"))
    ok(undo(ada, session_id))
    first = ok(undo(bob, session_id))
    second = ok(undo(ada, session_id))
    assert first["op"] == {"type": "update_node", "node_id": "n", "props": {"v": 1, "w": None}}
    assert second["op"] == {"type": "delete_node", "node_id": "n"}
    assert nodes(client, session_id) == {}
    ok(redo(ada, session_id))  # the add came back, not the update
    assert nodes(client, session_id) == {"n": {"v": 1}}
    ok(redo(bob, session_id))
    assert nodes(client, session_id) == {"n": {"v": 2, "w": 1}}
    ok(redo(ada, session_id))
    assert nodes(client, session_id) == {"n": {"v": 2, "w": 1}, "m": {}}
    assert error_code(redo(ada, session_id)) == "nothing_to_redo"


def test_a_new_operation_clears_redo(app, client, connect) -> None:
    session_id, (ada, bob), _ = open_room(client, connect)
    ok(add(ada, session_id, "n", v=1))
    ok(update(ada, session_id, "n", v=2))
    ok(undo(ada, session_id))
    assert history_flags(info(client, session_id)) == (True, True)
    ok(add(bob, session_id, "m"))
    assert history_flags(info(client, session_id)) == (True, False)
    ada.get_received()
    before = state(app, client, session_id)
    ack = redo(bob, session_id)
    assert error_code(ack) == "nothing_to_redo"
    assert state(app, client, session_id) == before
    assert events(ada, "operation") == []
    ok(undo(ada, session_id))  # undo still walks back the history that stayed
    assert nodes(client, session_id) == {"n": {"v": 1}}


def test_a_fresh_session_has_nothing_to_undo_or_redo(app, client, connect) -> None:
    session_id, (ada, bob), _ = open_room(client, connect)
    before = state(app, client, session_id)
    assert error_code(undo(ada, session_id)) == "nothing_to_undo"
    assert error_code(redo(ada, session_id)) == "nothing_to_redo"
    assert state(app, client, session_id) == before == ({"version": 0, "nodes": []}, [])
    assert events(bob, "operation") == []
    assert add(ada, session_id, "n")["version"] == 1


def test_undo_goes_back_at_most_undo_depth_changes(make_app, connect_to) -> None:
    app = make_app(UNDO_DEPTH=3)
    client = app.test_client()
    session_id, (ada, bob), _ = open_room(client, lambda auth: connect_to(app, auth))
    ok(add(ada, session_id, "n", v=1))
    for value in range(2, 6):
        ok(update(ada, session_id, "n", v=value))
    for _ in range(3):
        ok(undo(bob, session_id))
    assert nodes(client, session_id) == {"n": {"v": 2}}
    assert history_flags(info(client, session_id)) == (False, True)
    before = state(app, client, session_id)
    assert error_code(undo(bob, session_id)) == "nothing_to_undo"
    assert state(app, client, session_id) == before
    for _ in range(3):
        ok(redo(ada, session_id))
    assert nodes(client, session_id) == {"n": {"v": 5}}
    assert error_code(redo(ada, session_id)) == "nothing_to_redo"


def test_undo_and_redo_availability_follow_the_log_and_survive_a_restart(
    make_app, connect_to
) -> None:
    app = make_app()
    client = app.test_client()
    session_id, (ada, _), _ = open_room(client, lambda auth: connect_to(app, auth))

    def flags(client):
        assert history_flags(detail(client, session_id)) == history_flags(info(client, session_id))
        return history_flags(info(client, session_id))

    assert flags(client) == (False, False)
    ok(add(ada, session_id, "n", v=1))
    assert flags(client) == (True, False)
    ok(update(ada, session_id, "n", v=2))
    ok(undo(ada, session_id))
    assert flags(client) == (True, True)
    ok(undo(ada, session_id))
    assert flags(client) == (False, True)
    ok(redo(ada, session_id))
    assert flags(client) == (True, True)

    restarted = make_app()
    again = restarted.test_client()
    assert flags(again) == (True, True)
    assert detail(again, session_id)["version"] == 5
    assert detail(again, session_id)["node_count"] == 1
    socket = connect_to(restarted, {"name": "Cy"})
    ok(join(socket, session_id))
    ok(redo(socket, session_id))
    assert flags(again) == (True, False)
    assert nodes(again, session_id) == {"n": {"v": 2}}
    ok(undo(socket, session_id))
    ok(undo(socket, session_id))
    assert flags(again) == (False, True)
    assert nodes(client, session_id) == {}


def test_each_undo_and_redo_is_a_new_version_in_the_log(app, client, connect) -> None:
    session_id, (ada, _), _ = open_room(client, connect)
    ok(add(ada, session_id, "n"))
    assert ok(undo(ada, session_id))["version"] == 2
    assert ok(redo(ada, session_id))["version"] == 3
    assert log_versions(app, session_id) == [1, 2, 3]
    assert detail(client, session_id)["version"] == 3


# --- compaction --------------------------------------------------------------------------------


def test_the_log_is_compacted_but_undo_still_reaches_its_depth(make_app, connect_to) -> None:
    app = make_app(OPLOG_MAX=5, UNDO_DEPTH=2)
    client = app.test_client()
    session_id, (ada, bob), _ = open_room(client, lambda auth: connect_to(app, auth))
    other, _, _ = open_room(client, lambda auth: connect_to(app, auth), ("Cy",))
    ok(add(ada, session_id, "n", v=0))
    for value in range(1, 12):
        ok(update(ada, session_id, "n", v=value))
    assert document(client, session_id)["version"] == 12
    assert len(log_versions(app, session_id)) <= 5
    assert log_versions(app, session_id)[-1] == 12
    ok(undo(bob, session_id))
    ok(undo(ada, session_id))
    assert nodes(client, session_id) == {"n": {"v": 9}}
    assert len(log_versions(app, session_id)) <= 5
    assert error_code(undo(ada, session_id)) == "nothing_to_undo"
    ok(redo(ada, session_id))
    ok(redo(bob, session_id))
    assert nodes(client, session_id) == {"n": {"v": 11}}
    assert log_versions(app, other) == []


# --- catch-up ----------------------------------------------------------------------------------


def build_history(client, connect):
    """A session at version 7 with ops, an undo and a redo in its log, and the document as it
    was at version 3."""
    session_id, (ada, bob), (ada_is, bob_is) = open_room(client, connect)
    ok(add(ada, session_id, "a", x=1))
    ok(add(bob, session_id, "b", y=2))
    ok(update(ada, session_id, "a", x=None, z=3))
    at_three = nodes(client, session_id)
    ok(delete(bob, session_id, "b"))
    ok(undo(ada, session_id))
    ok(redo(bob, session_id))
    ok(add(ada, session_id, "c"))
    return session_id, at_three, ada_is, bob_is


def test_join_since_a_version_gets_the_ops_after_it_in_order(client, connect) -> None:
    session_id, at_three, ada_is, bob_is = build_history(client, connect)
    ack = ok(join(connect({"name": "Cy"}), session_id, since_version=3))
    assert "document" not in ack
    assert ack["version"] == 7
    assert ack["ops"] == [
        {"version": 4, "op": {"type": "delete_node", "node_id": "b"}, "client": bob_is},
        {
            "version": 5,
            "op": {"type": "add_node", "node_id": "b", "props": {"y": 2}},
            "client": ada_is,
        },
        {"version": 6, "op": {"type": "delete_node", "node_id": "b"}, "client": bob_is},
        {"version": 7, "op": {"type": "add_node", "node_id": "c", "props": {}}, "client": ada_is},
    ]
    replayed = at_three
    for entry in ack["ops"]:
        replayed = apply_op(replayed, entry["op"])
    assert replayed == nodes(client, session_id)


def test_join_since_zero_replays_the_whole_log(client, connect) -> None:
    session_id, _, _, _ = build_history(client, connect)
    ack = ok(join(connect(), session_id, since_version=0))
    assert [entry["version"] for entry in ack["ops"]] == [1, 2, 3, 4, 5, 6, 7]
    replayed: dict = {}
    for entry in ack["ops"]:
        replayed = apply_op(replayed, entry["op"])
    assert replayed == nodes(client, session_id)


def test_join_since_the_current_version_gets_no_ops(client, connect) -> None:
    session_id, _, _, _ = build_history(client, connect)
    ack = ok(join(connect(), session_id, since_version=7))
    assert ack["ops"] == [] and "document" not in ack
    fresh = create_session(client)
    ack = ok(join(connect(), fresh, since_version=0))
    assert ack["ops"] == [] and ack["version"] == 0


def test_join_since_a_version_ahead_of_the_session_gets_the_document(client, connect) -> None:
    session_id, _, _, _ = build_history(client, connect)
    ack = ok(join(connect(), session_id, since_version=8))
    assert "ops" not in ack
    assert ack["document"] == document(client, session_id)
    assert ack["document"]["version"] == 7


def test_join_without_since_version_gets_the_document(client, connect) -> None:
    session_id, _, _, _ = build_history(client, connect)
    ack = ok(join(connect(), session_id))
    assert "ops" not in ack
    assert ack["document"] == {
        "version": 7,
        "nodes": [{"node_id": "a", "props": {"z": 3}}, {"node_id": "c", "props": {}}],
    }


def test_join_since_a_version_the_log_no_longer_holds_gets_the_document(
    make_app, connect_to
) -> None:
    app = make_app(OPLOG_MAX=5, UNDO_DEPTH=1)
    client = app.test_client()
    session_id, (ada, _), (ada_is, _) = open_room(client, lambda auth: connect_to(app, auth))
    for index in range(20):
        ok(add(ada, session_id, f"n{index:02d}", i=index))
    assert log_versions(app, session_id) == [16, 17, 18, 19, 20]
    ack = ok(join(connect_to(app), session_id, since_version=1))
    assert "ops" not in ack
    assert ack["document"]["version"] == 20
    assert [node["node_id"] for node in ack["document"]["nodes"]] == [
        f"n{index:02d}" for index in range(20)
    ]
    ack = ok(join(connect_to(app), session_id, since_version=14))
    assert "ops" not in ack and ack["document"]["version"] == 20
    ack = ok(join(connect_to(app), session_id, since_version=15))  # the log reaches back to it
    assert "document" not in ack
    assert [entry["version"] for entry in ack["ops"]] == [16, 17, 18, 19, 20]
    assert ack["ops"][0] == {
        "version": 16,
        "op": {"type": "add_node", "node_id": "n15", "props": {"i": 15}},
        "client": ada_is,
    }


def test_a_client_catches_up_after_a_reconnect(client, connect) -> None:
    session_id, (ada, bob), _ = open_room(client, connect)
    ok(add(ada, session_id, "n", v=1))
    held = nodes(client, session_id)
    bob.disconnect()
    ok(update(ada, session_id, "n", v=2))
    ok(undo(ada, session_id))
    ok(redo(ada, session_id))
    ok(add(ada, session_id, "m"))
    back = connect({"name": "Bob"})
    ack = ok(join(back, session_id, since_version=1))
    for entry in ack["ops"]:
        held = apply_op(held, entry["op"])
    assert held == nodes(client, session_id) == {"n": {"v": 2}, "m": {}}
    assert ack["version"] == ack["ops"][-1]["version"] == 5


@pytest.mark.parametrize("since_version", ["1", "0", 1.0, 1.5, True, False, -1, [1], {"v": 1}])
def test_since_version_must_be_a_non_negative_integer(client, connect, since_version) -> None:
    session_id = create_session(client)
    socket = connect()
    ack = join(socket, session_id, since_version=since_version)
    assert error_code(ack) == "invalid_payload"
    assert "since_version" in ack["error"]["details"]["fields"]
    assert detail(client, session_id)["active_clients"] == 0
    assert error_code(add(socket, session_id, "n")) == "not_joined"
