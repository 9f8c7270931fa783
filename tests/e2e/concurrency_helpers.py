"""Helpers for the e2e concurrency tests: release many requests at one moment, time each one,
read the database directly (the truth the servers' caches must agree with), and probe a
session's operation latency from a process of its own.

`python -m tests.e2e.concurrency_helpers URL SESSION_ID` runs that probe: two members of the
session write operations to each other until a line arrives on stdin, then it prints one JSON
line with the times of every operation. A separate process, so that hundreds of other clients
in the test process (all decoding presence) cannot delay the probe's own threads and make the
server look slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import socketio
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
REDIS_ENV = "TEST_REDIS_URL"
BARRIER_TIMEOUT = 60.0

T = TypeVar("T")


def queue_env() -> dict[str, str]:
    """A Redis message queue on a channel of this test's own, so broadcasts cross processes;
    skips the test when no Redis is configured."""
    redis_url = os.environ.get(REDIS_ENV)
    if not redis_url:
        pytest.skip(f"the cross-process tests need {REDIS_ENV}")
    return {
        "SOCKETIO_MESSAGE_QUEUE": redis_url,
        "SOCKETIO_CHANNEL": f"sessionhub-test-{uuid.uuid4().hex}",
    }


def scalar(database_url: str, sql: str, **params: Any) -> Any:
    """One value read straight from the test database, on a connection of its own."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def rows(database_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def open_memberships(database_url: str, session_id: str) -> int:
    sql = "SELECT count(*) FROM memberships WHERE session_id = :s AND left_at IS NULL"
    return scalar(database_url, sql, s=session_id)


def memberships(database_url: str, session_id: str) -> list[tuple[str | None, str | None]]:
    """Every membership of the session as (client_name, left_reason), oldest first."""
    sql = "SELECT client_name, left_reason FROM memberships WHERE session_id = :s ORDER BY id"
    return [(name, reason) for name, reason in rows(database_url, sql, s=session_id)]


def together(count: int, action: Callable[[int], T]) -> list[T]:
    """Run `action(i)` for every i in range(count), each on a thread of its own, all released
    at one moment by a barrier; an exception in any of them is raised here."""
    barrier = threading.Barrier(count)

    def run(index: int) -> T:
        barrier.wait(timeout=BARRIER_TIMEOUT)
        return action(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def connect_many(
    make: Callable[..., socketio.Client], urls: Sequence[str], workers: int = 20
) -> list[socketio.Client]:
    """Connect one client to each url, `workers` at a time (connecting one by one is slow)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda pair: make(pair[1], f"c{pair[0]}"), enumerate(urls)))


@dataclass
class TimedAck:
    """One event a client sent, its ack, and when (time.monotonic) it was sent and answered."""

    index: int
    sent: float
    answered: float
    ack: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.ack.get("ok") is True

    @property
    def code(self) -> str | None:
        return None if self.ok else self.ack.get("error", {}).get("code")


def timed_call(
    client: socketio.Client, index: int, event: str, payload: dict[str, Any], timeout: float = 30
) -> TimedAck:
    """Send one event and wait for its ack; no ack within `timeout` is answered as the error
    code `no_ack`, so one lost ack fails the test's assertions rather than its thread."""
    sent = time.monotonic()
    try:
        ack = client.call(event, payload, timeout=timeout)
    except socketio.exceptions.TimeoutError:
        ack = {"ok": False, "error": {"code": "no_ack", "message": f"no ack in {timeout} s"}}
    return TimedAck(index=index, sent=sent, answered=time.monotonic(), ack=ack)


def ended_notices(client: socketio.Client, session_id: str) -> list[dict[str, Any]]:
    """The `session_ended` events this client heard for one session."""
    return [
        data
        for name, data in client.received  # type: ignore[attr-defined]
        if name == "session_ended" and data.get("session_id") == session_id
    ]


# --- the latency probe ----------------------------------------------------------------------

PROBE_PAUSE = 0.02  # each writer sends at most ~50 operations a second
PROBE_DELIVERY_WAIT = 15.0


class OperationProbe:
    """Members of one session writing to each other: per operation, when it was sent, acked,
    and when it arrived at the other member (time.monotonic, which is system-wide on Linux, so
    comparable with the test process's own times)."""

    def __init__(self, session_id: str, writers: Sequence[socketio.Client]) -> None:
        self.session_id = session_id
        self.writers = list(writers)
        self.sent: dict[str, float] = {}
        self.acked: dict[str, float] = {}
        self.arrived: dict[str, float] = {}
        self.failures: list[Any] = []
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._write, args=(n,), daemon=True)
            for n in range(len(self.writers))
        ]
        for writer in self.writers:
            writer.on("operation", self._arrival)

    def _arrival(self, data: dict[str, Any]) -> None:
        self.arrived.setdefault(data["op"]["node_id"], time.monotonic())

    def _write(self, writer_index: int) -> None:
        writer = self.writers[writer_index]
        count = 0
        while not self.stop.is_set():
            count += 1
            node_id = f"w{writer_index}-{count}"
            op = {"type": "add_node", "node_id": node_id, "props": {"n": count}}
            self.sent[node_id] = time.monotonic()
            try:
                ack = writer.call(
                    "operation", {"session_id": self.session_id, "op": op}, timeout=15
                )
            except Exception as error:  # reported to the test, never raised in a thread
                self.failures.append([node_id, repr(error)])
                return
            self.acked[node_id] = time.monotonic()
            if not ack.get("ok"):
                self.failures.append([node_id, ack])
                return
            time.sleep(PROBE_PAUSE)  # pacing, so the rate limit is never the bottleneck

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        """Stop writing, then wait (bounded) for every sent operation to arrive."""
        self.stop.set()
        for thread in self.threads:
            thread.join(30)
        deadline = time.monotonic() + PROBE_DELIVERY_WAIT
        while set(self.sent) - set(self.arrived) and time.monotonic() < deadline:
            time.sleep(0.05)

    def report(self) -> dict[str, Any]:
        ops = [
            [node, sent, self.acked.get(node), self.arrived.get(node)]
            for node, sent in self.sent.items()
        ]
        return {"ops": ops, "failures": self.failures}


