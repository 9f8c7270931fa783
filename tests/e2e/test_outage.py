"""A PostgreSQL outage longer than INSTANCE_DEAD_AFTER_SECS under two live server processes.

While the database is down every process is silent: no heartbeat reaches it. When it returns,
every process's last heartbeat is older than the dead-after window, so a process that judged
its peers at once would declare all of them dead, close their memberships (`instance_dead`)
and make each fence itself, disconnecting clients that never lost their server (DESIGN 6:
reclaim the dead, but only the dead). These tests run the outage for real on a PRIVATE
PostgreSQL (tests/e2e/private_services.py) and check that only a process that really died
loses its clients.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import socketio
from sqlalchemy import create_engine, text

from tests.e2e.conftest import active_clients, create_session, wait_for
from tests.e2e.private_services import (  # noqa: F401 (pytest fixtures, found by name)
    PrivatePostgres,
    launch_server_fixture,
    private_postgres_fixture,
)
from tests.e2e.server import ServerProcess

HEARTBEAT_SECS = 1
DEAD_AFTER_SECS = 4
# Deliberately longer than the dead-after window: every heartbeat goes stale during it.
OUTAGE_SECS = 10
TIMERS = {
    "INSTANCE_HEARTBEAT_SECS": str(HEARTBEAT_SECS),
    "INSTANCE_DEAD_AFTER_SECS": str(DEAD_AFTER_SECS),
    "SESSION_CLEANUP_INTERVAL": "1",  # the sweep runs through the outage and after it too
}
CLIENTS_PER_SERVER = 3
CALL_TIMEOUT = 10.0


@dataclass
class Cluster:
    """Two processes (`a`, `b`) on one private database, three clients each in one session."""

    database: PrivatePostgres
    servers: dict[str, ServerProcess]
    session_id: str
    clients: dict[str, list[socketio.Client]]
    instances_before: list[tuple[str, bool]]  # the instance rows before the outage

    def all_clients(self) -> list[socketio.Client]:
        return [client for clients in self.clients.values() for client in clients]


def health_status(server: ServerProcess) -> int | None:
    try:
        return requests.get(f"{server.api}/health", timeout=5).status_code
    except requests.RequestException:
        return None


def reasons_by_instance(database_url: str, session_id: str) -> dict[str, list[str | None]]:
    """Why each membership of the session closed (None: still open), by the holder's
    INSTANCE_NAME, so a fenced process shows up even after it re-registered."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT i.name, m.left_reason FROM memberships m "
                    "JOIN instances i ON i.id = m.instance_id "
                    "WHERE m.session_id = :s ORDER BY m.id"
                ),
                {"s": session_id},
            )
            reasons: dict[str, list[str | None]] = {}
            for name, reason in rows:
                reasons.setdefault(name, []).append(reason)
            return reasons
    finally:
        engine.dispose()


def instance_rows(database_url: str) -> list[tuple[str, bool]]:
    """(name, stopped) for every instance row: a fenced process re-registers, adding a row."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT name, stopped_at IS NOT NULL FROM instances ORDER BY started_at")
            )
            return [(name, bool(stopped)) for name, stopped in rows]
    finally:
        engine.dispose()


def tracked_client(
    sio_clients: Callable[..., socketio.Client], url: str, name: str
) -> socketio.Client:
    """A client that records every `disconnect` it sees (reconnection is off, so a fenced
    client stays disconnected and the record is final)."""
    client = sio_clients(url, name)
    client.disconnects = []  # type: ignore[attr-defined]
    client.on("disconnect", lambda *reason: client.disconnects.append(reason))
    return client


def heartbeat_offset(database_url: str) -> float | None:
    """How far b's heartbeat ticks lag a's, modulo one heartbeat, once both have beaten from
    their schedulers (a row's first heartbeat_at is its registration, not a tick)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT name, started_at, heartbeat_at FROM instances WHERE stopped_at IS NULL"
                )
            )
            beats = {name: (started, beat) for name, started, beat in rows}
    finally:
        engine.dispose()
    if set(beats) != {"outage-a", "outage-b"}:
        return None
    if any(
        (beat - started).total_seconds() < HEARTBEAT_SECS / 2 for started, beat in beats.values()
    ):
        return None
    lag = (beats["outage-b"][1] - beats["outage-a"][1]).total_seconds()
    return lag % HEARTBEAT_SECS


