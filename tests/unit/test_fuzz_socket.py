"""Fuzzing every Socket.IO client event with Hypothesis: whatever a client sends that is not a
valid request is answered `{"ok": false, "error": {...}}` and changes nothing, anywhere."""

from __future__ import annotations

import json
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from tests.helpers import create_session, database_state, join

# Hypothesis caches what it learns (a scan of our modules' constants, made while pytest collects;
# Unicode tables) under `.hypothesis/` in the working directory even with no example database.
# Pointed elsewhere at import, before collection ends: a fixture would run too late.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "sessionhub-hypothesis")

CLIENT_EVENTS = (
    "join_session",
    "leave_session",
    "operation",
    "undo",
    "redo",
    "set_state",
    "signal",
)
# Names no handler answers, the ones python-socketio raises itself included: from a client
# they are ordinary events and must not reach the connect/disconnect handlers.
UNKNOWN_EVENTS = ("no_such_event", "connect", "disconnect", "connect_error", "message", "")
FIELDS = {
    "join_session": {"session_id", "name", "since_version", "token"},
    "leave_session": {"session_id"},
    "operation": {"session_id", "op"},
    "undo": {"session_id"},
    "redo": {"session_id"},
    "set_state": {"session_id", "state"},
    "signal": {"session_id", "event", "data"},
}
ALL_FIELDS = sorted(set().union(*FIELDS.values()) | {"type", "node_id", "props"})
DEPTH = 200  # deep, yet within what the test client's own json.dumps can encode
FUZZ_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    # Same cases on every run, and no example database written into the working tree.
    derandomize=True,
    database=None,
    # One app, session and socket per test function serve every example: fixtures are set up
    # once, and each example checks for itself that the database did not change.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# --- JSON values ---------------------------------------------------------------------------

NASTY_STRINGS = st.sampled_from(
    ["", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "\u202e", "null", "0", "x" * 70_000]
)
strings = st.one_of(
    NASTY_STRINGS,
    # Every code point, lone surrogates and control characters included.
    st.text(st.characters(exclude_categories=()), max_size=20),
)
# Up to Python's int/str limit (4,300 digits): beyond it the test client cannot encode them.
huge_integers = st.integers(min_value=19, max_value=4300).flatmap(
    lambda digits: st.sampled_from([10**digits - 1, -(10**digits - 1)])
)
numbers = st.one_of(st.integers(), huge_integers, st.floats(allow_nan=True, allow_infinity=True))
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
keys = st.one_of(st.sampled_from(ALL_FIELDS), strings)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=10,
)


def nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


