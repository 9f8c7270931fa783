"""Webhooks (DESIGN section 11) through real `python app.py` processes and a real receiver that
verifies every signature: each event once, an event pending at a kill -9 sent after the
restart, two dispatchers on PostgreSQL never sending a row twice, a hanging receiver delaying
no socket event, and nothing at all with webhooks off."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import datetime

import pytest
import requests

from tests.e2e.conftest import ADMIN, SQLITE_ONLY, create_session, message_queue_env, wait_for
from tests.e2e.server import ServerProcess, free_port
from tests.e2e.webhook_helpers import (
    EVENT_TYPES,
    PROJECT,
    Receiver,
    acknowledged_ids,
    all_delivered,
    assert_consistent,
    deliveries,
    walkthrough,
    webhook_env,
)
from tests.webhook_receiver import TEST_SECRET

POSTGRESQL_ONLY = pytest.mark.parametrize("e2e_database_url", ["postgresql"], indirect=True)
DISPATCHER_STARTED = "webhook dispatcher started"


def end_session(server: ServerProcess, session_id: str) -> None:
    response = requests.delete(f"{server.api}/sessions/{session_id}", headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text


def full_log(server: ServerProcess) -> str:
    return server.log_path.read_text(errors="replace")


# --- 1. the normal case -----------------------------------------------------------------------


def test_each_event_arrives_once_verified_and_is_listed_delivered(
    start_server, sio_clients
) -> None:
    with Receiver() as receiver:
        server = start_server(**webhook_env(receiver.url, WEBHOOK_DOCUMENT_DEBOUNCE_SECS="1"))
        session_id = walkthrough(server, sio_clients)
        wait_for(all_delivered(server, len(EVENT_TYPES)), 30, "the events were not delivered")
        bodies = assert_consistent(receiver)
        acked = acknowledged_ids(receiver)
    rows = deliveries(server)

    # Exactly one delivery per event, each acknowledged once, and the listing names them all.
    assert sorted(body["type"] for body in bodies.values()) == sorted(EVENT_TYPES)
    assert acked == dict.fromkeys(bodies, 1)
    assert {row["id"] for row in rows} == set(bodies)
    for row in rows:
        assert row["type"] == bodies[row["id"]]["type"], row
        assert row["session_id"] == session_id and row["endpoint"] == receiver.url, row
        assert (row["status"], row["attempts"], row["last_status"]) == ("delivered", 1, 200), row
        assert row["last_error"] is None and row["next_attempt_at"] is None, row
        assert row["delivered_at"] is not None, row

    by_type = {body["type"]: body for body in bodies.values()}
    for body in by_type.values():
        assert body["data"]["session_id"] == session_id, body
        assert body["data"]["project_id"] == PROJECT, body
        assert datetime.fromisoformat(body["timestamp"]).utcoffset() is not None, body
    assert by_type["session.created"]["data"]["title"] == "Webhooks board"
    joined, left = by_type["client.joined"]["data"], by_type["client.left"]["data"]
    assert (joined["name"], joined["reason"], joined["active_clients"]) == ("Ada", None, 1)
    assert (left["name"], left["reason"], left["active_clients"]) == ("Ada", "left", 0)
    assert joined["client_id"] == left["client_id"]
    assert by_type["document.changed"]["data"]["version"] == 1
    ended = by_type["session.ended"]["data"]
    assert (ended["reason"], ended["peak_clients"]) == ("ended_by_admin", 1)
    assert ended["duration_seconds"] >= 0
    assert DISPATCHER_STARTED in full_log(server)


# --- 2. kill -9 with the receiver down --------------------------------------------------------


def test_an_event_pending_at_a_kill_9_is_delivered_after_the_restart(start_server) -> None:
    """The receiver's port has nobody listening while the session ends; the process is killed
    with session.ended pending after a refused attempt; the receiver comes up and the process
    restarts (same port, same database): the outbox row and its retry survived, and the event
    is delivered exactly once."""
    port = free_port()
    env = webhook_env(
        f"http://127.0.0.1:{port}/hooks",
        INSTANCE_NAME="e2e-webhooks-kill9",
        WEBHOOK_TIMEOUT_SECS="2",  # a lease left by the kill runs out 32 s later at most
    )
    server = start_server(**env)
    session_id = create_session(server, project_id=PROJECT)
    end_session(server, session_id)
    # Its first attempt, refused, is recorded with the retry due about 5 s later.
    wait_for(
        lambda: any(row["attempts"] for row in deliveries(server, type="session.ended")),
        15,
        "session.ended was not attempted",
    )
    [row] = deliveries(server, type="session.ended")
    assert (row["status"], row["attempts"], row["last_status"]) == ("pending", 1, None), row
    assert row["last_error"].startswith("ConnectionError"), row
    assert row["session_id"] == session_id and row["next_attempt_at"] is not None, row
    server.kill()

    with Receiver(port=port) as receiver:
        server.start()  # the same ServerProcess: same port, same database, same INSTANCE_NAME
        wait_for(
            lambda: receiver.acknowledged("session.ended"),
            60,
            f"session.ended was not delivered after the restart:\n{server.log()}",
        )
        wait_for(all_delivered(server, 2), 30, "the listing does not show both delivered")
        bodies = assert_consistent(receiver)
        acked = acknowledged_ids(receiver)
    rows = {row["id"]: row for row in deliveries(server)}

    assert row["id"] in rows
    assert set(bodies) == set(rows)
    assert sorted(body["type"] for body in bodies.values()) == [
        "session.created",
        "session.ended",
    ]
    # Nothing answered before the kill, so nothing had a reason to be sent twice.
    assert acked == dict.fromkeys(rows, 1)
    [ended] = [request.json for request in receiver.acknowledged("session.ended")]
    assert ended["data"]["session_id"] == session_id
    assert ended["data"]["project_id"] == PROJECT
    assert ended["data"]["reason"] == "ended_by_admin"
    for delivery in rows.values():
        assert delivery["status"] == "delivered" and delivery["last_status"] == 200, delivery
        assert delivery["last_error"] is None, delivery
    # The refused attempt before the kill, then the one after the restart.
    assert rows[row["id"]]["attempts"] == 2, rows[row["id"]]


# --- 3. two processes on PostgreSQL -----------------------------------------------------------

SESSIONS = 30
DELIVERED_LINE = re.compile(r"webhook msg_\w+ \S+ to \S+: delivered")


@POSTGRESQL_ONLY
def test_two_dispatchers_on_postgresql_send_every_row_exactly_once(start_server) -> None:
    """Both processes run a dispatcher on one outbox: FOR UPDATE SKIP LOCKED and the lease
    must keep them from both sending a row, and neither may leave one unsent."""
    queue = message_queue_env()
    with Receiver() as receiver:
        hooks = webhook_env(receiver.url)
        servers = (
            start_server(INSTANCE_NAME="e2e-hooks-a", **queue, **hooks),
            start_server(INSTANCE_NAME="e2e-hooks-b", **queue, **hooks),
        )
        session_ids = [create_session(servers[n % 2], project_id=PROJECT) for n in range(SESSIONS)]
        for n, session_id in enumerate(session_ids):
            end_session(servers[(n + 1) % 2], session_id)  # ended by the other process
        wait_for(all_delivered(servers[0], 2 * SESSIONS), 60, "the events were not all delivered")
        bodies = assert_consistent(receiver)
        sent = [request.webhook_id for request in receiver.requests()]
        acked = acknowledged_ids(receiver)
    rows = deliveries(servers[1])

    assert len(rows) == 2 * SESSIONS
    duplicates = [webhook_id for webhook_id, count in Counter(sent).items() if count > 1]
    assert duplicates == [], f"sent more than once: {duplicates}"
    assert acked == {row["id"]: 1 for row in rows}  # none twice, none missing
    events = Counter((body["type"], body["data"]["session_id"]) for body in bodies.values())
    assert events == Counter(
        (event, session_id)
        for session_id in session_ids
        for event in ("session.created", "session.ended")
    )
    for row in rows:
        assert (row["status"], row["attempts"], row["last_status"]) == ("delivered", 1, 200), row

    # Which process sent what (informational: one dispatcher may win every round).
    def split() -> list[int]:
        return [len(DELIVERED_LINE.findall(full_log(server))) for server in servers]

    # The log line follows the commit that the listing showed: it may lag by a moment.
    wait_for(lambda: sum(split()) >= 2 * SESSIONS, 10, f"delivered log lines: {split()}")
    assert sum(split()) == 2 * SESSIONS, split()
    print(f"deliveries sent by each process: {split()}")


# --- 4. a receiver that hangs -----------------------------------------------------------------

HANG_SECS = 30
TIMEOUT_SECS = 2
PROMPT_SECS = 1.5  # a dispatcher blocking the hub would delay one by about TIMEOUT_SECS


def operations_heard(client) -> set[str]:
    return {data["op"]["node_id"] for name, data in client.received if name == "operation"}


def timed_operation(writer, reader, session_id: str, n: int) -> tuple[float, float]:
    """The writer's n-th operation (version n + 1): seconds to its ack, and to the reader
    hearing it."""
    node_id = f"n{n}"
    op = {"type": "add_node", "node_id": node_id, "props": {"n": n}}
    started = time.monotonic()
    ack = writer.call("operation", {"session_id": session_id, "op": op}, timeout=10)
    acked_after = time.monotonic() - started
    assert ack == {"ok": True, "version": n + 1}, ack
    wait_for(lambda: node_id in operations_heard(reader), 10, f"{node_id} was not broadcast")
    return acked_after, time.monotonic() - started


@SQLITE_ONLY
def test_a_hanging_receiver_delays_no_socket_event(start_server, sio_clients) -> None:
    """The receiver answers nothing for 30 s; the dispatcher gives up after WEBHOOK_TIMEOUT_SECS
    and records it, and meanwhile every operation's ack and broadcast is prompt."""
    with Receiver() as receiver:
        receiver.script.hang_secs = HANG_SECS
        server = start_server(**webhook_env(receiver.url, WEBHOOK_TIMEOUT_SECS=str(TIMEOUT_SECS)))
        session_id = create_session(server, project_id=PROJECT)
        ada, bob = sio_clients(server.url, "Ada"), sio_clients(server.url, "Bob")
        for client in (ada, bob):
            assert client.call("join_session", {"session_id": session_id}, timeout=10)["ok"]
        wait_for(lambda: receiver.arrived() >= 1, 15, "the dispatcher sent nothing")

        # Operations back and forth until the dispatcher has timed out on one hanging send
        # and started the next: the stream covers at least one whole blocked send.
        timings: list[tuple[float, float]] = []
        deadline = time.monotonic() + 30
        while receiver.arrived() < 3:
            assert time.monotonic() < deadline, "the dispatcher did not move on to a next send"
            writer, reader = (ada, bob) if len(timings) % 2 == 0 else (bob, ada)
            timings.append(timed_operation(writer, reader, session_id, len(timings)))
        arrivals = [at for at, _ in receiver.arrivals]
        first_id = receiver.arrivals[0][1]
        rows = {row["id"]: row for row in deliveries(server)}
        answered = receiver.requests()

    slowest_ack, slowest_broadcast = max(t[0] for t in timings), max(t[1] for t in timings)
    assert slowest_ack < PROMPT_SECS, timings
    assert slowest_broadcast < PROMPT_SECS, timings
    print(
        f"{len(timings)} operations while the receiver hung: slowest ack {slowest_ack:.3f} s, "
        f"slowest broadcast {slowest_broadcast:.3f} s"
    )
    # The dispatcher moved on from the first send after about the timeout, not the hang.
    gap = arrivals[1] - arrivals[0]
    assert TIMEOUT_SECS * 0.75 <= gap < 10, gap
    first = rows[first_id]
    assert first["attempts"] == 1, first
    assert first["last_error"] == f"no answer within {TIMEOUT_SECS} s", first
    assert first["status"] == "pending" and first["last_status"] is None, first
    assert first["next_attempt_at"] is not None and first["delivered_at"] is None, first
    assert answered == []  # every request still hangs: nothing was acknowledged


# --- 5. webhooks off --------------------------------------------------------------------------


@SQLITE_ONLY
def test_with_webhooks_off_nothing_is_written_or_sent(start_server, sio_clients) -> None:
    with Receiver() as receiver:  # running, but no server is told of it
        server = start_server(
            WEBHOOK_URLS="", WEBHOOK_SECRET=TEST_SECRET, WEBHOOK_DOCUMENT_DEBOUNCE_SECS="0"
        )
        walkthrough(server, sio_clients)
        # Nothing to wait for: it must stay so across a few dispatcher polls (1 s each).
        settle = time.monotonic() + 2.5
        while time.monotonic() < settle:
            assert deliveries(server) == []
            time.sleep(0.25)
        assert receiver.arrived() == 0
    metrics = requests.get(f"{server.api}/sessions/metrics", headers=ADMIN, timeout=10).json()
    assert metrics["webhooks"] == {
        "pending": 0,
        "delivered": 0,
        "failed": 0,
        "oldest_pending_age_seconds": None,
    }
    assert DISPATCHER_STARTED not in full_log(server)
