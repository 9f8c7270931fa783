"""Hot-path benchmarks: SessionHub's latency, throughput and memory on a real server.

Why this exists: speed and memory targets are checked here, never by unit tests. Unit tests run
the app in-process in threading mode; the numbers that matter come from the real thing, so this
script starts one `python app.py` (eventlet) on a free loopback port with a freshly migrated
database, drives it with real python-socketio clients over WebSocket, and measures:

  (a) join_session ack latency, N clients joining one session one after another;
  (b) operation ack latency, one writer sending M add_node operations;
  (c) fan-out: writer emit to each of K listeners receiving the `operation` broadcast;
  (d) drain: K clients disconnect until REST shows `active_clients` 0;

plus the server's RSS (/proc/<pid>/status) at each step. Every loop is bounded in count and
time, all traffic goes to 127.0.0.1, and the server is stopped by pid in a `finally` block.

    .venv/bin/python -m bench.hot_paths                        # SQLite, Markdown table
    .venv/bin/python -m bench.hot_paths --database postgresql  # TEST_DATABASE_URL or local
    .venv/bin/python -m bench.hot_paths --json

See docs/benchmarks.md for what each number means and the numbers measured so far.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests
import socketio

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CALL_TIMEOUT = 10.0  # seconds one ack may take before it counts as a timeout
DELIVERY_TIMEOUT = 5.0  # seconds a broadcast may take to reach every listener
POLL_INTERVAL = 0.01  # seconds between REST polls while waiting for a drain
DRAIN_TIMEOUT = 30.0  # seconds a drain may take before it counts as stuck

OperationHandler = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Settings:
    database: str
    clients: int  # N, (a)
    operations: int  # M, (b)
    listeners: int  # K, (c) and (d)
    fanout_operations: int  # operations broadcast in (c)
    drain_rounds: int  # rounds of (d)
    phase_timeout: float  # seconds any one phase may run
    rate_limit: int  # the server's SOCKET_RATE_LIMIT
    as_json: bool


@dataclass
class Measurement:
    """Latency samples (seconds) of one step, with its wall time and any failures."""

    name: str
    unit: str  # what one throughput unit is: "joins", "acks", "deliveries", ...
    samples: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0
    items: int | None = None  # units of work done in `elapsed` (default: the sample count)
    note: str = ""

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.samples)
        items = len(ordered) if self.items is None else self.items
        return {
            "name": self.name,
            "n": len(ordered),
            "p50_ms": _ms(percentile(ordered, 50)),
            "p95_ms": _ms(percentile(ordered, 95)),
            "p99_ms": _ms(percentile(ordered, 99)),
            "max_ms": _ms(ordered[-1] if ordered else None),
            "throughput_per_s": round(items / self.elapsed, 1) if self.elapsed else None,
            "unit": self.unit,
            "elapsed_s": round(self.elapsed, 3),
            "errors": dict(self.errors),
            "note": self.note,
        }


def percentile(ordered: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return None
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


# --- the server ------------------------------------------------------------------------------


def database_url_env(kind: str) -> None:
    """migrated_database reads the PostgreSQL admin URL from TEST_DATABASE_URL."""
    if kind == "postgresql":
        os.environ.setdefault("TEST_DATABASE_URL", DEFAULT_POSTGRES_URL)


def server_env(settings: Settings) -> dict[str, str]:
    """Production-like timings; the rate limit is raised so it does not hide the server's speed."""
    return {
        "SOCKET_RATE_LIMIT": str(settings.rate_limit),
        "SOCKETIO_PING_INTERVAL": "25",
        "SOCKETIO_PING_TIMEOUT": "20",
        "LOG_LEVEL": "INFO",
    }


@contextmanager
def running_server(settings: Settings, directory: Path) -> Iterator[Any]:
    """One `python app.py` on a fresh migrated database; stopped by pid, whatever happens."""
    database_url_env(settings.database)
    from tests.conftest import migrated_database
    from tests.e2e.server import ServerProcess

    with migrated_database(settings.database, directory) as url:
        server = ServerProcess(url, directory / "server.log", server_env(settings))
        try:
            server.start()
            yield server
        finally:
            server.stop()


