"""Flood benchmark: what one client sending thousands of events at once costs everyone else.

A probe client in its own session sends one `update_node` every PROBE_INTERVAL seconds and
times each ack, first on a quiet server, then while a flooder (a raw WebSocket, so nothing
client-side slows it down) writes FLOOD_EVENTS `operation` packets into another session without
waiting. The server's rate limit refuses most of them and then disconnects the flooder; the
probe's latency during the flood is the number this measures. All traffic goes to 127.0.0.1;
the server is stopped by pid whatever happens.

    .venv/bin/python -m bench.flood            # SQLite
    .venv/bin/python -m bench.flood --events 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import websocket

from bench.hot_paths import (
    ClientPool,
    Settings,
    call,
    create_session,
    percentile,
    running_server,
)

PROBE_INTERVAL = 0.04  # seconds between probe operations: 25/s, under any sane rate limit
QUIET_SECONDS = 2.0
FLOOD_WINDOW = 4.0  # seconds of probing after the flood starts


def flood(url: str, session_id: str, events: int) -> float:
    """Join over a raw Engine.IO WebSocket, then write `events` operations without reading."""
    ws = websocket.create_connection(
        url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", timeout=10
    )
    try:
        ws.recv()  # Engine.IO open
        ws.send("40")
        ws.recv()  # Socket.IO connect
        ws.send("420" + json.dumps(["join_session", {"session_id": session_id}]))
        while not ws.recv().startswith("430"):
            pass
        start = time.perf_counter()
        for index in range(events):
            op = {"type": "add_node", "node_id": f"f{index}", "props": {"i": index}}
            payload = json.dumps(["operation", {"session_id": session_id, "op": op}])
            try:
                ws.send(f"42{index + 1}{payload}")
            except (OSError, websocket.WebSocketException):
                break  # disconnected for flooding, as designed
        return time.perf_counter() - start
    finally:
        ws.close()


def probe(client: Any, session_id: str, seconds: float) -> tuple[list[float], int]:
    samples, errors = [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        op = {"type": "update_node", "node_id": "probe", "props": {"t": time.time()}}
        elapsed, error = call(client, "operation", {"session_id": session_id, "op": op})
        samples.append(elapsed)
        errors += error is not None
        time.sleep(PROBE_INTERVAL)
    return samples, errors


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50, p99 = percentile(ordered, 50), percentile(ordered, 99)
    p50, p99, worst = (value * 1000 for value in (p50, p99, ordered[-1]))
    return f"n={len(ordered)} p50={p50:.1f} ms p99={p99:.1f} ms max={worst:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate-limit", type=int, default=50, help="SOCKET_RATE_LIMIT")
    args = parser.parse_args()
    settings = Settings("sqlite", 0, 0, 0, 0, 0, 60.0, args.rate_limit, False)
    with tempfile.TemporaryDirectory() as tmp, running_server(settings, Path(tmp)) as server:
        probe_session = create_session(server, "probe")
        with ClientPool(server.url) as pool:
            client = pool.open("probe")
            call(client, "join_session", {"session_id": probe_session})
            add = {"type": "add_node", "node_id": "probe", "props": {}}
            call(client, "operation", {"session_id": probe_session, "op": add})
            for round_ in range(args.rounds):
                quiet, _ = probe(client, probe_session, QUIET_SECONDS)
                target = create_session(server, f"flood-{round_}")
                thread = threading.Thread(
                    target=flood, args=(server.url, target, args.events), daemon=True
                )
                thread.start()
                loud, errors = probe(client, probe_session, FLOOD_WINDOW)
                thread.join(30)
                print(f"round {round_}: quiet {summary(quiet)}")
                print(f"round {round_}: flood {summary(loud)} errors={errors}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
