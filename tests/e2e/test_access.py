"""Access control end to end (DESIGN section 10): a production server in token mode, the official
JavaScript client joining with join tokens minted by the REST API or signed with jsonwebtoken,
and a production start-up that refuses weak secrets."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from sqlalchemy import create_engine, text

from tests.conftest import migrated_database
from tests.e2e.conftest import JS_DIR, wait_for
from tests.e2e.server import ServerProcess

NODE_TIMEOUT = 60

# Each at least 32 random characters, as production demands; SERVICE_TOKEN differs from ADMIN.
SECRETS = {
    "SECRET_KEY": secrets.token_urlsafe(32),
    "ADMIN_TOKEN": secrets.token_urlsafe(32),
    "SERVICE_TOKEN": secrets.token_urlsafe(32),
    "JOIN_TOKEN_SECRET": secrets.token_urlsafe(32),
}
SERVICE = {"Authorization": f"Bearer {SECRETS['SERVICE_TOKEN']}"}
ADMIN = {"Authorization": f"Bearer {SECRETS['ADMIN_TOKEN']}"}


# --- fixtures: one production server and the locked npm packages for the whole module --------


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`python app.py` with APP_CONFIG=production: AUTH_MODE defaults to token there."""
    directory = tmp_path_factory.mktemp("access")
    with migrated_database("sqlite", directory) as url:
        server = ServerProcess(
            url, directory / "server.log", {"APP_CONFIG": "production", **SECRETS}
        )
        try:
            yield server.start()
        finally:
            server.stop()


@pytest.fixture(scope="module")
def used_tokens() -> list[str]:
    """Every join token the module's tests sent: none of them may reach the server's log."""
    return []


# --- helpers ------------------------------------------------------------------------------------


def create_session(server: ServerProcess) -> str:
    response = requests.post(
        f"{server.api}/sessions", json={"project_id": "e2e-access"}, headers=SERVICE, timeout=5
    )
    assert response.status_code == 201, response.text
    return response.json()["session_id"]


def mint(server: ServerProcess, session_id: str, **body: Any) -> str:
    response = requests.post(
        f"{server.api}/sessions/{session_id}/tokens", json=body, headers=SERVICE, timeout=5
    )
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["session_id"] == session_id
    assert answer["role"] == body.get("role", "editor")
    return answer["token"]


