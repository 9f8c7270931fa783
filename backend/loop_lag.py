"""The event-loop lag probe: how late a sleeping green thread wakes up.

Under eventlet every client shares one OS thread, so anything that holds it (a slow query, a
garbage collection, a big JSON document) delays every other client by as long. A green thread
that asks to sleep for a fixed interval and measures how much later it woke sees exactly that
delay, whatever caused it. Its histogram is on `/metrics`; a wake-up later than
EVENT_LOOP_LAG_WARN_MS is logged with its length, so a stall is seen, not guessed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import Histogram

from .telemetry import PROCESS_REGISTRY

log = logging.getLogger(__name__)

PROBE_INTERVAL_SECS = 0.01

EVENT_LOOP_LAG = Histogram(
    "sessionhub_event_loop_lag_seconds",
    f"How much later than asked a {PROBE_INTERVAL_SECS * 1000:g} ms sleep of this process's "
    "event loop woke up: the delay every client of the process shared.",
    buckets=(
        0.001,
        0.002,
        0.005,
        0.01,
        0.02,
        0.03,
        0.05,
        0.075,
        0.1,
        0.15,
        0.2,
        0.3,
        0.5,
        1,
        2,
        5,
        10,
    ),  # fmt: skip
    registry=PROCESS_REGISTRY,
)


class LagProbe:
    """Runs for the life of the process, in whatever green (or real) thread `spawn` starts."""

    def __init__(
        self,
        sleep: Callable[[float], object],
        warn_after_secs: float,
        interval_secs: float = PROBE_INTERVAL_SECS,
    ) -> None:
        self.sleep = sleep
        self.warn_after_secs = warn_after_secs
        self.interval_secs = interval_secs

    def run(self) -> None:
        while True:
            self.measure_once()

    def measure_once(self) -> float:
        """Sleep one interval; record and return how late the wake-up was."""
        asked = time.perf_counter()
        self.sleep(self.interval_secs)
        lag = max(0.0, time.perf_counter() - asked - self.interval_secs)
        EVENT_LOOP_LAG.observe(lag)
        if self.warn_after_secs and lag >= self.warn_after_secs:
            log.warning("event loop stalled: a green thread woke %.1f ms late", lag * 1000)
        return lag