def measured_offset(database_url: str) -> float:
    """heartbeat_offset, polled until both processes have ticked (a bounded wait)."""
    deadline = time.monotonic() + 3 * HEARTBEAT_SECS + 5
    while (offset := heartbeat_offset(database_url)) is None:
        assert time.monotonic() < deadline, "the two processes did not heartbeat"
        time.sleep(0.05)
    return offset


def launch_out_of_phase(
    database_url: str, launch_server: Callable[..., ServerProcess]
) -> dict[str, ServerProcess]:
    """Start a and b so that their heartbeats tick half a beat apart.

    Two processes whose ticks coincide beat together right after the outage, before either
    judges the other, so they would hide the bug these tests guard against (a process that
    judges its peers at once fences them): started one after the other, they often do coincide.
    A process's ticks keep the phase of its start, so b is launched half a beat after a's
    launch phase, the offset measured, and b relaunched with the error corrected if it missed.
    """
    anchor = time.time()  # b launched at this phase (mod one beat) should tick half a beat late
    servers = {"a": launch_server(database_url, INSTANCE_NAME="outage-a", **TIMERS)}
    offset = 0.0
    for attempt in range(1, 5):
        launch_at = anchor + HEARTBEAT_SECS / 2
        launch_at += ((time.time() - launch_at) // HEARTBEAT_SECS + 1) * HEARTBEAT_SECS
        time.sleep(max(0.0, launch_at - time.time()))  # aligning a start, not awaiting a timer
        servers["b"] = launch_server(database_url, INSTANCE_NAME="outage-b", **TIMERS)
        offset = measured_offset(database_url)
        if 0.2 <= offset / HEARTBEAT_SECS <= 0.8:
            print(f"b heartbeats {offset:.2f}s after a (launch {attempt})")
            return servers
        servers["b"].stop()  # in phase with a: relaunch, shifted by what this launch missed
        anchor += HEARTBEAT_SECS / 2 - offset
    # A loaded machine can keep the two schedulers in step; the assertions below still hold
    # (the fix does not depend on the phase), the test is only less likely to catch a regression.
    print(f"b could not be started out of phase with a (last offset {offset:.2f}s); going on")
    servers["b"] = launch_server(database_url, INSTANCE_NAME="outage-b", **TIMERS)
    return servers


@pytest.fixture()
def cluster(
    private_postgres: PrivatePostgres,
    launch_server: Callable[..., ServerProcess],
    sio_clients: Callable[..., socketio.Client],
) -> Cluster:
    servers = launch_out_of_phase(private_postgres.url, launch_server)
    session_id = create_session(servers["a"])
    clients: dict[str, list[socketio.Client]] = {}
    for name, server in servers.items():
        clients[name] = []
        for n in range(CLIENTS_PER_SERVER):
            client = tracked_client(sio_clients, server.url, f"{name}{n}")
            ack = client.call("join_session", {"session_id": session_id}, timeout=CALL_TIMEOUT)
            assert ack["ok"] is True, ack
            clients[name].append(client)
    assert active_clients(servers["a"], session_id) == 2 * CLIENTS_PER_SERVER
    before = instance_rows(private_postgres.url)
    return Cluster(private_postgres, servers, session_id, clients, before)


def hold(seconds: float, invariant: Callable[[], str | None]) -> None:
    """Watch `invariant` (None: holds, else what broke) for `seconds`, failing at once when it
    breaks. Used where the claim is that nothing happens during a window, so the window's length
    is the point; it is not waiting for a timer."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        broken = invariant()
        if broken:
            raise AssertionError(broken)
        time.sleep(0.1)


def disconnected(clients: list[socketio.Client]) -> list[str]:
    return [
        f"{client.sid or '?'}: connected={client.connected} disconnects={client.disconnects}"
        for client in clients
        if not client.connected or client.disconnects
    ]


def outage(cluster: Cluster, during: Callable[[], None] = lambda: None) -> None:
    """Stop PostgreSQL for OUTAGE_SECS (measured from the stop), run `during` meanwhile, then
    start it and wait until every surviving process answers /health with 200 again."""
    stopped_at = time.monotonic()
    cluster.database.stop()
    during()
    for server in cluster.servers.values():
        if server.process is not None and server.process.poll() is None:
            wait_for(lambda s=server: health_status(s) == 503, 10, "/health stayed 200")
    remaining = OUTAGE_SECS - (time.monotonic() - stopped_at)
    assert remaining > 0, "the outage was over before it was meant to be"
    time.sleep(remaining)  # the outage's length is the test's premise, not a wait for a timer
    cluster.database.start()
    for server in cluster.servers.values():
        if server.process is not None and server.process.poll() is None:
            wait_for(lambda s=server: health_status(s) == 200, 30, "/health did not recover")


def add_node(client: socketio.Client, session_id: str, node_id: str) -> dict[str, Any]:
    op = {"type": "add_node", "node_id": node_id, "props": {}}
    return client.call("operation", {"session_id": session_id, "op": op}, timeout=CALL_TIMEOUT)


def test_an_outage_longer_than_dead_after_drops_no_client_of_a_live_process(
    cluster: Cluster,
) -> None:
    """Both processes lived through the outage, so after it both keep all their clients: the
    first one to heartbeat must not read its peer's stale heartbeat (stale only because the
    database was down) as death."""
    total = 2 * CLIENTS_PER_SERVER
    outage(cluster)

    def nothing_dropped() -> str | None:
        if dropped := disconnected(cluster.all_clients()):
            return f"clients of live processes were dropped: {dropped}"
        count = active_clients(cluster.servers["a"], cluster.session_id)
        if count != total:
            return f"active_clients is {count}, not {total}"
        return None

    # Three dead-after windows of heartbeats: every round in which either process could judge
    # the other, including the one where its own post-outage grace period ends.
    hold(3 * DEAD_AFTER_SECS, nothing_dropped)

    assert active_clients(cluster.servers["b"], cluster.session_id) == total
    assert reasons_by_instance(cluster.database.url, cluster.session_id) == {
        "outage-a": [None] * CLIENTS_PER_SERVER,
        "outage-b": [None] * CLIENTS_PER_SERVER,
    }
    # Nobody was declared dead, so nobody fenced itself and re-registered.
    assert instance_rows(cluster.database.url) == cluster.instances_before
    # And every client is still a working member, on its own process.
    for n, client in enumerate(cluster.all_clients()):
        assert add_node(client, cluster.session_id, f"after-{n}")["ok"] is True


def test_a_process_killed_during_the_outage_loses_exactly_its_clients(cluster: Cluster) -> None:
    """A process that died while the database was down is still reclaimed once it is back,
    within the dead-after window plus a few heartbeats, and the survivor keeps its own clients."""
    survivor, doomed = cluster.servers["a"], cluster.servers["b"]
    outage(cluster, during=doomed.kill)
    back_at = time.monotonic()

    wait_for(
        lambda: active_clients(survivor, cluster.session_id) == CLIENTS_PER_SERVER,
        DEAD_AFTER_SECS + 3 * HEARTBEAT_SECS + 3,
        "the killed process's clients were not reclaimed",
    )
    reclaimed_after = time.monotonic() - back_at
    assert all(not client.connected for client in cluster.clients["b"])
    assert not disconnected(cluster.clients["a"]), disconnected(cluster.clients["a"])
    assert reasons_by_instance(cluster.database.url, cluster.session_id) == {
        "outage-a": [None] * CLIENTS_PER_SERVER,
        "outage-b": ["instance_dead"] * CLIENTS_PER_SERVER,
    }

    def survivors_stay() -> str | None:
        if dropped := disconnected(cluster.clients["a"]):
            return f"the survivor's clients were dropped: {dropped}"
        count = active_clients(survivor, cluster.session_id)
        if count != CLIENTS_PER_SERVER:
            return f"active_clients is {count}, not {CLIENTS_PER_SERVER}"
        return None

    hold(DEAD_AFTER_SECS + 2 * HEARTBEAT_SECS, survivors_stay)
    # b's row is stopped now; a was never declared dead, so it did not re-register.
    expected = [(name, stopped or name == "outage-b") for name, stopped in cluster.instances_before]
    assert instance_rows(cluster.database.url) == expected
    for n, client in enumerate(cluster.clients["a"]):
        assert add_node(client, cluster.session_id, f"after-{n}")["ok"] is True
    print(f"reclaimed {reclaimed_after:.1f}s after the database came back")
