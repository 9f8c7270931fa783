"""Soak: does a server under steady client churn keep its memory, sockets and greenlets flat?

Why: a leak per connection (a greenlet parked forever, a socket never closed, a membership never
closed) is invisible in a short benchmark and fatal after a week. This starts one
production-mode server pinned to core 1 through bench/instrumented_server.py (app.py plus a
greenlet gauge), keeps ~100 python-socketio clients churning from core 0 (connect, join one of
~10 sessions, send operations, then leave and disconnect cleanly, or drop the TCP connection
with no goodbye), and every ~10 s samples the server's RSS, open fds, greenlets and open
memberships. Pass: each stays within 5% of its value at the end of the first minute, and once
the churn stops the open memberships return to 0 within a few seconds.

    .venv/bin/python -m bench.soak [--minutes 10] [--out bench/results/soak.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import socketio

from tests.conftest import migrated_database

from .pinned_server import PinnedServer, pin_this_process_to_client_core

SESSIONS = 10
SAMPLE_SECS = 10.0
TOLERANCE = 0.05
DRAIN_SECS = 10.0
DROP_SHARE = 0.3  # share of cycles that end with the TCP connection cut, not a goodbye
_GREENLETS = "sessionhub_greenlets "
_SOCKETS = "sessionhub_socket_connections "
_DEAD = "sessionhub_greenlets_dead "


@dataclass
class Churn:
    """Client threads, each cycling connect -> join -> operations -> leave or drop."""

    url: str
    session_ids: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    joined: int = 0
    cycles: int = 0
    drops: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _count(self, joined: int = 0, cycles: int = 0, drops: int = 0) -> None:
        with self.lock:
            self.joined += joined
            self.cycles += cycles
            self.drops += drops

    def run_client(self, index: int) -> None:
        rng = random.Random(index)
        while not self.stop.is_set():
            try:
                self._cycle(index, rng)
            except Exception as error:  # counted and reported; the soak carries on
                with self.lock:
                    self.failures.append(f"{index}: {error!r}"[:200])
                self.stop.wait(1.0)

    def _cycle(self, index: int, rng: random.Random) -> None:
        client = socketio.Client(reconnection=False)
        client.connect(self.url, transports=["websocket"], wait_timeout=10)
        session_id = rng.choice(self.session_ids)
        ack = client.call("join_session", {"session_id": session_id, "name": f"c{index}"})
        joined = bool(ack and ack.get("ok"))
        self._count(joined=int(joined))
        try:
            for step in range(rng.randint(2, 6)):
                node_id = f"c{index}-{step}"
                for op in (
                    {"type": "add_node", "node_id": node_id, "props": {"n": step}},
                    {"type": "delete_node", "node_id": node_id},
                ):
                    client.call("operation", {"session_id": session_id, "op": op}, timeout=15)
                if self.stop.wait(rng.uniform(0.2, 0.6)):
                    break
        finally:
            self._count(joined=-int(joined), cycles=1)
            if rng.random() < DROP_SHARE:
                self._count(drops=1)
                _drop(client)
            else:
                client.call("leave_session", {"session_id": session_id}, timeout=15)
                client.disconnect()


def _drop(client: socketio.Client) -> None:
    """Cut the TCP connection with no Socket.IO goodbye (docs/stack-notes.md, "Tests")."""
    sock = client.eio.ws.sock if client.eio.ws is not None else None
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    try:
        client.disconnect()  # only tidies this side; the server already saw the cut
    except Exception:
        pass


def _sample(server: PinnedServer) -> dict[str, Any]:
    proc = Path(f"/proc/{server.pid}")
    rss_kb = next(
        int(line.split()[1])
        for line in (proc / "status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    metrics = requests.get(f"{server.api}/metrics", timeout=30).text
    greenlets, sockets, dead = (
        next(float(line.split()[1]) for line in metrics.splitlines() if line.startswith(name))
        for name in (_GREENLETS, _SOCKETS, _DEAD)
    )
    numbers = requests.get(f"{server.api}/sessions/metrics", timeout=30).json()
    return {
        "rss_mb": round(rss_kb / 1024, 1),
        "fds": len(os.listdir(proc / "fd")),
        "greenlets": greenlets,
        "dead_greenlets": dead,
        "sockets": sockets,
        # What a leak would raise: fds and greenlets beyond what the open sockets explain.
        "fds_beyond_sockets": len(os.listdir(proc / "fd")) - sockets,
        "memberships": numbers["connected_clients"],
    }


def _verdicts(samples: list[dict[str, Any]], baseline_at: float) -> dict[str, Any]:
    base = next(s for s in samples if s["t"] >= baseline_at)
    later = [s for s in samples if s["t"] >= base["t"]]
    verdicts = {}
    for key in ("rss_mb", "fds", "greenlets"):
        worst = max(later, key=lambda s, k=key: abs(s[k] - base[k]))
        drift = (worst[key] - base[key]) / base[key] if base[key] else 0.0
        verdicts[key] = {
            "baseline": base[key],
            "worst": worst[key],
            "last": later[-1][key],
            "drift": round(drift, 4),
            "pass": abs(drift) <= TOLERANCE,
        }
    return verdicts


def _drain(server: PinnedServer) -> dict[str, Any]:
    started = time.monotonic()
    while time.monotonic() - started < DRAIN_SECS:
        left = requests.get(f"{server.api}/sessions/metrics", timeout=30).json()
        if left["connected_clients"] == 0:
            return {"pass": True, "secs": round(time.monotonic() - started, 2)}
        time.sleep(0.2)
    return {"pass": False, "secs": DRAIN_SECS, "left": left["connected_clients"]}


def _settled_sample(server: PinnedServer) -> dict[str, Any]:
    """A sample once the server has closed every socket, so idle is compared with idle."""
    deadline = time.monotonic() + DRAIN_SECS
    sample = _sample(server)
    while sample["sockets"] and time.monotonic() < deadline:
        time.sleep(0.5)
        sample = _sample(server)
    return sample


def soak(directory: Path, minutes: float, clients: int) -> dict[str, Any]:
    with migrated_database("sqlite", directory) as url:
        server = PinnedServer(
            url, directory / "server.log", script="bench/instrumented_server.py"
        ).start()
        try:
            ids = [
                requests.post(f"{server.api}/sessions", json={"project_id": "soak"}).json()[
                    "session_id"
                ]
                for _ in range(SESSIONS)
            ]
            before = _sample(server)
            churn = Churn(server.url, ids)
            threads = [
                threading.Thread(target=churn.run_client, args=(i,), daemon=True)
                for i in range(clients)
            ]
            for thread in threads:
                thread.start()
            samples = _run_samples(server, churn, minutes * 60)
            churn.stop.set()
            for thread in threads:
                thread.join(30)
            drain = _drain(server)
            after = _settled_sample(server)
        finally:
            server.stop()
    baseline_at = min(60.0, minutes * 30)
    return {
        "minutes": minutes,
        "clients": clients,
        "cycles": churn.cycles,
        "drops": churn.drops,
        "failures": len(churn.failures),
        "failure_examples": churn.failures[:5],
        "samples": samples,
        "verdicts": _verdicts(samples, baseline_at),
        "drain": drain,
        "before_churn": before,
        "after_drain": after,
    }


def _run_samples(server: PinnedServer, churn: Churn, secs: float) -> list[dict[str, Any]]:
    started = time.monotonic()
    samples = []
    while (elapsed := time.monotonic() - started) < secs:
        sample = _sample(server)
        sample.update(t=round(elapsed, 1), joined_now=churn.joined, cycles=churn.cycles)
        samples.append(sample)
        print(json.dumps(sample), flush=True)
        time.sleep(max(0.0, SAMPLE_SECS - (time.monotonic() - started - elapsed)))
    return samples


def report(result: dict[str, Any]) -> str:
    lines = [
        "| measure | at baseline | worst | last | drift | target | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, v in result["verdicts"].items():
        lines.append(
            f"| {key} | {v['baseline']} | {v['worst']} | {v['last']} | {v['drift']:+.1%} | "
            f"within {TOLERANCE:.0%} | {'pass' if v['pass'] else 'FAIL'} |"
        )
    drain = result["drain"]
    lines.append(
        f"| memberships after churn stops | | | {result['after_drain']['memberships']} | | "
        f"0 within {DRAIN_SECS:g} s | {'pass' if drain['pass'] else 'FAIL'} "
        f"({drain['secs']} s) |"
    )
    before, after = result["before_churn"], result["after_drain"]
    for key in ("fds", "greenlets", "dead_greenlets", "rss_mb"):
        lines.append(
            f"| {key}, idle: before churn -> after drain | {before[key]} | | {after[key]} | "
            f"{after[key] - before[key]:+g} | (leak check, informational) | |"
        )
    gap = max(abs(s["memberships"] - s["joined_now"]) for s in result["samples"])
    lines.append(
        f"\n{result['cycles']} client cycles ({result['drops']} dropped abruptly), "
        f"{result['failures']} failures; largest gap between open memberships and clients "
        f"joined at a sample: {gap} (in flight while churning)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("bench/results/soak.json"))
    args = parser.parse_args(argv)
    pin_this_process_to_client_core()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        result = soak(Path(tmp), args.minutes, args.clients)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(report(result))
    ok = all(v["pass"] for v in result["verdicts"].values()) and result["drain"]["pass"]
    print(f"\n{'PASS' if ok else 'FAIL'}; JSON in {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
