"""Liveness, readiness and the numbers operators watch: JSON and Prometheus text."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .. import stats
from ..access import PUBLIC
from ..extensions import SCHEDULER_KEY, db
from ..schemas import HealthSchema, SessionMetricsSchema
from ..telemetry import PROCESS_REGISTRY
from .blueprint import URL_PREFIX, ApiBlueprint

log = logging.getLogger(__name__)

blp = ApiBlueprint("health", __name__, url_prefix=URL_PREFIX, description="Health and metrics")


def _next_sweep_at() -> Any:
    scheduler = current_app.extensions.get(SCHEDULER_KEY)
    return scheduler.next_sweep_at() if scheduler is not None else None


@blp.route("/sessions/metrics")
@blp.requires(PUBLIC)
@blp.response(200, SessionMetricsSchema)
def session_metrics() -> dict[str, Any]:
    """Session counts, ages and the sweeper's last outcome, the same from every worker."""
    return stats.session_metrics(_next_sweep_at())


@blp.route("/health")
@blp.requires(PUBLIC)
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="Database unreachable or scheduler dead")
def health() -> tuple[dict[str, Any], int]:
    """200 when this process can serve: its database answers and its scheduler runs."""
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError:
        log.exception("health check: database unreachable")
        db.session.rollback()
        database = "unreachable"
    scheduler = _scheduler_state()
    healthy = database == "ok" and scheduler != "stopped"
    body = {
        "status": "ok" if healthy else "unavailable",
        "database": database,
        "scheduler": scheduler,
        "sweep": "on" if _sweep_interval() else "off",
        "instance_id": current_app.config["INSTANCE_ID"],
        "instance_name": current_app.config["INSTANCE_NAME"],
    }
    return body, 200 if healthy else 503


def _scheduler_state() -> str:
    """`running`, `disabled` (no scheduler in this process: tests and CLI commands), or
    `stopped`: the scheduler this process started has died, so it no longer heartbeats (its
    clients will be reclaimed) or sweeps. The heartbeat runs even when the sweep is off
    (SESSION_CLEANUP_INTERVAL=0), so a dead scheduler is unhealthy either way."""
    scheduler = current_app.extensions.get(SCHEDULER_KEY)
    if scheduler is None:
        return "disabled"
    return "running" if scheduler.running else "stopped"


def _sweep_interval() -> int:
    scheduler = current_app.extensions.get(SCHEDULER_KEY)
    return scheduler.sweep_interval if scheduler is not None else 0


class _DatabaseCollector:
    """Exposes the database's numbers as metric families at scrape time."""

    def __init__(self, numbers: dict[str, Any]) -> None:
        self.numbers = numbers

    def collect(self) -> Any:
        numbers, sweeper = self.numbers, self.numbers["sweeper"]
        yield GaugeMetricFamily(
            "sessionhub_active_sessions", "Sessions that are active.", numbers["active_sessions"]
        )
        yield GaugeMetricFamily(
            "sessionhub_connected_clients",
            "Open memberships across all sessions and workers.",
            numbers["connected_clients"],
        )
        yield CounterMetricFamily(
            "sessionhub_sessions_created", "Sessions created (retained).", numbers["total_created"]
        )
        yield CounterMetricFamily(
            "sessionhub_sessions_cleaned",
            "Sessions ended as unused or by admin cleanup (retained).",
            numbers["total_cleaned"],
        )
        yield CounterMetricFamily("sessionhub_sweep_runs", "Sweeps recorded.", sweeper["runs"])
        webhooks = numbers["webhooks"]
        by_status = GaugeMetricFamily(
            "sessionhub_webhook_outbox",
            "Webhook deliveries in the outbox, by status (delivered ones until purged).",
            labels=["status"],
        )
        for status in ("pending", "delivered", "failed"):
            by_status.add_metric([status], webhooks[status])
        yield by_status
        yield GaugeMetricFamily(
            "sessionhub_webhook_oldest_pending_age_seconds",
            "Age of the oldest pending webhook delivery (0 when none is pending).",
            webhooks["oldest_pending_age_seconds"] or 0,
        )
        oldest = numbers["oldest_session_age_seconds"]
        yield GaugeMetricFamily(
            "sessionhub_oldest_session_age_seconds",
            "Age of the oldest active session.",
            oldest or 0,
        )


@blp.route("/metrics")
@blp.requires(PUBLIC)
@blp.doc(responses={200: {"description": "Prometheus text exposition"}})
def prometheus_metrics() -> Response:
    """Prometheus scrape endpoint."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_DatabaseCollector(stats.session_metrics(_next_sweep_at())))
    body = generate_latest(registry) + generate_latest(PROCESS_REGISTRY)
    return Response(body, content_type=CONTENT_TYPE_LATEST)
