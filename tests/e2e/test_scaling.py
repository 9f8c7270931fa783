"""Several server processes behind one Redis message queue behave as one server."""

from __future__ import annotations

import pytest
import requests

from tests.e2e.conftest import ADMIN, active_clients, create_session, message_queue_env, wait_for


@pytest.fixture()
def cluster(start_server):
    """Two processes on the same database and a message-queue channel of this test's own."""
    queue = message_queue_env()
    return start_server(INSTANCE_NAME="e2e-a", **queue), start_server(
        INSTANCE_NAME="e2e-b", **queue
    )


def received(client, event: str) -> list[dict]:
    return [data for name, data in client.received if name == event]


def test_rooms_span_processes(cluster, sio_clients) -> None:
    first, second = cluster
    session_id = create_session(first)
    ada = sio_clients(first.url, "Ada")
    bob = sio_clients(second.url, "Bob")
    assert ada.call("join_session", {"session_id": session_id}, timeout=10)["ok"]
    ack = bob.call("join_session", {"session_id": session_id}, timeout=10)
    assert ack["session"]["active_clients"] == 2  # counts come from the shared database
    wait_for(lambda: received(ada, "presence"), 5, "presence did not cross processes")
    assert received(ada, "presence")[-1]["joined"][0]["name"] == "Bob"

    op = {"type": "add_node", "node_id": "n1", "props": {"x": 1}}
    assert bob.call("operation", {"session_id": session_id, "op": op}, timeout=10)["ok"]
    wait_for(lambda: received(ada, "operation"), 5, "the operation did not cross processes")
    assert received(ada, "operation")[0]["version"] == 1
    assert received(bob, "operation") == []

    response = requests.delete(f"{first.api}/sessions/{session_id}", headers=ADMIN, timeout=5)
    assert response.status_code == 200
    wait_for(lambda: received(bob, "session_ended"), 5, "session_ended did not cross processes")
    assert active_clients(second, session_id) == 0


def test_ephemeral_state_and_signals_span_processes(cluster, sio_clients) -> None:
    """DESIGN section 12 across two processes: a state set on one process reaches the room on
    the other and is in the join ack there (the states live in Redis); a signal crosses too;
    a disconnect on one process clears the state on the other."""
    first, second = cluster
    session_id = create_session(first)
    ada = sio_clients(first.url, "Ada")
    bob = sio_clients(second.url, "Bob")
    ada_id = ada.call("join_session", {"session_id": session_id}, timeout=10)["clients"][0][
        "client_id"
    ]
    assert bob.call("join_session", {"session_id": session_id}, timeout=10)["ok"]
    cursor = {"x": 1, "y": 2}
    assert ada.call("set_state", {"session_id": session_id, "state": cursor}, timeout=10)["ok"]
    wait_for(lambda: received(bob, "state"), 5, "the state did not cross processes")
    assert received(bob, "state")[0] == {
        "session_id": session_id,
        "client_id": ada_id,
        "state": cursor,
    }
    cy = sio_clients(second.url, "Cy")
    assert cy.call("join_session", {"session_id": session_id}, timeout=10)["states"] == {
        ada_id: cursor
    }
    signal = {"session_id": session_id, "event": "nudge", "data": {"to": "Bob"}}
    assert ada.call("signal", signal, timeout=10)["ok"]
    wait_for(lambda: received(bob, "signal"), 5, "the signal did not cross processes")
    assert received(bob, "signal")[0]["data"] == {"to": "Bob"}
    ada.disconnect()
    wait_for(
        lambda: (
            {"session_id": session_id, "client_id": ada_id, "state": None} in received(bob, "state")
        ),
        10,
        "the cleared state did not cross processes",
    )
    dan = sio_clients(second.url, "Dan")
    assert dan.call("join_session", {"session_id": session_id}, timeout=10)["states"] == {}
