"""Prometheus objects that live for the whole process, never per app (docs/stack-notes.md, trap 6).

Only what a single process observes lives here: the sweep duration histogram, the sockets it
holds (and, in `loop_lag`, its event loop's lag). Numbers every
process must agree on (counts of sessions and clients) are read from the database at scrape
time instead, by `stats`.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PROCESS_REGISTRY = CollectorRegistry(auto_describe=True)

SWEEP_DURATION = Histogram(
    "sessionhub_sweep_duration_seconds",
    "Wall time of each sweep of inactive sessions run by this process.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=PROCESS_REGISTRY,
)

SOCKET_CONNECTIONS = Gauge(
    "sessionhub_socket_connections",
    "Socket.IO connections this process holds now (joined to a session or not).",
    registry=PROCESS_REGISTRY,
)

WEBHOOK_DELIVERIES = Counter(
    "sessionhub_webhook_deliveries",
    "Webhook delivery attempts made by this process, by event type and outcome "
    "(delivered, retry: another attempt is scheduled, failed: no more attempts).",
    ["event", "outcome"],
    registry=PROCESS_REGISTRY,
)
