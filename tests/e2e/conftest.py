"""e2e fixtures: migrated databases and real server processes, cleaned up by pid."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from sqlalchemy import create_engine, text

from tests.conftest import BACKENDS, migrated_database
from tests.e2e.server import ADMIN_TOKEN, ServerProcess, server_starter

JS_DIR = Path(__file__).with_name("js")

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


# For tests of the HTTP and Socket.IO layers, where the database only stores what they let
# through: one backend is enough, and keeps `make test` inside its time budget.
SQLITE_ONLY = pytest.mark.parametrize("e2e_database_url", ["sqlite"], indirect=True)


@pytest.fixture(params=BACKENDS)
def e2e_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database per e2e test: servers leave rows behind that no test should see."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture()
def start_server(e2e_database_url: str, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Starts `python app.py` processes on the test database; each is stopped in teardown."""
    with server_starter(e2e_database_url, tmp_path) as start:
        yield start


@pytest.fixture()
def server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_server()


@pytest.fixture()
def sio_clients() -> Iterator[Callable[..., socketio.Client]]:
    """Real python-socketio clients, disconnected in teardown."""
    clients: list[socketio.Client] = []

    def make(url: str, name: str | None = None, transport: str = "websocket") -> socketio.Client:
        client = recording_client()
        auth = {"name": name} if name else None
        client.connect(url, auth=auth, transports=[transport], wait_timeout=10)
        clients.append(client)
        return client

    yield make
    close_clients(clients)


def recording_client(**options: Any) -> socketio.Client:
    """A client (no reconnection) that keeps every server event it hears (presence, operation,
    session_ended, state, signal) in `client.received`, as (event, data)."""
    client = socketio.Client(reconnection=False, **options)
    client.received = []  # type: ignore[attr-defined]
    for event in ("presence", "operation", "session_ended", "state", "signal"):
        client.on(event, lambda data, event=event: client.received.append((event, data)))
    return client


def close_clients(clients: list[socketio.Client]) -> None:
    for client in clients:
        if client.connected:
            client.disconnect()
        # A connection the server cut is left open by the client library; release its socket.
        socket_ = getattr(client.eio.ws, "sock", None) if client.eio.ws else None
        if socket_ is not None:
            socket_.close()


def create_session(server: ServerProcess, **body: Any) -> str:
    response = requests.post(
        f"{server.api}/sessions", json={"project_id": "e2e", **body}, timeout=5
    )
    assert response.status_code == 201, response.text
    return response.json()["session_id"]


def active_clients(server: ServerProcess, session_id: str) -> int:
    return requests.get(f"{server.api}/sessions/{session_id}", timeout=5).json()["active_clients"]


def wait_for(predicate: Callable[[], bool], timeout: float, message: str) -> None:
    """Poll a real server until `predicate` holds; a bounded wait, not a sleep for time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{message} (waited {timeout}s)")


def left_reasons(database_url: str, session_id: str) -> list[str | None]:
    """Why each membership of the session closed (None: still open), oldest first."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT left_reason FROM memberships WHERE session_id = :s ORDER BY id"),
                {"s": session_id},
            )
            return [row[0] for row in rows]
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def node_client() -> Path:
    """Node.js with the locked npm packages of tests/e2e/js (socket.io-client, jsonwebtoken),
    installed with `npm ci` unless every one is there already; skips where Node.js is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("the JavaScript client tests need node and npm on PATH")
    wanted = json.loads((JS_DIR / "package.json").read_text())["dependencies"]
    if not all((JS_DIR / "node_modules" / package).is_dir() for package in wanted):
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS_DIR,
            check=True,
            timeout=300,
        )
    return Path(node)


REDIS_ENV = "TEST_REDIS_URL"


def message_queue_env() -> dict[str, str]:
    """A Redis message queue on a channel of the calling test's own; skips without Redis."""
    redis_url = os.environ.get(REDIS_ENV)
    if not redis_url:
        pytest.skip(f"the message-queue tests need {REDIS_ENV}")
    return {
        "SOCKETIO_MESSAGE_QUEUE": redis_url,
        "SOCKETIO_CHANNEL": f"sessionhub-test-{uuid.uuid4().hex}",
    }
