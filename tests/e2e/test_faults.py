"""Faults under load against real servers: kill -9, a PostgreSQL restart, a Redis restart, and
100 TCP connections cut at once. Each test checks that nothing acknowledged is lost and that no
count is left that nobody holds (DESIGN sections 6, 8 and 9).

The database and Redis that these tests stop are private ones (tests/e2e/private_services.py);
the shared services on 5432/6379 are only used where nothing stops them.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import socketio
from socketio.exceptions import SocketIOError
from sqlalchemy import create_engine, text

from tests.e2e.conftest import active_clients, create_session, left_reasons, wait_for
from tests.e2e.private_services import (  # noqa: F401 (pytest fixtures, found by name)
    PrivatePostgres,
    PrivateRedis,
    launch_server_fixture,
    private_postgres_fixture,
    private_redis_fixture,
)
from tests.e2e.server import ServerProcess

# A refused event must answer well within this; a call that times out is a hang, not an answer.
CALL_TIMEOUT = 10.0
# Operations are sent back to back: the default 50/s per connection would refuse some of them.
UNLIMITED = {"SOCKET_RATE_LIMIT": "10000"}


def join(client: socketio.Client, session_id: str, **extra: Any) -> dict[str, Any]:
    return client.call("join_session", {"session_id": session_id, **extra}, timeout=CALL_TIMEOUT)


def send_op(
    client: socketio.Client, session_id: str, op: dict[str, Any], timeout: float = CALL_TIMEOUT
) -> dict[str, Any]:
    return client.call("operation", {"session_id": session_id, "op": op}, timeout=timeout)


class ConnectionDropped(Exception):
    """The connection went away before the ack came: the call can never be answered."""


def call_until_dropped(
    client: socketio.Client, event: str, data: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """`client.call`, but it gives up as soon as the connection drops: python-socketio's own
    call waits out its whole timeout after a disconnect, which after a kill -9 only costs time."""
    answered = threading.Event()
    answer: list[Any] = []

    def on_ack(*args: Any) -> None:
        answer.append(args[0] if args else None)
        answered.set()

    client.emit(event, data, callback=on_ack)
    deadline = time.monotonic() + timeout
    while not answered.wait(0.05):
        if not client.connected and not answered.is_set():
            raise ConnectionDropped(event)
        if time.monotonic() > deadline:
            raise TimeoutError(event)
    return answer[0]


def document(server: ServerProcess, session_id: str) -> dict[str, Any]:
    response = requests.get(f"{server.api}/sessions/{session_id}/document", timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def health_status(server: ServerProcess) -> int | None:
    try:
        return requests.get(f"{server.api}/health", timeout=5).status_code
    except requests.RequestException:
        return None


def open_memberships(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            query = text("SELECT count(*) FROM memberships WHERE left_at IS NULL")
            return connection.execute(query).scalar_one()
    finally:
        engine.dispose()


# --- a. kill -9 while 20 clients stream operations ---------------------------------------------


@dataclass
class Writer:
    """One client streaming add_node/update_node into its session, remembering every ack."""

    client: socketio.Client
    session_id: str
    name: str
    acked: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (version, op)
    added: set[str] = field(default_factory=set)
    last_update: dict[str, int] = field(default_factory=dict)  # node -> newest acked "n"
    ended_by: str | None = None

    def stream(self, stop: threading.Event) -> None:
        """Add a node, update it three times, repeat, until the server dies or `stop` is set.

        Every node and every update is this writer's own, so the final props of a node are
        known: its "n" is at least the newest acknowledged update's (a later update may have
        committed without its ack reaching us before the kill)."""
        number = 0
        while not stop.is_set():
            node_id = f"{self.name}-{number}"
            number += 1
            ops = [{"type": "add_node", "node_id": node_id, "props": {"n": 0, "by": self.name}}]
            ops += [
                {"type": "update_node", "node_id": node_id, "props": {"n": n}} for n in (1, 2, 3)
            ]
            for op in ops:
                payload = {"session_id": self.session_id, "op": op}
                try:
                    ack = call_until_dropped(self.client, "operation", payload, CALL_TIMEOUT)
                except (ConnectionDropped, SocketIOError, OSError) as error:
                    self.ended_by = type(error).__name__
                    return
                if not ack.get("ok"):
                    self.ended_by = f"refused: {ack}"
                    return
                self.acked.append((ack["version"], op))
                if op["type"] == "add_node":
                    self.added.add(node_id)
                else:
                    self.last_update[node_id] = op["props"]["n"]


WRITERS = 20
SESSIONS = 4
# Enough acknowledged operations that the kill lands in a stream, not before it.
ACKED_BEFORE_KILL = 600


def test_kill_9_under_20_streaming_clients_loses_no_acknowledged_operation(
    start_server: Callable[..., ServerProcess],
    sio_clients: Callable[..., socketio.Client],
    e2e_database_url: str,
) -> None:
    """Operations are acked only once committed (DESIGN 5), so a kill -9 at any moment may lose
    the ones in flight but never an acknowledged one; the restarted process (same
    INSTANCE_NAME) reclaims its previous life at start-up, so its counts are exact at once
    (DESIGN 6)."""
    # A log long enough to replay every version: catch-up then proves each acked op is there.
    env = {"INSTANCE_NAME": "faults-kill9", "OPLOG_MAX": "100000", **UNLIMITED}
    server = start_server(**env)
    session_ids = [create_session(server) for _ in range(SESSIONS)]
    writers = []
    for n in range(WRITERS):
        writer = Writer(sio_clients(server.url, f"w{n}"), session_ids[n % SESSIONS], f"w{n}")
        assert join(writer.client, writer.session_id)["ok"] is True
        writers.append(writer)
    for session_id in session_ids:
        assert active_clients(server, session_id) == WRITERS // SESSIONS

    stop = threading.Event()
    threads = [threading.Thread(target=writer.stream, args=(stop,)) for writer in writers]
    for thread in threads:
        thread.start()
    try:
        wait_for(
            lambda: sum(len(w.acked) for w in writers) >= ACKED_BEFORE_KILL,
            60,
            "the writers did not get going",
        )
        assert all(w.ended_by is None for w in writers), [w.ended_by for w in writers]
        server.kill()  # mid-stream: every writer has a call in flight or about to be
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    assert not any(thread.is_alive() for thread in threads)

    restarted = start_server(**env)
    # The restart reclaimed its own earlier life before serving: exact counts, no waiting.
    for session_id in session_ids:
        assert active_clients(restarted, session_id) == 0
        assert left_reasons(e2e_database_url, session_id) == ["instance_dead"] * (
            WRITERS // SESSIONS
        )
    assert open_memberships(e2e_database_url) == 0

    reader = sio_clients(restarted.url, "reader")
    for session_id in session_ids:
        mine = [w for w in writers if w.session_id == session_id]
        acked = [entry for w in mine for entry in w.acked]
        versions = [version for version, _ in acked]
        assert len(set(versions)) == len(versions), "two acks carried the same version"
        body = document(restarted, session_id)
        assert body["version"] >= max(versions)
        nodes = {node["node_id"]: node["props"] for node in body["nodes"]}
        for w in mine:
            assert w.added <= set(nodes), f"acked nodes missing: {sorted(w.added - set(nodes))}"
            for node_id, n in w.last_update.items():
                assert nodes[node_id]["n"] >= n and nodes[node_id]["by"] == w.name
        # Replaying the log from 0: every acknowledged version holds exactly the op acked.
        ack = join(reader, session_id, since_version=0)
        assert ack["ok"] is True and "ops" in ack, ack
        logged = {entry["version"]: entry["op"] for entry in ack["ops"]}
        assert sorted(logged) == list(range(1, body["version"] + 1))
        for version, op in acked:
            assert logged[version]["type"] == op["type"]
            assert logged[version]["node_id"] == op["node_id"]
            assert logged[version].get("props") == op["props"]
    total = sum(len(w.acked) for w in writers)
    print(f"{total} acknowledged operations, writers ended by {[w.ended_by for w in writers]}")


# --- b. PostgreSQL restarted under load ---------------------------------------------------------


@dataclass
class Streamer:
    """Sends add_node after add_node and records how each call ended and how long it took."""

    client: socketio.Client
    session_id: str
    name: str
    # (monotonic start, seconds taken, ack or None for an exception, exception name)
    calls: list[tuple[float, float, dict[str, Any] | None, str | None]] = field(
        default_factory=list
    )

    def stream(self, stop: threading.Event) -> None:
        number = 0
        while not stop.is_set():
            op = {"type": "add_node", "node_id": f"{self.name}-{number}", "props": {"n": number}}
            number += 1
            started = time.monotonic()
            try:
                ack = send_op(self.client, self.session_id, op)
                self.calls.append((started, time.monotonic() - started, ack, None))
            except (SocketIOError, OSError) as error:
                self.calls.append((started, time.monotonic() - started, None, type(error).__name__))
                return
            time.sleep(0.02)  # load, not a flood: the outage, not the rate limit, is under test

    def acks_since(self, moment: float) -> list[dict[str, Any]]:
        return [ack for started, _, ack, _ in list(self.calls) if started >= moment and ack]


def test_a_postgresql_restart_under_load_answers_errors_then_recovers(
    private_postgres: PrivatePostgres,
    launch_server: Callable[..., ServerProcess],
    sio_clients: Callable[..., socketio.Client],
) -> None:
    """While the database is down the process stays up, says so on /health (503) and refuses
    events with an error ack at once (no call may hang: a client would freeze); when the
    database returns, everything works again without a restart."""
    server = launch_server(private_postgres.url, INSTANCE_NAME="faults-pg", **UNLIMITED)
    session_id = create_session(server)
    streamers = [Streamer(sio_clients(server.url, f"s{n}"), session_id, f"s{n}") for n in range(3)]
    for streamer in streamers:
        assert join(streamer.client, session_id)["ok"] is True
    late = sio_clients(server.url, "late")  # connected, joins only during the outage

    stop = threading.Event()
    threads = [threading.Thread(target=s.stream, args=(stop,)) for s in streamers]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: all(len(s.acks_since(0)) >= 10 for s in streamers), 30, "no load before")
        stopped_at = time.monotonic()
        private_postgres.stop()
        wait_for(lambda: health_status(server) == 503, 10, "/health stayed 200 with no database")
        assert server.process is not None and server.process.poll() is None
        # Each streamer gets refusals while the database is down, answered, not hung.
        wait_for(
            lambda: all(
                sum(not ack["ok"] for ack in s.acks_since(stopped_at)) >= 3 for s in streamers
            ),
            CALL_TIMEOUT + 10,
            "events were not refused while the database was down",
        )
        started = time.monotonic()
        refused_join = join(late, session_id)
        assert time.monotonic() - started < CALL_TIMEOUT
        assert health_status(server) == 503  # still down: the refusals were the outage's
        private_postgres.start()
        wait_for(lambda: health_status(server) == 200, 30, "/health did not recover")
        recovered_at = time.monotonic()
        wait_for(
            lambda: all(any(ack["ok"] for ack in s.acks_since(recovered_at)) for s in streamers),
            CALL_TIMEOUT + 10,
            "operations did not succeed again",
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(CALL_TIMEOUT + 5)
    assert not any(thread.is_alive() for thread in threads)

    # Every call returned an ack, none timed out, and refusals say what went wrong.
    for streamer in streamers:
        assert all(error is None for _, _, _, error in streamer.calls), streamer.calls[-5:]
        assert max(taken for _, taken, _, _ in streamer.calls) < CALL_TIMEOUT
        for started, taken, ack, _ in streamer.calls:
            assert ack is not None
            if not ack["ok"]:
                # A call in flight when the database stopped is refused too: overlap counts.
                during = started <= recovered_at and started + taken >= stopped_at
                assert during, f"refused outside the outage: {ack}"
                assert isinstance(ack["error"]["code"], str) and ack["error"]["code"]
                assert ack["error"]["message"]
        # After /health said 200, nothing was refused.
        assert all(ack["ok"] for ack in streamer.acks_since(recovered_at))
    assert refused_join["ok"] is False and refused_join["error"]["code"], refused_join

    # The process never restarted, and its clients are still members: joins work again.
    assert join(late, session_id)["ok"] is True
    assert active_clients(server, session_id) == 4
    acked = [ack["version"] for s in streamers for ack in s.acks_since(0) if ack["ok"]]
    assert len(set(acked)) == len(acked)
    body = document(server, session_id)
    assert body["version"] >= max(acked)
    expected = {
        f"{s.name}-{n}" for s in streamers for n, (_, _, ack, _) in enumerate(s.calls) if ack["ok"]
    }
    assert expected <= {node["node_id"] for node in body["nodes"]}
    codes = {a["error"]["code"] for s in streamers for a in s.acks_since(0) if not a["ok"]}
    print(f"refusal codes while the database was down: {sorted(codes)}")


# --- c. Redis restarted under two processes -----------------------------------------------------


def operations_seen(client: socketio.Client) -> set[str]:
    return {data["op"]["node_id"] for name, data in list(client.received) if name == "operation"}


REDIS_OUTAGE_SECS = 1.5


@pytest.mark.parametrize("e2e_database_url", ["postgresql"], indirect=True)
def test_cross_process_broadcasts_resume_after_redis_restarts(
    private_redis: PrivateRedis,
    start_server: Callable[..., ServerProcess],
    sio_clients: Callable[..., socketio.Client],
) -> None:
    """Rooms span processes only through the message queue (DESIGN 8). A Redis restart loses
    what was published while it was down (clients catch up from the log), but the processes
    must resubscribe by themselves: nobody restarts the app servers after a Redis blip."""
    queue = {"SOCKETIO_MESSAGE_QUEUE": private_redis.url, **UNLIMITED}
    first = start_server(INSTANCE_NAME="faults-redis-a", **queue)
    second = start_server(INSTANCE_NAME="faults-redis-b", **queue)
    session_id = create_session(first)
    ada, bob = sio_clients(first.url, "Ada"), sio_clients(second.url, "Bob")
    assert join(ada, session_id)["ok"] is True
    assert join(bob, session_id)["ok"] is True
    counter = iter(range(10_000))

    def add(client: socketio.Client) -> str:
        node_id = f"n{next(counter)}"
        ack = send_op(client, session_id, {"type": "add_node", "node_id": node_id, "props": {}})
        assert ack["ok"] is True, ack
        return node_id

    def crosses(sender: socketio.Client, receiver: socketio.Client, within: float) -> bool:
        node_id = add(sender)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if node_id in operations_seen(receiver):
                return True
            time.sleep(0.05)
        return False

    assert crosses(ada, bob, 5) and crosses(bob, ada, 5), "no cross-process broadcast at all"

    private_redis.stop()
    # Editing does not depend on the queue: operations are still acknowledged (and logged).
    add(ada)
    add(bob)
    # A deliberate outage length: longer than python-socketio's first resubscribe attempt
    # (1 s), so the processes must get through a failed retry, as in a real Redis restart.
    time.sleep(REDIS_OUTAGE_SECS)
    private_redis.start()

    for sender, receiver in ((ada, bob), (bob, ada)):
        deadline = time.monotonic() + 30
        while not crosses(sender, receiver, 0.5):
            assert time.monotonic() < deadline, "broadcasts did not resume after the restart"
        # Resumed for good: every later operation crosses.
        sent = [add(sender) for _ in range(5)]
        wait_for(
            lambda sent=sent, receiver=receiver: set(sent) <= operations_seen(receiver),
            5,
            "some operations after the resumption did not cross",
        )
    assert health_status(first) == 200 and health_status(second) == 200


# --- d. 100 TCP connections cut at once ---------------------------------------------------------

CUT_CLIENTS = 100
DROP_REASONS = {"transport_close", "transport_error", "ping_timeout"}


def test_100_connections_cut_at_once_leave_no_membership_open(
    server: ServerProcess,
    sio_clients: Callable[..., socketio.Client],
    e2e_database_url: str,
) -> None:
    """Clients that vanish without a goodbye (a dead Wi-Fi, a killed browser) must not stay
    counted: the server sees the TCP close at once, or a ping timeout within ping interval +
    timeout (1 + 2 s here), and closes every membership."""
    session_ids = [create_session(server) for _ in range(2)]

    def connect_and_join(n: int) -> socketio.Client:
        client = sio_clients(server.url, f"c{n}")
        assert join(client, session_ids[n % 2])["ok"] is True
        return client

    with ThreadPoolExecutor(max_workers=6) as pool:
        clients = list(pool.map(connect_and_join, range(CUT_CLIENTS)))
    for session_id in session_ids:
        assert active_clients(server, session_id) == CUT_CLIENTS // 2

    for client in clients:  # no close frame, no Socket.IO disconnect: the TCP stream just ends
        client.eio.ws.sock.shutdown(socket.SHUT_RDWR)
    wait_for(
        lambda: all(active_clients(server, s) == 0 for s in session_ids),
        1 + 2 + 10,
        "cut connections stayed counted",
    )
    assert open_memberships(e2e_database_url) == 0
    for session_id in session_ids:
        reasons = left_reasons(e2e_database_url, session_id)
        assert len(reasons) == CUT_CLIENTS // 2
        assert set(reasons) <= DROP_REASONS, set(reasons)
    metrics = requests.get(f"{server.api}/sessions/metrics", timeout=5).json()
    assert metrics["connected_clients"] == 0
    assert health_status(server) == 200
