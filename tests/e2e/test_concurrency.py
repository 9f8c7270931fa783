"""Concurrency across real server processes on one database (issue 8, items 1, 5 and 9).

- Limits hold exactly when many requests race from two processes: SESSION_MAX_CONCURRENT for
  `POST /sessions`, SESSION_MAX_CLIENTS for `join_session`.
- A burst of joins racing an admin's DELETE (or a TTL expiry): whoever got in hears
  `session_ended`, nobody stays inside, and a join sent after the end is refused.
- Three schedulers on one database record one sweep per interval, not three.
- On PostgreSQL, a 200-client join burst into one session does not stall operations in another
  (measured by a probe process of its own, see concurrency_helpers).

Requests are fired from threads released together by a barrier; every result is checked
against the database itself, not only against the servers' answers. Each test repeats its race
for a few rounds, since one round may not hit the window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import socketio

from tests.e2e.concurrency_helpers import (
    ProbeProcess,
    TimedAck,
    connect_many,
    ended_notices,
    memberships,
    open_memberships,
    queue_env,
    scalar,
    timed_call,
    together,
)
from tests.e2e.conftest import ADMIN, active_clients, create_session, wait_for
from tests.e2e.server import ServerProcess

StartServer = Callable[..., ServerProcess]
MakeClient = Callable[..., socketio.Client]


def start_servers(start_server: StartServer, count: int, **env: str) -> list[ServerProcess]:
    """`count` processes on the test's one database, each with a name of its own (a shared
    name would make each reclaim the other's clients)."""
    return [start_server(INSTANCE_NAME=f"conc-{n}", **env) for n in range(count)]


def session_row(server: ServerProcess, session_id: str) -> dict[str, Any]:
    response = requests.get(f"{server.api}/sessions/{session_id}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def end(server: ServerProcess, session_id: str) -> requests.Response:
    return requests.delete(f"{server.api}/sessions/{session_id}", headers=ADMIN, timeout=30)


def names(acks: list[TimedAck]) -> list[str]:
    """The presence names of the clients whose ack was ok (connect_many names them c<i>)."""
    return sorted(f"c{ack.index}" for ack in acks if ack.ok)


# --- 1a. SESSION_MAX_CONCURRENT --------------------------------------------------------------

CREATE_ROUNDS = 3


def test_the_active_session_limit_is_exact_across_two_processes(
    start_server: StartServer, e2e_database_url: str
) -> None:
    servers = start_servers(start_server, 2, SESSION_MAX_CONCURRENT="5")

    def create(index: int) -> requests.Response:
        server = servers[index % 2]
        return requests.post(f"{server.api}/sessions", json={"project_id": "conc"}, timeout=60)

    for round_ in range(CREATE_ROUNDS):
        answers = together(40, create)
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201] * 5 + [429] * 35, f"round {round_}: {statuses}"
        refused = {a.json()["error"]["code"] for a in answers if a.status_code == 429}
        assert refused == {"session_limit_reached"}
        accepted = [answer for answer in answers if answer.status_code == 201]
        created = [answer.json()["session_id"] for answer in accepted]
        assert all(a.headers["Location"].endswith(a.json()["session_id"]) for a in accepted)
        assert scalar(e2e_database_url, "SELECT count(*) FROM sessions WHERE is_active") == 5
        # A refused create left no row behind either.
        assert scalar(e2e_database_url, "SELECT count(*) FROM sessions") == 5 * (round_ + 1)
        for server in servers:
            metrics = requests.get(f"{server.api}/sessions/metrics", timeout=10).json()
            assert metrics["active_sessions"] == 5
        for session_id in created:  # make room for the next round
            assert end(servers[0], session_id).status_code == 200
        assert scalar(e2e_database_url, "SELECT count(*) FROM sessions WHERE is_active") == 0


# --- 1b. SESSION_MAX_CLIENTS -----------------------------------------------------------------

JOIN_ROUNDS = 3


