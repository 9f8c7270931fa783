"""Lifecycle against real server processes: the scheduler, SIGTERM, kill -9, crashed peers."""

from __future__ import annotations

import time

import requests

from tests.e2e.conftest import active_clients, create_session, left_reasons, wait_for


def join(client, session_id: str) -> dict:
    return client.call("join_session", {"session_id": session_id}, timeout=10)


def session(server, session_id: str) -> dict:
    return requests.get(f"{server.api}/sessions/{session_id}", timeout=5).json()


def test_the_scheduler_sweeps_idle_sessions_by_itself(start_server) -> None:
    server = start_server(SESSION_CLEANUP_INTERVAL="1", SESSION_TIMEOUT_SECS="1")
    assert requests.get(f"{server.api}/health", timeout=5).json()["scheduler"] == "running"
    session_id = create_session(server)
    wait_for(lambda: not session(server, session_id)["is_active"], 10, "never swept")
    assert session(server, session_id)["end_reason"] == "idle_timeout"
    sweeper = requests.get(f"{server.api}/sessions/metrics", timeout=5).json()["sweeper"]
    assert sweeper["runs"] >= 1 and sweeper["last_run_at"] and sweeper["next_run_at"]
    assert sweeper["last_error"] is None


def test_sigterm_with_clients_exits_quickly_and_leaves_no_count(
    start_server, sio_clients, e2e_database_url
) -> None:
    server = start_server(INSTANCE_NAME="e2e-one")
    session_id = create_session(server)
    for n in range(5):
        assert join(sio_clients(server.url, f"client-{n}"), session_id)["ok"] is True
    assert active_clients(server, session_id) == 5
    started = time.monotonic()
    assert server.stop(timeout=10) == 0
    assert time.monotonic() - started < 10
    assert left_reasons(e2e_database_url, session_id) == ["server_shutdown"] * 5

    restarted = start_server(INSTANCE_NAME="e2e-one")
    body = session(restarted, session_id)
    assert body["active_clients"] == 0
    assert body["is_active"] is True  # sessions outlive a deploy by default


def test_kill_9_then_restart_shows_no_phantom_clients(
    start_server, sio_clients, e2e_database_url
) -> None:
    server = start_server(INSTANCE_NAME="e2e-crash")
    session_id = create_session(server)
    for n in range(3):
        join(sio_clients(server.url, f"client-{n}"), session_id)
    server.kill()

    restarted = start_server(INSTANCE_NAME="e2e-crash")
    wait_for(lambda: active_clients(restarted, session_id) == 0, 5, "phantom clients stayed")
    assert session(restarted, session_id)["is_active"] is True
    assert left_reasons(e2e_database_url, session_id) == ["instance_dead"] * 3


def test_a_peer_reclaims_a_crashed_workers_clients(start_server, sio_clients) -> None:
    timers = {"INSTANCE_HEARTBEAT_SECS": "1", "INSTANCE_DEAD_AFTER_SECS": "2"}
    doomed = start_server(INSTANCE_NAME="e2e-doomed", **timers)
    survivor = start_server(INSTANCE_NAME="e2e-survivor", **timers)
    session_id = create_session(survivor)
    watcher = sio_clients(survivor.url, "Watcher")
    join(watcher, session_id)
    join(sio_clients(doomed.url, "Doomed"), session_id)
    assert active_clients(survivor, session_id) == 2
    doomed.kill()
    # dead after 2 s of silence, noticed at the survivor's next heartbeat (1 s), plus slack
    wait_for(lambda: active_clients(survivor, session_id) == 1, 2 + 1 + 3, "never reclaimed")
    wait_for(
        lambda: any(
            name == "presence" and [c["name"] for c in data["left"]] == ["Doomed"]
            for name, data in watcher.received
        ),
        5,
        "the room was not told",
    )


def test_end_sessions_on_shutdown_ends_them_with_server_shutdown(start_server, sio_clients) -> None:
    server = start_server(INSTANCE_NAME="e2e-single", END_SESSIONS_ON_SHUTDOWN="true")
    session_id = create_session(server)
    idle_session = create_session(server)  # nobody in it: shutdown leaves it alone
    client = sio_clients(server.url, "Last")
    join(client, session_id)
    assert server.stop(timeout=10) == 0
    ended = ("session_ended", {"session_id": session_id, "reason": "server_shutdown"})
    wait_for(lambda: ended in client.received, 5, "the client was not told")
    restarted = start_server(INSTANCE_NAME="e2e-single")
    body = session(restarted, session_id)
    assert body["is_active"] is False and body["end_reason"] == "server_shutdown"
    assert session(restarted, idle_session)["is_active"] is True
