"""Races between processes on one database: limits hold exactly, a join never slips past an end,
and N processes sweep once per interval.

Each test fires its requests from threads released together by a barrier, against two or three
real `python app.py` processes, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
import socketio
from sqlalchemy import create_engine, text

from tests.e2e.conftest import ADMIN, active_clients, create_session, wait_for
from tests.e2e.server import ServerProcess

REDIS_ENV = "TEST_REDIS_URL"


def queue_env() -> dict[str, str]:
    """A message queue of this test's own, so `session_ended` crosses processes."""
    redis_url = os.environ.get(REDIS_ENV)
    if not redis_url:
        pytest.skip(f"the cross-process tests need {REDIS_ENV}")
    return {
        "SOCKETIO_MESSAGE_QUEUE": redis_url,
        "SOCKETIO_CHANNEL": f"sessionhub-test-{uuid.uuid4().hex}",
    }


def scalar(database_url: str, sql: str, **params: Any) -> Any:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def together(count: int, action: Callable[[int], Any]) -> list[Any]:
    """Run `action(i)` for i in range(count) from `count` threads released at one moment."""
    barrier = threading.Barrier(count)

    def run(index: int) -> Any:
        barrier.wait(timeout=30)
        return action(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def connect_many(make: Callable[..., socketio.Client], urls: list[str]) -> list[socketio.Client]:
    with ThreadPoolExecutor(max_workers=10) as pool:
        return list(pool.map(lambda url: make(url), urls))


def test_the_active_session_limit_holds_across_processes(start_server, e2e_database_url) -> None:
    limit = {"SESSION_MAX_CONCURRENT": "5"}
    servers = [start_server(INSTANCE_NAME=f"race-{i}", **limit) for i in range(2)]

    def create(index: int) -> int:
        server = servers[index % 2]
        return requests.post(f"{server.api}/sessions", json={"project_id": "r"}, timeout=30)

    answers = together(40, create)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * 5 + [429] * 35
    refused = [a.json()["error"]["code"] for a in answers if a.status_code == 429]
    assert set(refused) == {"session_limit_reached"}
    active = scalar(e2e_database_url, "SELECT count(*) FROM sessions WHERE is_active")
    assert active == 5


def join_all(clients: list[socketio.Client], session_id: str) -> list[dict[str, Any]]:
    """Every client calls join_session at one moment."""
    payload = {"session_id": session_id}
    return together(len(clients), lambda i: clients[i].call("join_session", payload, timeout=30))


def open_memberships(database_url: str, session_id: str) -> int:
    sql = "SELECT count(*) FROM memberships WHERE session_id = :s AND left_at IS NULL"
    return scalar(database_url, sql, s=session_id)


def test_the_client_limit_holds_across_processes(
    start_server, sio_clients, e2e_database_url
) -> None:
    limit = {"SESSION_MAX_CLIENTS": "5"}
    servers = [start_server(INSTANCE_NAME=f"race-{i}", **limit) for i in range(2)]
    for _round in range(2):
        session_id = create_session(servers[0])
        clients = connect_many(sio_clients, [servers[i % 2].url for i in range(30)])
        acks = join_all(clients, session_id)
        assert sum(ack["ok"] for ack in acks) == 5
        assert {ack["error"]["code"] for ack in acks if not ack["ok"]} == {"session_full"}
        assert active_clients(servers[1], session_id) == 5
        assert open_memberships(e2e_database_url, session_id) == 5
        for client in clients:
            client.disconnect()


def race_joins_against_an_end(
    servers: list[ServerProcess], clients: list[socketio.Client], session_id: str
) -> tuple[list[tuple[dict[str, Any], float]], float]:
    """Every client joins while an admin's DELETE is released with them; returns each join's
    ack with the moment it arrived, and the moment the DELETE answered."""
    ended_at: list[float] = []
    joiners = len(clients)

    def act(index: int) -> tuple[dict[str, Any], float] | None:
        if index == joiners:  # the admin
            time.sleep(0.02)  # lets a few joins commit first, so the race is real
            url = f"{servers[1].api}/sessions/{session_id}"
            assert requests.delete(url, headers=ADMIN, timeout=30).status_code == 200
            ended_at.append(time.monotonic())
            return None
        ack = clients[index].call("join_session", {"session_id": session_id}, timeout=30)
        return ack, time.monotonic()

    return together(joiners + 1, act)[:joiners], ended_at[0]


def heard_the_end(client: socketio.Client) -> bool:
    return any(name == "session_ended" for name, _ in client.received)


def test_every_join_that_commits_hears_the_end(start_server, sio_clients, e2e_database_url) -> None:
    """A DELETE lands in the middle of a burst of joins from two processes: whoever got in is
    told the session ended, and nobody is left inside it."""
    queue = queue_env()
    servers = [start_server(INSTANCE_NAME=f"race-{i}", **queue) for i in range(2)]
    for _round in range(3):
        session_id = create_session(servers[0])
        clients = connect_many(sio_clients, [servers[i % 2].url for i in range(20)])
        results, ended_at = race_joins_against_an_end(servers, clients, session_id)
        joined = [clients[i] for i, (ack, _) in enumerate(results) if ack["ok"]]
        assert {ack["error"]["code"] for ack, _ in results if not ack["ok"]} <= {"session_ended"}
        # An ack that arrived well after the DELETE answered was decided after the end.
        assert all(not ack["ok"] for ack, at in results if at > ended_at + 0.5)
        wait_for(
            lambda joined=joined: all(heard_the_end(client) for client in joined),
            15,
            "a client whose join was acknowledged missed the end",
        )
        assert open_memberships(e2e_database_url, session_id) == 0
        assert active_clients(servers[0], session_id) == 0
        for client in clients:
            client.disconnect()


def test_three_processes_sweep_once_per_interval(start_server, e2e_database_url) -> None:
    timers = {"SESSION_CLEANUP_INTERVAL": "1"}
    servers = [start_server(INSTANCE_NAME=f"sweeper-{i}", **timers) for i in range(3)]
    first = scalar(e2e_database_url, "SELECT count(*) FROM sweep_runs")
    started = time.monotonic()
    time.sleep(6)  # the duration is the point: six intervals of three schedulers
    runs = scalar(e2e_database_url, "SELECT count(*) FROM sweep_runs WHERE trigger = 'scheduler'")
    elapsed = time.monotonic() - started
    slots = scalar(e2e_database_url, "SELECT count(*) FROM sweep_slots")
    # Without claims three schedulers would record about three runs a second.
    assert runs - first <= elapsed + 2, (runs, elapsed)
    assert runs >= elapsed / 2, (runs, elapsed)
    assert slots >= runs - first
    metrics = requests.get(f"{servers[2].api}/sessions/metrics", timeout=10).json()
    assert metrics["sweeper"]["runs"] >= runs


def test_a_join_burst_does_not_stall_another_session_on_postgresql(
    start_server, sio_clients, e2e_database_url
) -> None:
    if not e2e_database_url.startswith("postgresql"):
        pytest.skip("the pool and row locks under a burst are PostgreSQL's")
    # Production ping timings: 200 clients in this one test process answer pings late.
    server: ServerProcess = start_server(
        SOCKET_RATE_LIMIT="1000", SOCKETIO_PING_INTERVAL="25", SOCKETIO_PING_TIMEOUT="20"
    )
    calm, busy = create_session(server), create_session(server)
    writer, reader = sio_clients(server.url, "writer"), sio_clients(server.url, "reader")
    for client in (writer, reader):
        assert client.call("join_session", {"session_id": calm}, timeout=10)["ok"]
    crowd = connect_many(sio_clients, [server.url] * 200)
    latencies: list[float] = []
    failures: list[Any] = []
    stop = threading.Event()

    def write_continuously() -> None:
        version = 0
        while not stop.is_set():
            version += 1
            op = {"type": "add_node", "node_id": f"n{version}", "props": {}}
            sent = time.monotonic()
            ack = writer.call("operation", {"session_id": calm, "op": op}, timeout=10)
            latencies.append(time.monotonic() - sent)
            if not ack["ok"]:
                failures.append(ack)
                return
            wait_for(
                lambda v=version: any(
                    name == "operation" and data["version"] >= v for name, data in reader.received
                ),
                10,
                "an operation in the calm session did not arrive",
            )
            latencies.append(time.monotonic() - sent)

    writer_thread = threading.Thread(target=write_continuously)
    writer_thread.start()
    try:
        acks = together(
            200, lambda i: crowd[i].call("join_session", {"session_id": busy}, timeout=120)
        )
    finally:
        stop.set()
        writer_thread.join(30)
    assert failures == []
    assert all(ack["ok"] for ack in acks)
    assert active_clients(server, busy) == 200
    assert latencies, "the writer sent nothing during the burst"
    print(f"burst: {len(latencies) // 2} operations, slowest {max(latencies) * 1000:.0f} ms")
    assert max(latencies) < 1.0, f"an operation took {max(latencies):.2f} s during the burst"