def sign_in_node(node_client: Path, session_id: str, **env: str) -> str:
    """sign-token.mjs: the README's "sign in your own backend" example, run as written."""
    finished = subprocess.run(
        [str(node_client), "sign-token.mjs"],
        cwd=JS_DIR,
        env={
            "PATH": "/usr/bin:/bin",
            "JOIN_TOKEN_SECRET": SECRETS["JOIN_TOKEN_SECRET"],
            "SESSION_ID": session_id,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout.strip()


def sign_in_python(session_id: str, secret: str | None = None, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "aud": "sessionhub",
        "session_id": session_id,
        "role": "editor",
        "name": "Pat",
        "iat": now,
        "exp": now + 600,
        **claims,
    }
    return jwt.encode(payload, secret or SECRETS["JOIN_TOKEN_SECRET"], algorithm="HS256")


def run_clients(
    node_client: Path, server: ServerProcess, used: list[str], *plan: dict[str, Any]
) -> dict[str, Any]:
    """access.mjs: the plan's clients join and act; what each was answered and heard."""
    used.extend(client["token"] for client in plan if "token" in client)
    finished = subprocess.run(
        [str(node_client), "access.mjs", server.url, json.dumps(list(plan))],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


def session_json(server: ServerProcess, session_id: str, path: str = "") -> Any:
    response = requests.get(f"{server.api}/sessions/{session_id}{path}", headers=SERVICE, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def memberships(server: ServerProcess, session_id: str) -> list[tuple[str, str | None, str]]:
    """(name, user_id, role) of every membership the session ever had, oldest first."""
    engine = create_engine(server.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT client_name, user_id, role FROM memberships WHERE session_id = :s "
                    "ORDER BY id"
                ),
                {"s": session_id},
            )
            return [tuple(row) for row in rows]
    finally:
        engine.dispose()


def decode(token: str) -> dict[str, Any]:
    """The claims of a token this server would accept the signature and audience of."""
    return jwt.decode(
        token, SECRETS["JOIN_TOKEN_SECRET"], algorithms=["HS256"], audience="sessionhub"
    )


def refusal(report: dict[str, Any]) -> tuple[str, str | None]:
    """The code and reason of a refused join's ack."""
    ack = report["join"]
    assert ack["ok"] is False, ack
    return ack["error"]["code"], ack["error"]["details"].get("reason")


def client_views(clients: list[dict[str, Any]]) -> list[tuple[str, str | None, str]]:
    return [(client["name"], client["user_id"], client["role"]) for client in clients]


# --- joining with a token -------------------------------------------------------------------


def test_minted_and_node_signed_tokens_join_under_the_tokens_identity(
    production: ServerProcess, node_client: Path, used_tokens: list[str]
) -> None:
    session_id = create_session(production)
    minted = mint(production, session_id, name="Ada", user_id="user-ada")
    signed = sign_in_node(
        node_client, session_id, NAME="Bob", USER_ID="user-bob", TTL_SECONDS="600"
    )
    # The Node-signed token carries exactly the contract's claims, and verifies as HS256.
    claims = decode(signed)
    assert claims == {
        "aud": "sessionhub",
        "session_id": session_id,
        "role": "editor",
        "name": "Bob",
        "sub": "user-bob",
        "iat": claims["iat"],
        "exp": claims["iat"] + 600,
    }
    assert abs(claims["iat"] - time.time()) < 60

    report = run_clients(
        node_client,
        production,
        used_tokens,
        {"label": "ada", "session_id": session_id, "token": minted, "name": "Mallory"},
        {"label": "bob", "session_id": session_id, "token": signed, "name": "Eve"},
    )
    ada, bob = report["ada"], report["bob"]
    assert ada["join"]["ok"] is True and bob["join"]["ok"] is True, report
    assert client_views(bob["join"]["clients"]) == [
        ("Ada", "user-ada", "editor"),
        ("Bob", "user-bob", "editor"),
    ]
    # Ada heard Bob arrive under his token's name, never the one his client sent.
    heard = [view for diff in ada["presence"] for view in diff["joined"]]
    assert client_views(heard) == [("Bob", "user-bob", "editor")]
    assert memberships(production, session_id) == [
        ("Ada", "user-ada", "editor"),
        ("Bob", "user-bob", "editor"),
    ]


def test_the_node_signed_token_defaults_to_an_editor_for_an_hour_without_sub(
    node_client: Path,
) -> None:
    claims = decode(sign_in_node(node_client, "any-session", NAME="Cy"))
    assert claims == {
        "aud": "sessionhub",
        "session_id": "any-session",
        "role": "editor",
        "name": "Cy",
        "iat": claims["iat"],
        "exp": claims["iat"] + 3600,
    }


def test_a_token_for_one_session_cannot_join_another(
    production: ServerProcess, node_client: Path, used_tokens: list[str]
) -> None:
    session_a, session_b = create_session(production), create_session(production)
    for_a = mint(production, session_a, name="Intruder")
    host = mint(production, session_b, name="Host")
    guest = mint(production, session_b, name="Guest")
    report = run_clients(
        node_client,
        production,
        used_tokens,
        {"label": "host", "session_id": session_b, "token": host},
        {"label": "intruder", "session_id": session_b, "token": for_a, "name": "Intruder"},
        # A later join B's host must hear: its presence shows whether the intruder got in.
        {"label": "guest", "session_id": session_b, "token": guest},
    )
    assert refusal(report["intruder"]) == ("forbidden", "wrong_session")
    assert report["guest"]["join"]["ok"] is True
    assert [c["name"] for c in report["guest"]["join"]["clients"]] == ["Host", "Guest"]
    heard = [view["name"] for diff in report["host"]["presence"] for view in diff["joined"]]
    assert heard == ["Guest"]
    assert report["host"]["presence"][-1]["active_clients"] == 2
    # The refused join wrote nothing, in either session.
    assert [row[0] for row in memberships(production, session_b)] == ["Host", "Guest"]
    assert memberships(production, session_a) == []
    wait_for(
        lambda: session_json(production, session_b)["active_clients"] == 0,
        5,
        "B still counts clients after they all left",
    )
    assert session_json(production, session_a)["active_clients"] == 0


def test_expired_forged_and_foreign_tokens_are_refused_with_their_reason(
    production: ServerProcess, node_client: Path, used_tokens: list[str]
) -> None:
    session_id = create_session(production)
    past = int(time.time()) - 60
    report = run_clients(
        node_client,
        production,
        used_tokens,
        {
            "label": "expired",
            "session_id": session_id,
            "token": sign_in_python(session_id, iat=past - 600, exp=past),
        },
        {
            "label": "forged",
            "session_id": session_id,
            "token": sign_in_python(session_id, secret=secrets.token_urlsafe(32)),
        },
        {
            "label": "foreign",
            "session_id": session_id,
            "token": sign_in_python(session_id, aud="another-service"),
        },
    )
    assert refusal(report["expired"]) == ("forbidden", "expired")
    assert refusal(report["forged"]) == ("forbidden", "bad_signature")
    assert refusal(report["foreign"]) == ("forbidden", "wrong_audience")
    assert session_json(production, session_id)["active_clients"] == 0
    assert memberships(production, session_id) == []


def test_a_join_without_a_token_is_unauthorized(
    production: ServerProcess, node_client: Path, used_tokens: list[str]
) -> None:
    session_id = create_session(production)
    report = run_clients(
        node_client,
        production,
        used_tokens,
        {"label": "anon", "session_id": session_id, "name": "Ada"},
    )
    assert refusal(report["anon"]) == ("unauthorized", None)
    assert report["anon"]["join"]["error"]["details"] == {}
    assert memberships(production, session_id) == []


# --- the production walkthrough ---------------------------------------------------------------


def test_production_walkthrough_outsiders_viewers_and_editors(
    production: ServerProcess, node_client: Path, used_tokens: list[str]
) -> None:
    # Nobody without a token may list or create sessions; the health check stays public.
    listed = requests.get(f"{production.api}/sessions", timeout=5)
    assert listed.status_code == 401 and listed.json()["error"]["code"] == "unauthorized"
    assert listed.headers["WWW-Authenticate"] == 'Bearer realm="sessionhub"'
    created = requests.post(f"{production.api}/sessions", json={"project_id": "x"}, timeout=5)
    assert created.status_code == 401
    assert requests.get(f"{production.api}/health", timeout=5).status_code == 200
    session_id = create_session(production)
    viewer = mint(production, session_id, name="Vera", user_id="user-vera", role="viewer")
    editor = mint(production, session_id, name="Ed", user_id="user-ed")
    writes = ["operation", "undo", "redo"]

    report = run_clients(
        node_client,
        production,
        used_tokens,
        {"label": "outsider", "session_id": session_id, "actions": ["operation"]},
        {"label": "viewer", "session_id": session_id, "token": viewer, "actions": writes},
        {"label": "editor", "session_id": session_id, "token": editor, "actions": writes},
    )
    outsider, vera, ed = report["outsider"], report["viewer"], report["editor"]

    # The outsider could not join, so it cannot write either.
    assert refusal(outsider) == ("unauthorized", None)
    assert outsider["acks"]["operation"]["error"]["code"] == "not_joined"

    # The viewer joins and reads the document, but every write is forbidden as a viewer's.
    assert vera["join"]["ok"] is True
    assert vera["join"]["document"] == {"version": 0, "nodes": []}
    assert client_views(vera["join"]["clients"]) == [("Vera", "user-vera", "viewer")]
    for action in writes:
        error = vera["acks"][action]["error"]
        assert error["code"] == "forbidden", (action, error)
        assert error["details"] == {"reason": "viewer", "session_id": session_id}

    # The editor writes, and the viewer hears each change.
    assert ed["join"]["ok"] is True
    assert client_views(ed["join"]["clients"]) == [
        ("Vera", "user-vera", "viewer"),
        ("Ed", "user-ed", "editor"),
    ]
    added = {"type": "add_node", "node_id": "editor-node", "props": {"by": "editor"}}
    assert [ed["acks"][action] for action in writes] == [
        {"ok": True, "version": 1},
        {"ok": True, "version": 2, "op": {"type": "delete_node", "node_id": "editor-node"}},
        {"ok": True, "version": 3, "op": added},
    ]
    assert [change["version"] for change in vera["operation"]] == [1, 2, 3]
    assert {change["client"]["name"] for change in vera["operation"]} == {"Ed"}
    assert ed["operation"] == []  # the viewer's writes never reached the room

    document = session_json(production, session_id, "/document")
    assert document["version"] == 3
    assert [n["node_id"] for n in document["nodes"]] == ["editor-node"]
    unread = requests.get(f"{production.api}/sessions/{session_id}/document", timeout=5)
    assert unread.status_code == 401  # without a token, not even the document
    assert memberships(production, session_id) == [
        ("Vera", "user-vera", "viewer"),
        ("Ed", "user-ed", "editor"),
    ]

    # Ending the session is the admin's: the service token may not.
    url = f"{production.api}/sessions/{session_id}"
    assert requests.delete(url, headers=SERVICE, timeout=5).status_code == 403
    assert requests.delete(url, headers=ADMIN, timeout=5).status_code == 200


# --- nothing leaks ------------------------------------------------------------------------------


def test_the_log_holds_refusal_reasons_but_no_token_or_secret(
    production: ServerProcess, node_client: Path, used_tokens: list[str]
) -> None:
    """Runs after the module's other joins, and makes joins and refusals of its own so that it
    means something when run alone."""
    session_id, elsewhere = create_session(production), create_session(production)
    minted, signed = mint(production, session_id, name="M"), sign_in_node(node_client, session_id)
    wrong, forged = mint(production, elsewhere, name="W"), sign_in_python(session_id, "x" * 32)
    run_clients(
        node_client,
        production,
        used_tokens,
        {"label": "minted", "session_id": session_id, "token": minted},
        {"label": "signed", "session_id": session_id, "token": signed},
        {"label": "wrong", "session_id": session_id, "token": wrong},
        {"label": "forged", "session_id": session_id, "token": forged},
        {"label": "anon", "session_id": session_id},
    )
    refused = f"join refused session={session_id} "
    wait_for(
        lambda: production.log_path.read_text().count(refused) >= 3,
        5,
        "the server never logged the three refusals",
    )
    log = production.log_path.read_text()
    reasons = [line.rsplit(" ", 1)[-1] for line in log.splitlines() if refused in line]
    assert sorted(reasons) == ["reason=bad_signature", "reason=no_token", "reason=wrong_session"]
    assert len(used_tokens) >= 4
    for token in used_tokens:
        signature = token.rsplit(".", 1)[-1]
        assert token not in log and signature not in log, "a join token reached the log"
    for name, value in SECRETS.items():
        assert value not in log, f"{name} reached the log"


# --- a production start-up with weak secrets --------------------------------------------------


def test_production_refuses_to_start_with_weak_secrets(tmp_path: Path) -> None:
    weak = {
        "SECRET_KEY": "a",
        "ADMIN_TOKEN": "b",
        "SERVICE_TOKEN": "Change-Me",
        "JOIN_TOKEN_SECRET": "short-join-secret-0123456789",
    }
    server = ServerProcess(
        f"sqlite:///{tmp_path / 'never-used.db'}",
        tmp_path / "refused.log",
        {"APP_CONFIG": "production", **weak},
    )
    finished = server.run_until_exit(30)
    stderr = finished.stderr
    assert finished.returncode == 2, finished.stdout + stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith("sessionhub: configuration error: ")
    assert "SECRET_KEY must be at least 32 bytes in production, got 1" in line
    assert "ADMIN_TOKEN must be at least 32 bytes in production, got 1" in line
    assert "SERVICE_TOKEN is a placeholder or development value" in line
    assert "JOIN_TOKEN_SECRET must be at least 32 bytes in production, got 28" in line
    # It names the variables, never their values.
    assert "Change-Me" not in line and weak["JOIN_TOKEN_SECRET"] not in line
    assert not (tmp_path / "never-used.db").exists()
