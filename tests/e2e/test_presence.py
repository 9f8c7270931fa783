"""Presence against a real eventlet server with real python-socketio clients."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import socketio

from tests.e2e.conftest import ADMIN, active_clients, create_session, left_reasons, wait_for

CLIENT_SCRIPT = Path(__file__).with_name("join_and_wait.py")


def join(client, session_id: str, **extra) -> dict:
    return client.call("join_session", {"session_id": session_id, **extra}, timeout=10)


def presences(client) -> list[dict]:
    return [data for name, data in client.received if name == "presence"]


def drop_tcp(client) -> None:
    """Cut the TCP connection with no Socket.IO goodbye; close() alone would not
    (docs/stack-notes.md, "Tests")."""
    sock = client.eio.ws.sock
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_two_clients_count_two_and_a_leave_makes_one(server, sio_clients, transport) -> None:
    session_id = create_session(server)
    ada = sio_clients(server.url, "Ada", transport)
    bob = sio_clients(server.url, "Bob", transport)
    assert join(ada, session_id)["ok"] is True
    ack = join(bob, session_id)
    assert ack["session"]["active_clients"] == 2
    assert [c["name"] for c in ack["clients"]] == ["Ada", "Bob"]
    wait_for(lambda: presences(ada), 5, "Ada never heard Bob join")
    assert presences(ada)[-1]["active_clients"] == 2
    assert active_clients(server, session_id) == 2

    assert bob.call("leave_session", {"session_id": session_id}, timeout=10)["ok"] is True
    wait_for(lambda: len(presences(ada)) == 2, 5, "Ada never heard Bob leave")
    assert presences(ada)[-1]["active_clients"] == 1
    assert [c["name"] for c in presences(ada)[-1]["left"]] == ["Bob"]
    assert active_clients(server, session_id) == 1


def test_an_abrupt_tcp_drop_is_counted_out(server, sio_clients, e2e_database_url) -> None:
    session_id = create_session(server)
    watcher = sio_clients(server.url, "Watcher")
    dropper = sio_clients(server.url, "Dropper")
    join(watcher, session_id)
    join(dropper, session_id)
    # Presence is coalesced per room (PRESENCE_COALESCE_MS): someone who comes and goes within
    # one window is never announced, so the watcher first hears of the dropper's arrival.
    wait_for(lambda: presences(watcher) and presences(watcher)[-1]["joined"], 5, "no join")
    drop_tcp(dropper)
    # A closed TCP connection is noticed at once; ping interval + timeout (3 s) is the bound.
    wait_for(lambda: active_clients(server, session_id) == 1, 3 + 2, "the dropped client stayed")
    wait_for(lambda: presences(watcher) and presences(watcher)[-1]["left"], 5, "no presence")
    assert left_reasons(e2e_database_url, session_id)[1] in {"transport_close", "transport_error"}


# engine.io names the same event differently per transport: a websocket whose reads time out
# after ping interval + timeout closes as "transport close"; a poller that stops polling is a
# "ping timeout".
SILENT_PEER_REASONS = {
    "websocket": {"transport_close", "ping_timeout"},
    "polling": {"ping_timeout"},
}


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_silent_peer_is_dropped_within_the_ping_bound(
    server, e2e_database_url, transport
) -> None:
    """A client process that stops answering (SIGSTOP) keeps its TCP connection open."""
    session_id = create_session(server)
    child = subprocess.Popen(
        [sys.executable, str(CLIENT_SCRIPT), server.url, session_id, transport],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "joined"
        assert active_clients(server, session_id) == 1
        os.kill(child.pid, signal.SIGSTOP)
        # ping interval 1 s + ping timeout 2 s, plus slack for a loaded machine
        wait_for(lambda: active_clients(server, session_id) == 0, 3 + 3, "silent peer stayed")
        [reason] = left_reasons(e2e_database_url, session_id)
        assert reason in SILENT_PEER_REASONS[transport]
    finally:
        child.kill()
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()


def test_fifty_clients_that_join_and_drop_leave_nothing_behind(server, sio_clients) -> None:
    session_id = create_session(server)
    clients = [sio_clients(server.url, f"client-{n}") for n in range(50)]
    for client in clients:
        assert join(client, session_id)["ok"] is True
    assert active_clients(server, session_id) == 50
    for n, client in enumerate(clients):
        if n % 2:
            drop_tcp(client)
        else:
            client.disconnect()
    wait_for(lambda: active_clients(server, session_id) == 0, 10, "clients left behind")
    metrics = requests.get(f"{server.api}/sessions/metrics", timeout=5).json()
    assert metrics["connected_clients"] == 0
    body = requests.get(f"{server.api}/sessions/{session_id}", timeout=5).json()
    assert body["peak_clients"] == 50


def test_ending_a_session_tells_connected_clients(server, sio_clients) -> None:
    session_id = create_session(server)
    ada = sio_clients(server.url, "Ada")
    join(ada, session_id)
    response = requests.delete(f"{server.api}/sessions/{session_id}", headers=ADMIN, timeout=5)
    assert response.status_code == 200
    wait_for(lambda: any(name == "session_ended" for name, _ in ada.received), 5, "not told")
    [ended] = [data for name, data in ada.received if name == "session_ended"]
    assert ended == {"session_id": session_id, "reason": "ended_by_admin"}
    assert active_clients(server, session_id) == 0


def test_a_malformed_auth_is_refused_with_a_reason(server) -> None:
    client = socketio.Client(reconnection=False)
    refusals = []
    client.on("connect_error", refusals.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(server.url, auth={"name": "x" * 65}, transports=["websocket"])
    [refusal] = refusals
    assert refusal["message"].startswith("invalid_auth: name:")
    assert refusal["data"]["code"] == "invalid_auth"


def test_a_message_over_the_payload_limit_is_not_accepted(start_server, sio_clients) -> None:
    server = start_server(MAX_PAYLOAD_BYTES="2048")
    session_id = create_session(server)
    client = sio_clients(server.url, "Big")
    join(client, session_id)
    client.emit("join_session", {"session_id": session_id, "name": "x" * 10_000})
    wait_for(lambda: not client.connected, 5, "an oversized message was accepted")
    wait_for(lambda: active_clients(server, session_id) == 0, 5, "its membership stayed open")
