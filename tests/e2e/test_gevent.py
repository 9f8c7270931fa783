"""ASYNC_MODE=gevent is a supported option (requirements-gevent.txt): the same server, served by
gevent, passes a smoke run of joins, presence, operations, disconnects and a graceful stop."""

from __future__ import annotations

import importlib.util
import signal

import pytest

from tests.e2e.conftest import SQLITE_ONLY, active_clients, create_session, wait_for
from tests.e2e.test_js_client import run_presence_script

pytestmark = [
    SQLITE_ONLY,
    pytest.mark.skipif(
        importlib.util.find_spec("gevent") is None
        or importlib.util.find_spec("geventwebsocket") is None,
        reason="ASYNC_MODE=gevent needs requirements-gevent.txt installed",
    ),
]


@pytest.fixture()
def gevent_server(start_server):
    server = start_server(ASYNC_MODE="gevent")
    assert "async=gevent" in server.log()
    return server


def test_the_javascript_client_works_against_gevent(gevent_server, node_client) -> None:  # noqa: F811
    session_id = create_session(gevent_server)
    report = run_presence_script(node_client, gevent_server.url, session_id)
    assert report["bobJoin"]["session"]["active_clients"] == 2
    joined, left = report["adaPresence"][:2]
    assert joined["joined"][0]["name"] == "Bob" and left["left"][0]["name"] == "Bob"
    wait_for(lambda: active_clients(gevent_server, session_id) == 0, 5, "clients stayed counted")


def test_operations_reach_the_room_and_a_sigterm_stops_cleanly(gevent_server, sio_clients) -> None:
    session_id = create_session(gevent_server)
    writer, reader = sio_clients(gevent_server.url, "W"), sio_clients(gevent_server.url, "R")
    received: list[dict] = []
    reader.on("operation", received.append)
    for client in (writer, reader):
        assert client.call("join_session", {"session_id": session_id}, timeout=10)["ok"]
    op = {"type": "add_node", "node_id": "n", "props": {"x": 1}}
    ack = writer.call("operation", {"session_id": session_id, "op": op}, timeout=10)
    assert ack == {"ok": True, "version": 1}
    wait_for(lambda: received, 5, "the reader never got the operation")
    assert received[0]["op"] == op and received[0]["version"] == 1
    gevent_server.process.send_signal(signal.SIGTERM)
    assert gevent_server.process.wait(10) == 0
    assert "scheduler stopped" in gevent_server.log()