def test_the_client_limit_is_exact_across_two_processes(
    start_server: StartServer, sio_clients: MakeClient, e2e_database_url: str
) -> None:
    servers = start_servers(start_server, 2, SESSION_MAX_CLIENTS="5")
    clients = connect_many(sio_clients, [servers[n % 2].url for n in range(30)])
    for round_ in range(JOIN_ROUNDS):
        session_id = create_session(servers[round_ % 2])
        payload = {"session_id": session_id}
        acks = together(
            30, lambda n, p=payload: timed_call(clients[n], n, "join_session", p, timeout=60)
        )
        outcome = sorted(ack.code or "ok" for ack in acks)
        assert outcome == ["ok"] * 5 + ["session_full"] * 25, f"round {round_}: {outcome}"
        assert all(ack.ack["session"]["active_clients"] <= 5 for ack in acks if ack.ok)
        assert open_memberships(e2e_database_url, session_id) == 5
        # Exactly the clients told ok hold a seat, and a refused join wrote no row.
        seats = memberships(e2e_database_url, session_id)
        assert sorted(name for name, _ in seats) == names(acks)
        assert all(reason is None for _, reason in seats)
        for server in servers:
            detail = session_row(server, session_id)
            assert detail["active_clients"] == 5
            assert detail["peak_clients"] == 5  # never over the limit, not even for a moment


# --- 2. join versus end ----------------------------------------------------------------------

END_ROUNDS = 5
JOINERS = 20
JOIN_SPREAD = 0.2  # joins are sent over this many seconds, the DELETE somewhere inside them
NOTICE_TIMEOUT = 15.0


def race_joins_against_a_delete(
    servers: list[ServerProcess],
    clients: list[socketio.Client],
    session_id: str,
    delete_after: float,
) -> tuple[list[TimedAck], float, float]:
    """Every client sends join_session at its own offset in the spread while an admin's DELETE
    goes out `delete_after` seconds in; returns the joins and when the DELETE was sent and
    answered (time.monotonic)."""
    delete_times: list[float] = []
    payload = {"session_id": session_id}

    def act(index: int) -> TimedAck | None:
        if index == len(clients):  # the admin
            time.sleep(delete_after)  # the offset is the point: it lands inside the burst
            sent = time.monotonic()
            response = end(servers[1], session_id)
            delete_times.extend((sent, time.monotonic()))
            assert response.status_code == 200, response.text
            return None
        time.sleep(JOIN_SPREAD * index / len(clients))
        return timed_call(clients[index], index, "join_session", payload, timeout=60)

    results = together(len(clients) + 1, act)
    joins = [result for result in results if result is not None]
    return joins, delete_times[0], delete_times[1]


def test_a_join_never_slips_past_an_admin_end(
    start_server: StartServer, sio_clients: MakeClient, e2e_database_url: str
) -> None:
    servers = start_servers(start_server, 2, **queue_env())
    clients = connect_many(sio_clients, [servers[n % 2].url for n in range(JOINERS)])
    report = []
    for round_ in range(END_ROUNDS):
        session_id = create_session(servers[0])
        delete_after = JOIN_SPREAD * (round_ + 0.5) / END_ROUNDS
        joins, delete_sent, delete_answered = race_joins_against_a_delete(
            servers, clients, session_id, delete_after
        )
        accepted = [join for join in joins if join.ok]
        refused = [join for join in joins if not join.ok]
        assert {join.code for join in refused} <= {"session_ended"}, [j.ack for j in refused]
        # A join sent once the DELETE had answered was decided after the end committed.
        late = [join.ack for join in accepted if join.sent > delete_answered]
        assert late == [], f"round {round_}: joins sent after the end were accepted: {late}"
        # Accepted acks arriving after the 200 are ones already decided, in flight; none may
        # arrive long after.
        in_flight = [join for join in accepted if join.answered > delete_answered]
        assert all(join.answered < delete_answered + 1.0 for join in in_flight)

        heard = [clients[join.index] for join in accepted]
        wait_for(
            lambda heard=heard, s=session_id: all(ended_notices(c, s) for c in heard),
            NOTICE_TIMEOUT,
            f"round {round_}: a client whose join was accepted never heard session_ended",
        )
        for client in heard:
            assert ended_notices(client, session_id) == [
                {"session_id": session_id, "reason": "ended_by_admin"}
            ]
        assert open_memberships(e2e_database_url, session_id) == 0
        seats = memberships(e2e_database_url, session_id)
        assert sorted(name for name, _ in seats) == names(accepted)
        assert {reason for _, reason in seats} <= {"session_ended"}
        for server in servers:
            detail = session_row(server, session_id)
            assert detail["active_clients"] == 0
            assert (detail["is_active"], detail["end_reason"]) == (False, "ended_by_admin")
        report.append(
            (len(accepted), len(refused), len(in_flight), round(delete_answered - delete_sent, 3))
        )
    print(f"\njoin vs end per round (accepted, refused, ok acks after the 200, DELETE s): {report}")
    # The race was real in at least one round: some joins got in and some were refused.
    assert any(ok and no for ok, no, _, _ in report), report