@dataclass
class ProbeReport:
    """What the probe process measured, as latencies of the operations sent in a window."""

    ops: list[tuple[str, float, float | None, float | None]]
    failures: list[Any]

    def latencies(self, since: float, until: float) -> tuple[list[float], list[float]]:
        """Ack and delivery latencies of the operations sent in [since, until]; one that never
        got an ack or never arrived counts as infinitely slow."""
        chosen = [op for op in self.ops if since <= op[1] <= until]
        acks = [
            (acked if acked is not None else float("inf")) - sent for _, sent, acked, _ in chosen
        ]
        deliveries = [
            (arrived if arrived is not None else float("inf")) - sent
            for _, sent, _, arrived in chosen
        ]
        return acks, deliveries


class ProbeProcess:
    """The probe in a child process: started (both members joined and writing) by `start`,
    stopped by `finish`, which returns what it measured; `kill` ends it in any case."""

    def __init__(self, url: str, session_id: str) -> None:
        self.command = [sys.executable, "-m", "tests.e2e.concurrency_helpers", url, session_id]
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> ProbeProcess:
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()  # bounded: its connects time out
        assert line == "ready", f"the probe did not start: {line!r}"
        return self

    def finish(self, timeout: float = 60) -> ProbeReport:
        assert self.process is not None
        out, _ = self.process.communicate("stop\n", timeout=timeout)
        data = json.loads(out.strip().splitlines()[-1])
        return ProbeReport(ops=[tuple(op) for op in data["ops"]], failures=data["failures"])

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def _probe_main(url: str, session_id: str) -> None:
    writers = []
    for name in ("writer-a", "writer-b"):
        client = socketio.Client(reconnection=False)
        client.connect(url, auth={"name": name}, transports=["websocket"], wait_timeout=10)
        writers.append(client)
        ack = client.call("join_session", {"session_id": session_id}, timeout=10)
        if not ack.get("ok"):
            raise SystemExit(f"the probe could not join: {ack}")
    probe = OperationProbe(session_id, writers)
    probe.start()
    print("ready", flush=True)
    try:
        sys.stdin.readline()  # a line, or EOF when the test goes away
        probe.finish()
        print(json.dumps(probe.report()), flush=True)
    finally:
        for client in writers:
            client.disconnect()


if __name__ == "__main__":
    _probe_main(sys.argv[1], sys.argv[2])
