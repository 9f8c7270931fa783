"""Bench only: `python app.py` plus a `sessionhub_greenlets` gauge, for the soak's leak watch.

app.py monkey-patches the standard library when it is imported, so it is imported before
anything else; the gauge goes into the process registry `/api/v1/metrics` already serves.
Production code never counts greenlets: a walk of `gc.get_objects()` is a stall of its own.
Objects app.py froze at start-up (gc.freeze) are not listed by the collector, so the gauge
counts greenlets made since then, which is exactly what a leak would add to.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import app  # noqa: E402  (first: it monkey-patches)

# isort: split
import gc  # noqa: E402

from greenlet import greenlet  # noqa: E402
from prometheus_client import Gauge  # noqa: E402

from backend.telemetry import PROCESS_REGISTRY  # noqa: E402

GREENLETS = Gauge(
    "sessionhub_greenlets",
    "Greenlets that have not finished (bench instrumentation only).",
    registry=PROCESS_REGISTRY,
)
DEAD_GREENLETS = Gauge(
    "sessionhub_greenlets_dead",
    "Finished greenlets something still holds a reference to (bench instrumentation only).",
    registry=PROCESS_REGISTRY,
)


def _greenlets() -> list[greenlet]:
    # Collect first: a finished greenlet in a reference cycle waits for the collector, and
    # counting it would make the gauges follow the collector's timing instead of a leak.
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, greenlet)]


GREENLETS.set_function(lambda: sum(not g.dead for g in _greenlets()))
DEAD_GREENLETS.set_function(lambda: sum(g.dead for g in _greenlets()))

if __name__ == "__main__":
    sys.exit(app.main())