deep_values = st.builds(nested, st.integers(min_value=DEPTH // 2, max_value=DEPTH), scalars)
any_values = st.one_of(json_values, deep_values)
not_objects = any_values.filter(lambda value: not isinstance(value, dict))
not_strings = any_values.filter(lambda value: not isinstance(value, str))
fresh_ids = st.uuids(version=4).map(str)  # well formed, but no session has them

# --- payloads that must be refused ---------------------------------------------------------
# Every strategy below is invalid by construction, so no example needs to be assumed away:
# either something is malformed, or a well-formed request names a session that does not exist
# (a fresh UUID; the seeded sessions are only ever sent together with something wrong).

valid_ops = st.sampled_from(
    [
        {"type": "add_node", "node_id": "new"},
        {"type": "update_node", "node_id": "n1", "props": {"x": 2}},
        {"type": "delete_node", "node_id": "n1"},
    ]
)
OP_FIELDS = ("type", "node_id", "props")
OP_TYPES = ("add_node", "update_node", "delete_node")


def with_field(
    objects: st.SearchStrategy[dict[str, Any]], field: str, values: st.SearchStrategy[Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """Each object with `field` set to a drawn value (added or replaced)."""
    return st.tuples(objects, values).map(lambda pair: {**pair[0], field: pair[1]})


bad_ops = st.one_of(
    not_objects,
    st.dictionaries(keys, any_values, max_size=4).filter(lambda op: "type" not in op),
    with_field(valid_ops, "type", not_strings),
    with_field(valid_ops, "type", strings.filter(lambda kind: kind not in OP_TYPES)),
    with_field(valid_ops, "node_id", not_strings),
    with_field(valid_ops, "node_id", st.sampled_from(["", "a\x00", "\ud800", "n" * 129])),
    with_field(st.just({"type": "add_node", "node_id": "n"}), "props", not_objects),
    with_field(
        st.just({"type": "add_node", "node_id": "n"}), "props", st.just({"x": "y" * 70_000})
    ),
    st.just({"type": "update_node", "node_id": "n1"}),  # an update needs props
    st.just({"type": "update_node", "node_id": "n1", "props": {}}),
    with_field(st.just({"type": "delete_node", "node_id": "n1"}), "props", any_values),
    st.tuples(valid_ops, keys.filter(lambda key: key not in OP_FIELDS), any_values).map(
        lambda triple: {**triple[0], triple[1]: triple[2]}
    ),
)
# Values each field refuses: wrong types, NUL, lone surrogates, out of range.
BAD_FIELD_VALUES = {
    # ... and a well-formed UUID of version 1: session ids are UUID4s.
    "session_id": st.one_of(not_strings, strings, st.just("6f1c1f0e-6c0b-1d53-9a53-1d3c7d3a0b11")),
    "name": st.one_of(
        any_values.filter(lambda value: value is not None and not isinstance(value, str)),
        st.sampled_from(["a\x00", "\ud800", "n" * 65]),
    ),
    "since_version": st.one_of(
        any_values.filter(
            lambda value: (
                value is not None
                and (isinstance(value, bool) or not isinstance(value, int) or value < 0)
            )
        ),
    ),
    "op": bad_ops,
    # Not a string, empty, too long, or no JWT at all (refused as `forbidden`).
    "token": st.one_of(
        any_values.filter(lambda value: value is not None and not isinstance(value, str)),
        st.sampled_from(["", "t" * 4097, "not.a.token", "\ud800"]),
    ),
    "state": st.one_of(
        any_values.filter(lambda value: value is not None and not isinstance(value, dict)),
        st.sampled_from([{"big": "x" * 5000}, {"nan": float("nan")}]),
    ),
    "event": st.one_of(
        any_values.filter(lambda value: not isinstance(value, str)),
        st.sampled_from(["", "   ", "e" * 65, "a\x00"]),
    ),
    "data": st.sampled_from(["x" * 5000, float("nan"), {"k": float("inf")}]),
}


VALID_EXTRAS: dict[str, dict[str, Any]] = {
    "set_state": {"state": {"x": 1}},
    "signal": {"event": "ping"},
}


def valid_payload(event: str, session_id: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    payloads = st.fixed_dictionaries(
        {
            "session_id": session_id,
            **{k: st.just(v) for k, v in VALID_EXTRAS.get(event, {}).items()},
        }
    )
    return with_field(payloads, "op", valid_ops) if event == "operation" else payloads


def one_field_wrong(event: str, session_ids: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A real session's payload with one field made wrong, or one unknown field added."""
    base = valid_payload(event, st.sampled_from(session_ids))
    wrong = [with_field(base, field, BAD_FIELD_VALUES[field]) for field in sorted(FIELDS[event])]
    unknown = st.tuples(base, keys.filter(lambda key: key not in FIELDS[event]), any_values).map(
        lambda triple: {**triple[0], triple[1]: triple[2]}
    )
    return st.one_of(*wrong, unknown)


def refused_args(event: str, session_ids: list[str]) -> st.SearchStrategy[tuple[Any, ...]]:
    """The positional arguments of one event a server must refuse."""
    if event not in FIELDS:  # no such event: anything at all
        return st.lists(any_values, max_size=3).map(tuple)
    single = st.one_of(
        not_objects,
        st.dictionaries(keys, any_values, max_size=5),
        one_field_wrong(event, session_ids),
        valid_payload(event, fresh_ids),
    )
    # Even a payload that is fine alone must not go through with extra arguments.
    first = st.one_of(single, valid_payload(event, st.sampled_from(session_ids)))
    extra = st.tuples(first, st.lists(any_values, min_size=1, max_size=2)).map(
        lambda pair: (pair[0], *pair[1])
    )
    return st.one_of(st.just(()), single.map(lambda value: (value,)), extra)


# --- the test ------------------------------------------------------------------------------


@pytest.fixture()
def app(make_app) -> Flask:
    """The suite's app with a rate limit no fuzz run reaches: the frozen clock never refills
    the bucket, and `rate_limited` for every later example would prove nothing."""
    return make_app(SOCKET_RATE_LIMIT=1_000_000)


@dataclass
class Board:
    """What the fuzzing socket works on: a session with a node and an undo history that it and
    an observer have joined, and one it has not joined."""

    socket: Any
    observer: Any
    joined: str
    other: str

    @property
    def session_ids(self) -> list[str]:
        return [self.joined, self.other]


@pytest.fixture()
def board(client, connect) -> Board:
    joined, other = create_session(client), create_session(client)
    socket, observer = connect({"name": "fuzz"}), connect({"name": "observer"})
    assert join(socket, joined)["ok"]
    assert join(observer, joined)["ok"]
    op = {"type": "add_node", "node_id": "n1", "props": {"x": 1}}
    assert socket.emit("operation", {"session_id": joined, "op": op}, callback=True)["ok"]
    observer.get_received()
    return Board(socket=socket, observer=observer, joined=joined, other=other)


def assert_refused(ack: Any, sent: tuple[Any, ...]) -> None:
    shown = _short(sent)
    assert isinstance(ack, dict), f"no ack for {shown}: {ack!r}"
    assert ack.get("ok") is False and set(ack) == {"ok", "error"}, f"{shown} -> {ack!r}"
    error = ack["error"]
    assert isinstance(error, dict) and set(error) <= {"code", "message", "details"}, ack
    assert isinstance(error.get("code"), str) and error["code"], ack
    assert isinstance(error.get("message"), str) and error["message"], ack
    assert isinstance(error.get("details", {}), dict), ack
    # internal_error is no clear error; rate_limited would hide the payload's own answer.
    assert error["code"] not in ("internal_error", "rate_limited"), f"{shown} -> {ack!r}"


def _short(sent: tuple[Any, ...]) -> str:
    try:
        text = json.dumps(sent)
    except ValueError:
        text = repr(sent)
    return text if len(text) < 300 else f"{text[:300]}..."


@pytest.mark.parametrize("event", CLIENT_EVENTS + UNKNOWN_EVENTS, ids=lambda e: e or "empty_name")
@FUZZ_SETTINGS
@given(data=st.data())
def test_a_bad_event_is_refused_and_changes_nothing(
    app: Flask, board: Board, event: str, data: st.DataObject
) -> None:
    socket, observer = board.socket, board.observer
    args = data.draw(refused_args(event, board.session_ids), label="args")
    before = database_state(app)
    ack = socket.emit(event, *args, callback=True)
    assert_refused(ack, args)
    assert database_state(app) == before, f"{event} {_short(args)} changed the database"
    assert socket.is_connected(), f"{event} {_short(args)} dropped the socket"
    assert observer.get_received() == [], f"{event} {_short(args)} was broadcast"
    socket.get_received()  # drop what the socket heard, so memory stays flat


def test_a_fresh_session_id_is_unknown_not_invalid(client, connect) -> None:
    """The one well-formed request the fuzzer sends on purpose: its refusal names the cause."""
    ack = connect().emit("undo", {"session_id": str(uuid.uuid4())}, callback=True)
    assert ack["error"]["code"] == "session_not_found"


# --- hostile values in every field, each one for sure ----------------------------------------

HOSTILE_VALUES = {
    "nul": "a\x00b",
    "lone_surrogate": "\ud800",
    "huge_integer": 10**4299,
    "huge_negative_integer": -(10**4299),
    "nan": float("nan"),
    "infinity": float("inf"),
    "deep_nesting": nested(DEPTH, None),
    "long_string": "x" * 70_000,
    "empty_string": "",
    "null": None,
    "list": [1, "a"],
    "true": True,
}
# event -> the paths into its valid payload where a hostile value goes
FIELD_PATHS = {
    "join_session": [("session_id",), ("name",), ("since_version",), ("token",)],
    "leave_session": [("session_id",)],
    "operation": [
        ("session_id",),
        ("op",),
        ("op", "type"),
        ("op", "node_id"),
        ("op", "props"),
        ("op", "props", "k"),
    ],
    "undo": [("session_id",)],
    "redo": [("session_id",)],
    "set_state": [("session_id",), ("state",), ("state", "k")],
    "signal": [("session_id",), ("event",), ("data",)],
}


def replaced(payload: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A copy of `payload` with the field at `path` set (added or replaced) to `value`."""
    first, *rest = path
    return {**payload, first: replaced(payload[first], tuple(rest), value) if rest else value}


@pytest.mark.parametrize("event", CLIENT_EVENTS)
def test_a_hostile_value_in_any_field_gets_a_clear_answer(
    app: Flask, board: Board, event: str
) -> None:
    """Some of these are valid (an empty name, a huge `since_version`): those may succeed.
    None may crash the handler, and a refusal must leave everything as it was. Every field and
    value is tried, and the failures are reported together."""
    valid: dict[str, Any] = {"session_id": board.joined, **VALID_EXTRAS.get(event, {})}
    if event == "operation":
        valid["op"] = {"type": "add_node", "node_id": "h", "props": {"k": 1}}
    failures = []
    for path in FIELD_PATHS[event]:
        for name, value in HOSTILE_VALUES.items():
            payload = replaced(valid, path, value)
            before = database_state(app)
            ack = board.socket.emit(event, payload, callback=True)
            try:
                assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), ack
                if not ack["ok"]:
                    assert_refused(ack, (payload,))
                    assert database_state(app) == before, "the database changed"
                assert board.socket.is_connected(), "the socket was dropped"
            except AssertionError as error:
                failures.append(f"{'.'.join(path)} = {name}: {error}")
    assert not failures, "\n".join(failures)


# --- packets whose JSON no client library would write ----------------------------------------

# The test client's emit encodes with json.dumps, which refuses these; a hostile client sends
# the text anyway. Python's json decoder refuses the first two (4,300-digit limit, recursion),
# engine.io's refuses integers over 100 characters.
RAW_PAYLOADS = {
    "huge_integer": "9" * 5000,
    "long_integer": "9" * 101,
    "deep_nesting": "[" * 100_000 + "]" * 100_000,
    "malformed": '{"session_id": ',
    "bare_word": "undefined",
}


def send_raw(socket: Any, event: str, payload_text: str) -> Any:
    """Send one EVENT packet as text with an ack id, the way the test client's own `emit`
    hands encoded packets to the server (python-socketio's `_handle_eio_message`)."""
    socket.acks = None
    socket.socketio.server._handle_eio_message(socket.eio_sid, f'2999["{event}",{payload_text}]')
    return socket.acks["args"][0] if socket.acks else None


@pytest.mark.parametrize("event", CLIENT_EVENTS + ("no_such_event",))
def test_an_undecodable_packet_is_refused(app: Flask, board: Board, event: str) -> None:
    failures = []
    for name, text in RAW_PAYLOADS.items():
        before = database_state(app)
        ack = send_raw(board.socket, event, text)
        try:
            assert_refused(ack, (name,))
            assert database_state(app) == before, "the database changed"
            assert board.socket.is_connected(), "the socket was dropped"
            assert board.observer.get_received() == [], "the room heard of it"
        except AssertionError as error:
            failures.append(f"{name}: {error}")
    assert not failures, "\n".join(failures)