TTL_SECONDS = 2
TTL_JOIN_EVERY = 0.2  # one join every 0.2 s for 4 s: across the deadline and the sweep


def test_a_join_never_slips_past_a_ttl_expiry(
    start_server: StartServer, sio_clients: MakeClient, e2e_database_url: str
) -> None:
    servers = start_servers(start_server, 2, SESSION_CLEANUP_INTERVAL="1", **queue_env())
    clients = connect_many(sio_clients, [servers[n % 2].url for n in range(JOINERS)])
    asked = time.monotonic()
    session_id = create_session(servers[0], ttl_seconds=TTL_SECONDS)
    created = time.monotonic()  # created_at is no later than this
    payload = {"session_id": session_id}

    def join_on_schedule(index: int) -> TimedAck:
        time.sleep(max(0.0, asked + index * TTL_JOIN_EVERY - time.monotonic()))
        return timed_call(clients[index], index, "join_session", payload, timeout=60)

    joins = together(JOINERS, join_on_schedule)
    wait_for(
        lambda: not session_row(servers[1], session_id)["is_active"],
        TTL_SECONDS + 10,
        "the sweep never ended the session past its TTL",
    )
    accepted = [join for join in joins if join.ok]
    refused = [join for join in joins if not join.ok]
    assert accepted and refused, [join.ack for join in joins]
    assert {join.code for join in refused} == {"session_ended"}
    # Past created_at + ttl a join is refused even before the sweep has ended the session.
    late = [join.ack for join in accepted if join.sent > created + TTL_SECONDS]
    assert late == [], late
    heard = [clients[join.index] for join in accepted]
    wait_for(
        lambda: all(ended_notices(client, session_id) for client in heard),
        NOTICE_TIMEOUT,
        "a client whose join was accepted never heard session_ended",
    )
    for client in heard:
        assert ended_notices(client, session_id) == [
            {"session_id": session_id, "reason": "ttl_expired"}
        ]
    assert open_memberships(e2e_database_url, session_id) == 0
    seats = memberships(e2e_database_url, session_id)
    assert sorted(name for name, _ in seats) == names(accepted)
    assert {reason for _, reason in seats} == {"session_ended"}
    for server in servers:
        detail = session_row(server, session_id)
        assert (detail["active_clients"], detail["end_reason"]) == (0, "ttl_expired")
    print(f"\nttl: {len(accepted)} joins accepted, {len(refused)} refused")


# --- 3. one sweep per interval (item 5) ------------------------------------------------------

SWEEP_WATCH_SECS = 6.0
RUNS_SQL = "SELECT count(*) FROM sweep_runs WHERE trigger = 'scheduler'"