@dataclass(frozen=True)
class Snapshot:
    """The server's memory and the CPU time of both processes at one moment."""

    wall: float
    rss_kib: int  # VmRSS: resident now
    hwm_kib: int  # VmHWM: the peak resident size so far
    server_cpu: float  # seconds of user + system CPU
    bench_cpu: float  # this process's, all threads

    @classmethod
    def take(cls, pid: int) -> Snapshot:
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        )
        # /proc/<pid>/stat: utime and stime are fields 14 and 15, after "(comm)".
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        mine = os.times()
        return cls(
            wall=time.perf_counter(),
            rss_kib=int(status["VmRSS"].split()[0]),
            hwm_kib=int(status["VmHWM"].split()[0]),
            server_cpu=(int(fields[11]) + int(fields[12])) / ticks,
            bench_cpu=mine.user + mine.system,
        )


def usage_row(step: str, before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """Memory after a step, and how busy each process was during it (100% = one core)."""
    wall = max(after.wall - before.wall, 1e-9)
    return {
        "step": step,
        "vmrss_mib": round(after.rss_kib / 1024, 1),
        "vmhwm_mib": round(after.hwm_kib / 1024, 1),
        "wall_s": round(wall, 2),
        "server_cpu_pct": round(100 * (after.server_cpu - before.server_cpu) / wall),
        "bench_cpu_pct": round(100 * (after.bench_cpu - before.bench_cpu) / wall),
    }


def server_log_problems(server: Any, limit: int = 5) -> list[str]:
    """WARNING/ERROR lines and tracebacks the server logged during the run."""
    text = server.log_path.read_text(errors="replace")
    markers = ("WARNING", "ERROR", "CRITICAL", "Traceback")
    problems = [line for line in text.splitlines() if any(m in line for m in markers)]
    if len(problems) > limit:
        return [*problems[:limit], f"... and {len(problems) - limit} more"]
    return problems


# --- clients ---------------------------------------------------------------------------------


class ClientPool:
    """Real python-socketio clients in this process; whatever is still open closes on exit."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.clients: list[socketio.Client] = []

    def open(self, name: str, on_operation: OperationHandler | None = None) -> socketio.Client:
        client = socketio.Client(reconnection=False)
        if on_operation is not None:
            client.on("operation", on_operation)
        client.connect(self.url, auth={"name": name}, transports=["websocket"], wait_timeout=10)
        self.clients.append(client)
        return client

    def close_all(self) -> None:
        for client in self.clients:
            if client.connected:
                client.disconnect()
        self.clients.clear()

    def __enter__(self) -> ClientPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close_all()


def call(client: socketio.Client, event: str, payload: dict[str, Any]) -> tuple[float, str | None]:
    """Emit with ack; returns (seconds, error code or None)."""
    start = time.perf_counter()
    try:
        ack = client.call(event, payload, timeout=CALL_TIMEOUT)
    except socketio.exceptions.TimeoutError:
        return time.perf_counter() - start, "timeout"
    elapsed = time.perf_counter() - start
    if not isinstance(ack, dict):
        return elapsed, "bad_ack"
    if not ack.get("ok"):
        return elapsed, ack.get("error", {}).get("code", "bad_ack")
    return elapsed, None


def create_session(server: Any, title: str) -> str:
    response = requests.post(
        f"{server.api}/sessions", json={"project_id": "bench", "title": title}, timeout=5
    )
    response.raise_for_status()
    return response.json()["session_id"]


def active_clients(http: requests.Session, server: Any, session_id: str) -> int:
    response = http.get(f"{server.api}/sessions/{session_id}", timeout=5)
    response.raise_for_status()
    return response.json()["active_clients"]


def open_and_join(
    pool: ClientPool,
    session_id: str,
    count: int,
    prefix: str,
    deadline: float,
    on_operation: OperationHandler | None = None,
) -> tuple[list[socketio.Client], Measurement, Measurement]:
    """Connect and join `count` clients one after another, timing both steps."""
    connects = Measurement("connect (websocket)", "connects")
    joins = Measurement("join_session ack", "joins")
    joined: list[socketio.Client] = []
    for index in range(count):
        if time.monotonic() > deadline:
            joins.note = f"stopped at the phase timeout after {index} clients"
            break
        start = time.perf_counter()
        client = pool.open(f"{prefix}-{index}", on_operation)
        connects.samples.append(time.perf_counter() - start)
        seconds, error = call(client, "join_session", {"session_id": session_id})
        joins.samples.append(seconds)
        if error:
            joins.errors[error] += 1
        else:
            joined.append(client)
    connects.elapsed = sum(connects.samples)
    joins.elapsed = sum(joins.samples)
    return joined, connects, joins


# --- (a) joins -------------------------------------------------------------------------------


def bench_joins(server: Any, settings: Settings) -> list[Measurement]:
    """(a) N clients join one session in turn; the room, and each ack, grow with every join.

    The same clients then disconnect one after another: a drain sample with a large room.
    """
    session_id = create_session(server, "bench joins")
    deadline = time.monotonic() + settings.phase_timeout
    with ClientPool(server.url) as pool:
        clients, connects, joins = open_and_join(
            pool, session_id, settings.clients, "joiner", deadline
        )
        joins.note = joins.note or _trend(joins.samples)
        calls, drain = measure_drain(server, session_id, clients, concurrent=False)
    return [connects, joins, calls, drain]


def _trend(samples: list[float]) -> str:
    """p50 of the first and the last tenth: does a join cost more as the room fills?"""
    tenth = max(1, len(samples) // 10)
    first = percentile(sorted(samples[:tenth]), 50)
    last = percentile(sorted(samples[-tenth:]), 50)
    return f"first 10% p50 {_ms(first)} ms, last 10% p50 {_ms(last)} ms"


# --- (b) operations --------------------------------------------------------------------------


def bench_operations(server: Any, settings: Settings) -> list[Measurement]:
    """(b) One writer alone in a session sends M add_node operations, each after the last ack."""
    session_id = create_session(server, "bench operations")
    result = Measurement("operation ack (add_node)", "acks")
    deadline = time.monotonic() + settings.phase_timeout
    with ClientPool(server.url) as pool:
        writer = pool.open("writer")
        _, error = call(writer, "join_session", {"session_id": session_id})
        if error:
            raise RuntimeError(f"the writer could not join: {error}")
        start = time.perf_counter()
        for index in range(settings.operations):
            if time.monotonic() > deadline:
                result.note = f"stopped at the phase timeout after {index} operations"
                break
            seconds, error = call(writer, "operation", add_node(session_id, f"op-{index}", index))
            result.samples.append(seconds)
            if error:
                result.errors[error] += 1
        result.elapsed = time.perf_counter() - start
    return [result]


def add_node(session_id: str, node_id: str, index: int) -> dict[str, Any]:
    props = {"x": index, "y": index * 2, "label": f"node {index}"}
    op = {"type": "add_node", "node_id": node_id, "props": props}
    return {"session_id": session_id, "op": op}


# --- (c) fan-out -----------------------------------------------------------------------------


class DeliveryTracker:
    """Emit times per node id, and the receipt latency of every listener, in one clock."""

    def __init__(self, listeners: int) -> None:
        self.listeners = listeners
        self.lock = threading.Lock()
        self.sent: dict[str, float] = {}
        self.received: dict[str, list[float]] = {}
        self.complete: dict[str, threading.Event] = {}
        self.unexpected = 0

    def expect(self, node_id: str) -> None:
        with self.lock:
            self.received[node_id] = []
            self.complete[node_id] = threading.Event()
            self.sent[node_id] = time.perf_counter()

    def on_operation(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        node_id = data.get("op", {}).get("node_id")
        with self.lock:
            if node_id not in self.sent:
                self.unexpected += 1
                return
            arrivals = self.received[node_id]
            arrivals.append(now - self.sent[node_id])
            if len(arrivals) == self.listeners:
                self.complete[node_id].set()

    def wait(self, node_id: str, timeout: float) -> bool:
        return self.complete[node_id].wait(timeout)


def bench_fanout(server: Any, settings: Settings) -> list[Measurement]:
    """(c) K listeners in a room; the writer sends one operation at a time and waits until every
    listener has it, so each sample is one delivery's latency, not a queue's."""
    session_id = create_session(server, "bench fan-out")
    tracker = DeliveryTracker(settings.listeners)
    each = Measurement(f"fan-out to each of {settings.listeners} listeners", "deliveries")
    last = Measurement("fan-out, last listener per op", "ops")
    deadline = time.monotonic() + settings.phase_timeout
    with ClientPool(server.url) as pool:
        listeners, _, joins = open_and_join(
            pool, session_id, settings.listeners, "listener", deadline, tracker.on_operation
        )
        each.errors.update({f"listener join {k}": v for k, v in joins.errors.items()})
        tracker.listeners = len(listeners)
        writer = pool.open("writer")
        call(writer, "join_session", {"session_id": session_id})
        start = time.perf_counter()
        for index in range(settings.fanout_operations):
            if time.monotonic() > deadline:
                each.note = f"stopped at the phase timeout after {index} operations"
                break
            _fan_out_one(writer, session_id, f"fan-{index}", index, tracker, each, last)
        each.elapsed = last.elapsed = time.perf_counter() - start
    each.items = len(each.samples)
    if tracker.unexpected:
        each.errors["unexpected operation events"] = tracker.unexpected
    return [each, last]


def _fan_out_one(
    writer: socketio.Client,
    session_id: str,
    node_id: str,
    index: int,
    tracker: DeliveryTracker,
    each: Measurement,
    last: Measurement,
) -> None:
    tracker.expect(node_id)
    _, error = call(writer, "operation", add_node(session_id, node_id, index))
    if error:
        each.errors[f"writer {error}"] += 1
        return
    if not tracker.wait(node_id, DELIVERY_TIMEOUT):
        each.errors["not delivered to every listener"] += 1
    with tracker.lock:
        arrivals = list(tracker.received[node_id])
    each.samples.extend(arrivals)
    if arrivals:
        last.samples.append(max(arrivals))


# --- (d) drain -------------------------------------------------------------------------------


def measure_drain(
    server: Any, session_id: str, clients: list[socketio.Client], concurrent: bool
) -> tuple[Measurement, Measurement]:
    """Disconnect every client (one after another, or all at once from threads), then poll REST
    until the session shows 0 clients. Returns (each disconnect call, time until 0)."""
    how = "all at once" if concurrent else "one after another"
    calls = Measurement(f"disconnect call, {len(clients)} clients {how}", "disconnects")
    drain = Measurement(f"drain to active_clients 0, {len(clients)} clients {how}", "clients")
    with requests.Session() as http:
        start = time.perf_counter()
        calls.samples = _disconnect_all(clients, concurrent)
        calls.elapsed = time.perf_counter() - start
        remaining = _wait_for_zero(http, server, session_id, timeout=DRAIN_TIMEOUT)
        seconds = time.perf_counter() - start
    if remaining:
        drain.errors[f"still {remaining} active after {DRAIN_TIMEOUT:g} s"] += 1
    else:
        drain.samples.append(seconds)
        drain.elapsed, drain.items = seconds, len(clients)
    return calls, drain


def _disconnect_all(clients: list[socketio.Client], concurrent: bool) -> list[float]:
    """Each client's `disconnect()` duration; it returns once the server closed the socket."""
    durations: list[float] = []
    lock = threading.Lock()
    gate = threading.Event()

    def leave(client: socketio.Client) -> None:
        gate.wait(DRAIN_TIMEOUT)
        start = time.perf_counter()
        client.disconnect()
        with lock:
            durations.append(time.perf_counter() - start)

    if not concurrent:
        gate.set()
        for client in clients:
            leave(client)
        return durations
    threads = [threading.Thread(target=leave, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    gate.set()
    deadline = time.monotonic() + DRAIN_TIMEOUT
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return durations


def _wait_for_zero(http: requests.Session, server: Any, session_id: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    count = active_clients(http, server, session_id)
    while count and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
        count = active_clients(http, server, session_id)
    return count


def bench_drain(server: Any, settings: Settings) -> list[Measurement]:
    """(d) Rounds of K clients joining a fresh session, then all disconnecting at once."""
    k = settings.listeners
    calls = Measurement(f"disconnect call, {k} clients all at once", "disconnects")
    drain = Measurement(f"drain to active_clients 0, {k} clients all at once", "clients")
    deadline = time.monotonic() + settings.phase_timeout
    for round_ in range(settings.drain_rounds):
        if time.monotonic() > deadline:
            break
        session_id = create_session(server, f"bench drain {round_}")
        with ClientPool(server.url) as pool:
            clients, _, joins = open_and_join(
                pool, session_id, settings.listeners, f"drainer{round_}", deadline
            )
            one_calls, one_drain = measure_drain(server, session_id, clients, concurrent=True)
        one_drain.errors.update({f"join {k}": v for k, v in joins.errors.items()})
        _merge(calls, one_calls)
        _merge(drain, one_drain)
    drain.note = f"{len(drain.samples)} rounds; throughput = clients / mean time to 0"
    return [calls, drain]


def _merge(total: Measurement, more: Measurement) -> None:
    total.samples.extend(more.samples)
    total.errors.update(more.errors)
    total.elapsed += more.elapsed
    done = len(more.samples) if more.items is None else more.items
    total.items = (total.items or 0) + done


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Report:
    settings: Settings
    machine: dict[str, Any]
    results: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)
    server_log_problems: list[str] = field(default_factory=list)
    total_seconds: float = 0.0


PHASES: list[tuple[str, Callable[[Any, Settings], list[Measurement]]]] = [
    ("a", bench_joins),
    ("b", bench_operations),
    ("c", bench_fanout),
    ("d", bench_drain),
]


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        # Other work on the machine skews every number: say how busy it was when we started.
        "loadavg_1m_at_start": float(Path("/proc/loadavg").read_text().split()[0]),
    }


def run(settings: Settings) -> Report:
    report = Report(settings, machine())
    started = time.perf_counter()
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        server = stack.enter_context(running_server(settings, directory))
        pid = server.process.pid
        before = Snapshot.take(pid)
        report.usage.append(usage_row("start (idle)", before, before))
        for label, phase in PHASES:
            for measurement in phase(server, settings):
                measurement.name = f"({label}) {measurement.name}"
                report.results.append(measurement.summary())
            after = Snapshot.take(pid)
            report.usage.append(usage_row(f"({label})", before, after))
            before = after
        report.server_log_problems = server_log_problems(server)
    report.total_seconds = round(time.perf_counter() - started, 1)
    return report


# --- output ----------------------------------------------------------------------------------


def markdown(report: Report) -> str:
    s, m = report.settings, report.machine
    lines = [
        f"SessionHub hot paths: {s.database}, N={s.clients} M={s.operations} K={s.listeners} "
        f"fan-out ops={s.fanout_operations} drain rounds={s.drain_rounds}; "
        f"{m['cpus']} CPUs, Python {m['python']}, load average {m['loadavg_1m_at_start']} "
        f"at start; {report.total_seconds} s in all",
        "",
        "| step | n | p50 ms | p95 ms | p99 ms | max ms | throughput | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report.results:
        rate = f"{r['throughput_per_s']} {r['unit']}/s" if r["throughput_per_s"] else ""
        errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "0"
        cells = [r["name"], r["n"], r["p50_ms"], r["p95_ms"], r["p99_ms"], r["max_ms"], rate]
        lines.append(
            "| " + " | ".join("-" if c is None else str(c) for c in [*cells, errors]) + " |"
        )
    lines += ["", "Notes:"] + [f"- {r['name']}: {r['note']}" for r in report.results if r["note"]]
    lines += [
        "",
        "| after step | server VmRSS MiB | VmHWM (peak) MiB | wall s | server CPU | bench CPU |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for u in report.usage:
        lines.append(
            f"| {u['step']} | {u['vmrss_mib']} | {u['vmhwm_mib']} | {u['wall_s']} "
            f"| {u['server_cpu_pct']}% | {u['bench_cpu_pct']}% |"
        )
    problems = report.server_log_problems or ["none"]
    lines += ["", "Server log warnings/errors:"] + [f"- {p}" for p in problems]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--clients", type=int, default=200, help="N joiners in (a)")
    parser.add_argument("--operations", type=int, default=1000, help="M operations in (b)")
    parser.add_argument("--listeners", type=int, default=50, help="K listeners in (c) and (d)")
    parser.add_argument("--fanout-operations", type=int, default=200, help="operations in (c)")
    parser.add_argument("--drain-rounds", type=int, default=5, help="rounds of (d)")
    parser.add_argument("--phase-timeout", type=float, default=60.0, help="seconds per phase")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=1_000_000,
        help="server SOCKET_RATE_LIMIT (the default 50/s would throttle the writer in (b))",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    for name in ("clients", "operations", "listeners", "fanout_operations", "drain_rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return Settings(
        args.database,
        args.clients,
        args.operations,
        args.listeners,
        args.fanout_operations,
        args.drain_rounds,
        args.phase_timeout,
        args.rate_limit,
        args.json,
    )


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    report = run(settings)
    if settings.as_json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
