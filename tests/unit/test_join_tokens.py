"""Join tokens (DESIGN section 10): minting, every refusal reason, identity from the token, and
what a viewer may not do.

Refused joins are checked for what they must not do as much as for their answer: no row
changes, no presence, no room entered, and nothing of the token in the log.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta
from typing import Any

import jwt
import pytest
from flask import Flask

from backend.access import AUDIENCE
from tests.conftest import ADMIN
from tests.helpers import SESSIONS, create_session, database_state, events, join

# 64 bytes: long enough for HS512 too, so the wrong-algorithm token is refused for its algorithm
# and not for a short key.
SECRET = "join-token-secret-for-the-unit-tests-0123456789-0123456789abcdef"
ROLE_EDITOR = {"role": "editor"}


@pytest.fixture()
def token_app(make_app) -> Flask:
    return make_app(AUTH_MODE="token", JOIN_TOKEN_SECRET=SECRET)


def claims_for(app: Flask, session_id: str, **changes: Any) -> dict[str, Any]:
    """Valid claims for `session_id`, an hour long by the app's clock; `None` drops a claim."""
    with app.app_context():
        from backend import clock

        now = int(clock.now().timestamp())
    claims = {
        "aud": AUDIENCE,
        "session_id": session_id,
        "role": "editor",
        "name": "Ada",
        "sub": "user-1",
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


def sign(claims: dict[str, Any], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def unsigned(claims: dict[str, Any]) -> str:
    """An `alg: none` token, as an attacker would send one."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def mint(app: Flask, session_id: str, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "Ada")
    response = app.test_client().post(f"{SESSIONS}/{session_id}/tokens", json=body, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def refusal(ack: dict[str, Any]) -> tuple[str, Any]:
    assert ack["ok"] is False, ack
    return ack["error"]["code"], ack["error"]["details"].get("reason")


# --- minting -------------------------------------------------------------------------------


def test_a_minted_token_carries_the_contract_claims(token_app: Flask, clock) -> None:
    session_id = create_session(token_app.test_client(), ADMIN)
    minted = mint(token_app, session_id, name="Ada", user_id="user-7", role="viewer")
    assert set(minted) == {"token", "expires_at", "session_id", "role"}
    assert (minted["session_id"], minted["role"]) == (session_id, "viewer")
    assert minted["expires_at"] == (clock.now() + timedelta(hours=1)).isoformat()
    header = jwt.get_unverified_header(minted["token"])
    assert header["alg"] == "HS256"
    claims = jwt.decode(
        minted["token"], SECRET, algorithms=["HS256"], audience=AUDIENCE, options={"verify_exp": 0}
    )
    now = int(clock.now().timestamp())
    assert claims == {
        "aud": "sessionhub",
        "session_id": session_id,
        "role": "viewer",
        "name": "Ada",
        "sub": "user-7",
        "iat": now,
        "exp": now + 3600,
    }


def test_minting_defaults_to_an_editor_for_an_hour_capped_by_the_maximum(make_app, clock) -> None:
    app = make_app(JOIN_TOKEN_MAX_TTL_SECS=600)
    session_id = create_session(app.test_client())
    minted = mint(app, session_id)
    assert minted["role"] == "editor"
    assert minted["expires_at"] == (clock.now() + timedelta(seconds=600)).isoformat()
    too_long = app.test_client().post(
        f"{SESSIONS}/{session_id}/tokens", json={"name": "Ada", "ttl_seconds": 601}
    )
    assert too_long.status_code == 422
    assert "ttl_seconds" in too_long.get_json()["error"]["details"]["fields"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 65},
        {"name": 7},
        {"name": "Ada", "role": "owner"},
        {"name": "Ada", "role": None},
        {"name": "Ada", "user_id": ""},
        {"name": "Ada", "user_id": 42},
        {"name": "Ada", "user_id": "u" * 129},
        {"name": "Ada", "ttl_seconds": 0},
        {"name": "Ada", "ttl_seconds": "60"},
        {"name": "Ada", "ttl_seconds": 86401},
        {"name": "Ada", "admin": True},
    ],
)
def test_a_bad_mint_request_is_a_422_and_signs_nothing(app: Flask, body: dict) -> None:
    session_id = create_session(app.test_client())
    with app.test_client() as client:
        response = client.post(f"{SESSIONS}/{session_id}/tokens", json=body)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == "validation_error"
    assert "token" not in response.get_json()


def test_minting_for_an_unknown_or_ended_session_is_refused(app: Flask, clock) -> None:
    client = app.test_client()
    unknown = client.post(
        f"{SESSIONS}/00000000-0000-4000-8000-000000000000/tokens", json={"name": "A"}
    )
    assert (unknown.status_code, unknown.get_json()["error"]["code"]) == (404, "session_not_found")
    ended = create_session(client)
    client.delete(f"{SESSIONS}/{ended}", headers=ADMIN)
    response = client.post(f"{SESSIONS}/{ended}/tokens", json={"name": "A"})
    assert (response.status_code, response.get_json()["error"]["code"]) == (409, "session_ended")
    past_ttl = create_session(client, ttl_seconds=60)
    clock.advance(seconds=61)
    response = client.post(f"{SESSIONS}/{past_ttl}/tokens", json={"name": "A"})
    assert response.status_code == 409


def test_minting_is_logged_without_the_token(app: Flask, caplog) -> None:
    session_id = create_session(app.test_client())
    with caplog.at_level(logging.DEBUG):
        token = mint(app, session_id)["token"]
    assert f"minted a join token session={session_id}" in caplog.text
    assert token not in caplog.text and token.split(".")[2] not in caplog.text


# --- joining with a token ------------------------------------------------------------------


def test_in_token_mode_a_join_without_a_token_is_unauthorized(token_app, connect_to) -> None:
    session_id = create_session(token_app.test_client(), ADMIN)
    socket = connect_to(token_app, {"name": "Ada"})
    before = database_state(token_app)
    ack = join(socket, session_id)
    assert refusal(ack) == ("unauthorized", None)
    assert "token" in ack["error"]["message"]
    assert database_state(token_app) == before


def test_the_name_and_user_id_come_from_the_token(token_app, connect_to) -> None:
    session_id = create_session(token_app.test_client(), ADMIN)
    bob = connect_to(token_app)
    join(bob, session_id, token=sign(claims_for(token_app, session_id, name="Bob", sub="u-bob")))
    ada = connect_to(token_app, {"name": "Mallory"})
    token = sign(claims_for(token_app, session_id, name="Ada", sub="u-ada"))
    ack = join(ada, session_id, token=token, name="Eve")
    assert ack["ok"] is True, ack
    assert [(c["name"], c["user_id"], c["role"]) for c in ack["clients"]] == [
        ("Bob", "u-bob", "editor"),
        ("Ada", "u-ada", "editor"),
    ]
    [presence] = events(bob, "presence")
    assert [(c["name"], c["user_id"]) for c in presence["joined"]] == [("Ada", "u-ada")]
    listed = token_app.test_client().get(f"{SESSIONS}/{session_id}/clients", headers=ADMIN)
    assert [c["user_id"] for c in listed.get_json()["clients"]] == ["u-bob", "u-ada"]


def test_a_token_without_sub_joins_with_no_user_id(token_app, connect_to) -> None:
    session_id = create_session(token_app.test_client(), ADMIN)
    ack = join(
        connect_to(token_app), session_id, token=sign(claims_for(token_app, session_id, sub=None))
    )
    assert ack["clients"][0]["user_id"] is None


def refused_joins(app: Flask, session_id: str, other_id: str) -> dict[str, str]:
    """reason -> a token refused for it (for `session_id`)."""
    claims = claims_for(app, session_id)
    now = claims["iat"]
    return {
        "expired": sign({**claims, "exp": now}),
        "not_yet_valid": sign({**claims, "nbf": now + 60}),
        "bad_signature": sign(claims, key=SECRET[::-1]),
        "wrong_session": sign(claims_for(app, other_id)),
        "wrong_audience": sign({**claims, "aud": "another-service"}),
        "wrong_audience (none)": sign(claims_for(app, session_id, aud=None)),
        "bad_algorithm": sign(claims, algorithm="HS512"),
        "bad_algorithm (none)": unsigned(claims),
        "malformed": "not.a.token",
        "malformed (garbage)": "garbage",
        "malformed (no exp)": sign(claims_for(app, session_id, exp=None)),
        "malformed (exp text)": sign({**claims, "exp": "tomorrow"}),
        "malformed (exp infinite)": sign({**claims, "exp": float("inf")}),
        "malformed (no name)": sign(claims_for(app, session_id, name=None)),
        "malformed (blank name)": sign({**claims, "name": "  "}),
        "malformed (long name)": sign({**claims, "name": "x" * 65}),
        "malformed (NUL in name)": sign({**claims, "name": "A\u0000da"}),
        "malformed (role)": sign({**claims, "role": "owner"}),
        "malformed (no role)": sign(claims_for(app, session_id, role=None)),
        "malformed (sub number)": sign({**claims, "sub": 7}),
        "malformed (session number)": sign({**claims, "session_id": 7}),
    }


@pytest.mark.parametrize("mode", ["token", "open"])
def test_every_bad_token_is_refused_with_its_reason_and_changes_nothing(
    make_app, connect_to, caplog, mode: str
) -> None:
    app = make_app(AUTH_MODE=mode, JOIN_TOKEN_SECRET=SECRET)
    client = app.test_client()
    session_id, other_id = create_session(client, ADMIN), create_session(client, ADMIN)
    member = connect_to(app)
    assert join(member, session_id, token=sign(claims_for(app, session_id)))["ok"] is True
    intruder = connect_to(app, {"name": "Eve"})
    before = database_state(app)
    answers = {}
    tokens = refused_joins(app, session_id, other_id)
    with caplog.at_level(logging.DEBUG):
        for label, token in tokens.items():
            answers[label] = refusal(join(intruder, session_id, token=token))
    assert answers == {label: ("forbidden", label.split(" ")[0]) for label in tokens}
    assert database_state(app) == before
    assert events(member, "presence") == []
    # Not in the room either: the member's change does not reach the refused socket.
    member.emit("operation", {"session_id": session_id, "op": {"type": "add_node", "node_id": "n"}})
    assert events(intruder, "operation") == []
    for token in tokens.values():
        assert token not in caplog.text
    assert f"join refused session={session_id}" in caplog.text


def test_the_clock_that_expires_tokens_is_the_apps(token_app, connect_to, clock) -> None:
    session_id = create_session(token_app.test_client(), ADMIN)
    token = mint(token_app, session_id, ttl_seconds=60)["token"]
    clock.advance(seconds=60)
    assert refusal(join(connect_to(token_app), session_id, token=token)) == ("forbidden", "expired")
    clock.advance(seconds=-1)
    assert join(connect_to(token_app), session_id, token=token)["ok"] is True


def test_a_token_is_checked_before_the_session_is_looked_up(token_app, connect_to) -> None:
    """Without a valid token nobody learns whether a session exists."""
    unknown = "00000000-0000-4000-8000-000000000000"
    socket = connect_to(token_app)
    assert refusal(join(socket, unknown)) == ("unauthorized", None)
    assert refusal(join(socket, unknown, token="garbage")) == ("forbidden", "malformed")
    ack = join(socket, unknown, token=sign(claims_for(token_app, unknown)))
    assert refusal(ack) == ("session_not_found", None)


@pytest.mark.parametrize("token", [7, "", "x" * 4097, ["a"], {"t": 1}])
def test_a_token_of_the_wrong_shape_is_an_invalid_payload(token_app, connect_to, token) -> None:
    session_id = create_session(token_app.test_client(), ADMIN)
    ack = join(connect_to(token_app), session_id, token=token)
    assert ack["error"]["code"] == "invalid_payload"
    assert "token" in ack["error"]["details"]["fields"]


# --- open mode -----------------------------------------------------------------------------


def test_open_mode_without_a_token_is_unchanged(app: Flask, connect) -> None:
    session_id = create_session(app.test_client())
    ack = join(connect({"name": "Ada"}), session_id, name="Ada B.")
    assert [(c["name"], c["user_id"], c["role"]) for c in ack["clients"]] == [
        ("Ada B.", None, "editor")
    ]


def test_open_mode_honours_a_token_given(make_app, connect_to) -> None:
    app = make_app(JOIN_TOKEN_SECRET=SECRET)
    session_id = create_session(app.test_client())
    token = sign(claims_for(app, session_id, name="Vera", role="viewer"))
    socket = connect_to(app, {"name": "Someone else"})
    ack = join(socket, session_id, token=token)
    assert [(c["name"], c["role"]) for c in ack["clients"]] == [("Vera", "viewer")]
    op = {"session_id": session_id, "op": {"type": "add_node", "node_id": "n"}}
    assert refusal(socket.emit("operation", op, callback=True)) == ("forbidden", "viewer")


# --- roles ---------------------------------------------------------------------------------


def test_a_viewer_reads_and_hears_but_may_not_write(token_app, connect_to) -> None:
    session_id = create_session(token_app.test_client(), ADMIN)
    editor, viewer = connect_to(token_app), connect_to(token_app)
    join(editor, session_id, token=mint(token_app, session_id, name="Ed")["token"])
    op = {"session_id": session_id, "op": {"type": "add_node", "node_id": "n1", "props": {"x": 1}}}
    assert editor.emit("operation", op, callback=True)["ok"] is True
    ack = join(
        viewer, session_id, token=mint(token_app, session_id, name="Vi", role="viewer")["token"]
    )
    assert ack["document"]["nodes"] == [{"node_id": "n1", "props": {"x": 1}}]
    assert ack["clients"][1]["role"] == "viewer"
    before = database_state(token_app)
    second = {"session_id": session_id, "op": {"type": "add_node", "node_id": "n2"}}
    for event, payload in (("operation", second), ("undo", {"session_id": session_id}),
                           ("redo", {"session_id": session_id})):  # fmt: skip
        answer = viewer.emit(event, payload, callback=True)
        assert refusal(answer) == ("forbidden", "viewer"), event
        assert answer["error"]["details"]["session_id"] == session_id
    assert database_state(token_app) == before
    assert events(editor, "operation") == []
    update = {
        "session_id": session_id,
        "op": {"type": "update_node", "node_id": "n1", "props": {"x": 2}},
    }
    assert editor.emit("operation", update, callback=True)["ok"] is True
    assert [e["version"] for e in events(viewer, "operation")] == [2]
    left = viewer.emit("leave_session", {"session_id": session_id}, callback=True)
    assert left["ok"] is True


def test_joining_again_keeps_the_role_the_membership_has(token_app, connect_to) -> None:
    session_id = create_session(token_app.test_client(), ADMIN)
    socket = connect_to(token_app)
    join(socket, session_id, token=mint(token_app, session_id, role="viewer")["token"])
    again = join(socket, session_id, token=mint(token_app, session_id, role="editor")["token"])
    assert [c["role"] for c in again["clients"]] == ["viewer"]
    op = {"session_id": session_id, "op": {"type": "add_node", "node_id": "n"}}
    assert refusal(socket.emit("operation", op, callback=True)) == ("forbidden", "viewer")
