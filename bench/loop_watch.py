"""Two views of a server's event-loop stalls while a benchmark phase runs.

(a) The server's own lag probe: the `sessionhub_event_loop_lag_seconds` histogram on
`/api/v1/metrics`, diffed before and after a phase. (b) What a client feels: one Socket.IO
client doing a cheap round trip every 20 ms, whose round-trip times are sliced by phase. The
second catches a stall even where the probe's buckets are coarse, and it is what users see.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, field

import requests
import socketio

LAG_METRIC = "sessionhub_event_loop_lag_seconds_bucket"
_BUCKET = re.compile(LAG_METRIC + r'\{le="([^"]+)"\} ([0-9.e+]+)')
RTT_INTERVAL = 0.02


def lag_buckets(api: str) -> dict[float, float]:
    """Cumulative bucket counts of the server's lag histogram, by upper bound."""
    text = requests.get(f"{api}/metrics", timeout=30).text
    return {float(le): float(count) for le, count in _BUCKET.findall(text)}


def lag_summary(before: dict[float, float], after: dict[float, float]) -> dict[str, float | None]:
    """p99 and max bucket bounds (seconds) of the observations made between two snapshots."""
    bounds = sorted(after)
    cumulative = [after[b] - before.get(b, 0.0) for b in bounds]
    total = cumulative[-1] if cumulative else 0.0
    if not total:
        return {"samples": 0, "p99_le": None, "max_le": None}
    p99 = next(b for b, c in zip(bounds, cumulative, strict=True) if c >= 0.99 * total)
    per_bucket = [c - (cumulative[i - 1] if i else 0.0) for i, c in enumerate(cumulative)]
    highest = max(i for i, count in enumerate(per_bucket) if count > 0)
    return {"samples": total, "p99_le": p99, "max_le": bounds[highest]}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


@dataclass
class RttProbe:
    """A Socket.IO client answering `leave_session` for a session it never joined: the server
    looks the session up and acks an error, a small real round trip through the event loop."""

    url: str
    session_id: str
    samples: list[tuple[float, float]] = field(default_factory=list)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> RttProbe:
        self.client = socketio.Client(reconnection=False)
        self.client.connect(self.url, transports=["websocket"], wait_timeout=10)
        self._thread = threading.Thread(target=self._run, name="rtt-probe", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        payload = {"session_id": self.session_id}
        while not self._stop.is_set():
            sent = time.perf_counter()
            try:
                self.client.call("leave_session", payload, timeout=10)
                self.samples.append((sent, time.perf_counter() - sent))
            except Exception:  # a timeout is a finding, not a crash of the benchmark
                self.errors += 1
            self._stop.wait(RTT_INTERVAL)

    def window(self, start: float, end: float) -> dict[str, float | None]:
        rtts = [rtt for sent, rtt in self.samples if start <= sent <= end]
        return {
            "samples": len(rtts),
            "p99_ms": _ms(percentile(rtts, 0.99)),
            "max_ms": _ms(max(rtts) if rtts else None),
        }

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
        self.client.disconnect()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)