def test_three_processes_record_one_sweep_per_interval(
    start_server: StartServer, e2e_database_url: str
) -> None:
    servers = start_servers(start_server, 3, SESSION_CLEANUP_INTERVAL="1")
    before = scalar(e2e_database_url, RUNS_SQL)
    started = time.monotonic()
    time.sleep(SWEEP_WATCH_SECS)  # the duration is the point: six intervals of three schedulers
    runs = scalar(e2e_database_url, RUNS_SQL) - before
    elapsed = time.monotonic() - started
    print(f"\nsweeps: {runs} scheduled runs in {elapsed:.1f} s from 3 processes")
    # Without a claim per interval every scheduler sweeps: about three runs a second.
    assert runs <= elapsed + 2, f"{runs} scheduled sweeps in {elapsed:.1f} s from 3 processes"
    assert runs >= elapsed / 2, f"only {runs} scheduled sweeps in {elapsed:.1f} s"
    for server in servers:
        # The metrics count every recorded run; the database is read on either side of them.
        low = scalar(e2e_database_url, "SELECT count(*) FROM sweep_runs")
        metrics = requests.get(f"{server.api}/sessions/metrics", timeout=10).json()
        high = scalar(e2e_database_url, "SELECT count(*) FROM sweep_runs")
        assert low <= metrics["sweeper"]["runs"] <= high, (low, metrics["sweeper"], high)


# --- 4. PostgreSQL under a join burst (item 9) -----------------------------------------------

CROWD = 200
MAX_LATENCY = 1.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 0.5) * 1000:.0f} / p99 {percentile(values, 0.99) * 1000:.0f} / "
        f"max {max(values, default=0) * 1000:.0f} ms"
    )


@pytest.mark.parametrize("e2e_database_url", ["postgresql"], indirect=True)
def test_a_join_burst_does_not_stall_another_session(
    start_server: StartServer, sio_clients: MakeClient, e2e_database_url: str
) -> None:
    # Production ping timings: 200 clients in this one test process may answer pings late.
    server = start_server(
        SOCKET_RATE_LIMIT="1000", SOCKETIO_PING_INTERVAL="25", SOCKETIO_PING_TIMEOUT="20"
    )
    calm, busy = create_session(server), create_session(server)
    connecting = time.monotonic()
    crowd = connect_many(sio_clients, [server.url] * CROWD)
    connected = time.monotonic()

    probe = ProbeProcess(server.url, calm)
    try:
        probe.start()
        time.sleep(1.0)  # a second of calm operations first, as the baseline
        burst_start = time.monotonic()
        payload = {"session_id": busy}
        joins = together(
            CROWD, lambda n: timed_call(crowd[n], n, "join_session", payload, timeout=60)
        )
        burst_end = time.monotonic()
        report = probe.finish()
    finally:
        probe.kill()
    assert report.failures == [], f"operations in the calm session failed: {report.failures}"

    refused = [join.ack for join in joins if not join.ok]
    counts = active_clients(server, busy), open_memberships(e2e_database_url, busy)
    # One end closes all 200 memberships at once; 200 disconnects in teardown would each
    # recount and tell the rest of the room.
    assert end(server, busy).status_code == 200
    base_acks, base_deliveries = report.latencies(0, burst_start)
    acks, deliveries = report.latencies(burst_start, burst_end)
    joined = [join.answered - join.sent for join in joins]
    print(
        f"\nburst: {CROWD} clients connected in {connected - connecting:.1f} s, the burst took "
        f"{burst_end - burst_start:.2f} s (join acks {summary(joined)}); "
        f"{len(acks)} operations during it: acks {summary(acks)}, deliveries "
        f"{summary(deliveries)}; before it: acks {summary(base_acks)}, deliveries "
        f"{summary(base_deliveries)}"
    )
    assert refused == [], f"{len(refused)} joins failed, e.g. {refused[:3]}"
    assert counts == (CROWD, CROWD)
    assert len(acks) >= 4, f"only {len(acks)} operations were sent during the burst"
    assert max(acks) < MAX_LATENCY, f"an operation's ack took {max(acks):.2f} s in the burst"
    assert max(deliveries) < MAX_LATENCY, f"a delivery took {max(deliveries):.2f} s in the burst"
