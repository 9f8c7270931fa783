"""The shared document against real eventlet servers: broadcasts, catch-up, crashes, races."""

from __future__ import annotations

import threading

import requests

from tests.e2e.conftest import create_session, wait_for


def join(client, session_id: str, **extra) -> dict:
    return client.call("join_session", {"session_id": session_id, **extra}, timeout=10)


def add_node(client, session_id: str, node_id: str, **props) -> dict:
    op = {"type": "add_node", "node_id": node_id, "props": props}
    return client.call("operation", {"session_id": session_id, "op": op}, timeout=10)


def operations(client) -> list[dict]:
    return [data for name, data in client.received if name == "operation"]


def document(server, session_id: str) -> dict:
    return requests.get(f"{server.api}/sessions/{session_id}/document", timeout=5).json()


def test_operations_reach_the_other_client_only(server, sio_clients) -> None:
    session_id = create_session(server)
    ada, bob = sio_clients(server.url, "Ada"), sio_clients(server.url, "Bob")
    join(ada, session_id)
    join(bob, session_id)
    assert add_node(ada, session_id, "n1", x=1) == {"ok": True, "version": 1}
    undo = bob.call("undo", {"session_id": session_id}, timeout=10)
    assert undo == {"ok": True, "version": 2, "op": {"type": "delete_node", "node_id": "n1"}}
    wait_for(lambda: operations(ada) and operations(bob), 5, "an operation was not delivered")
    [to_bob] = operations(bob)
    assert to_bob["version"] == 1 and to_bob["op"]["node_id"] == "n1"
    assert to_bob["client"]["name"] == "Ada"
    [to_ada] = operations(ada)
    assert to_ada["version"] == 2 and to_ada["client"]["name"] == "Bob"


def test_a_client_that_reconnects_catches_up_from_its_version(server, sio_clients) -> None:
    session_id = create_session(server)
    writer = sio_clients(server.url, "Writer")
    reader = sio_clients(server.url, "Reader")
    join(writer, session_id)
    assert join(reader, session_id)["document"] == {"version": 0, "nodes": []}
    add_node(writer, session_id, "a")
    wait_for(lambda: operations(reader), 5, "the reader missed an operation")
    held = operations(reader)[-1]["version"]
    reader.disconnect()
    add_node(writer, session_id, "b")
    writer.call("undo", {"session_id": session_id}, timeout=10)
    add_node(writer, session_id, "c")

    back = sio_clients(server.url, "Reader")
    ack = join(back, session_id, since_version=held)
    assert "document" not in ack
    assert [entry["version"] for entry in ack["ops"]] == [2, 3, 4]
    assert [entry["op"]["type"] for entry in ack["ops"]] == ["add_node", "delete_node", "add_node"]
    assert ack["version"] == 4


def test_every_acknowledged_operation_survives_kill_9(start_server, sio_clients) -> None:
    server = start_server()
    session_id = create_session(server)
    client = sio_clients(server.url, "Writer")
    join(client, session_id)
    acked = [add_node(client, session_id, f"n{n}", n=n)["version"] for n in range(40)]
    assert acked == list(range(1, 41))
    server.kill()

    restarted = start_server()
    body = document(restarted, session_id)
    assert body["version"] == 40
    assert sorted(node["node_id"] for node in body["nodes"]) == sorted(f"n{n}" for n in range(40))
    info = requests.get(f"{restarted.api}/sessions/{session_id}/info", timeout=5).json()
    assert info["node_count"] == 40 and info["undo_available"] is True


def test_concurrent_writers_on_two_processes_get_one_total_order(start_server, sio_clients):
    """Two server processes share the database; each client writes 100 nodes at once."""
    first, second = start_server(), start_server()
    session_id = create_session(first)
    clients = [sio_clients(first.url, "One"), sio_clients(second.url, "Two")]
    for client in clients:
        assert join(client, session_id)["ok"] is True
    versions: list[list[int]] = [[], []]
    failures: list[dict] = []

    def write(index: int) -> None:
        for n in range(100):
            ack = add_node(clients[index], session_id, f"w{index}-{n}")
            if ack.get("ok"):
                versions[index].append(ack["version"])
            else:
                failures.append(ack)

    threads = [threading.Thread(target=write, args=(index,)) for index in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    every = versions[0] + versions[1]
    assert sorted(every) == list(range(1, 201))  # no duplicates, no gaps
    assert versions[0] == sorted(versions[0]) and versions[1] == sorted(versions[1])
    body = document(second, session_id)
    assert body["version"] == 200 and len(body["nodes"]) == 200
    detail = requests.get(f"{first.api}/sessions/{session_id}", timeout=5).json()
    assert detail["node_count"] == 200
