"""Webhook e2e helpers: a receiver on a chosen port that also notes when each request arrives,
the admin deliveries listing, and the walkthrough that makes one of every event."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import requests
import socketio

from tests.e2e.conftest import ADMIN, create_session
from tests.e2e.server import ServerProcess
from tests.webhook_receiver import TEST_SECRET, Received, WebhookReceiver

EVENT_TYPES = (
    "session.created",
    "client.joined",
    "document.changed",
    "client.left",
    "session.ended",
)
PROJECT = "e2e-webhooks"
OP = {"type": "add_node", "node_id": "n1", "props": {"x": 1}}


class Receiver(WebhookReceiver):
    """tests.webhook_receiver's receiver, with the views these tests ask of it."""

    def arrived(self) -> int:
        with self._lock:
            return len(self.arrivals)

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def acknowledged(self, event_type: str | None = None) -> list[Received]:
        """The verified requests it answered with a 2xx, optionally of one event type."""
        return [
            request
            for request in self.verified()
            if 200 <= request.status < 300
            and (event_type is None or request.json["type"] == event_type)
        ]


def webhook_env(url: str, **extra: str) -> dict[str, str]:
    return {"WEBHOOK_URLS": url, "WEBHOOK_SECRET": TEST_SECRET, **extra}


def deliveries(server: ServerProcess, **filters: str) -> list[dict[str, Any]]:
    """Every row of GET /api/v1/webhooks/deliveries (admin), following the cursor."""
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 500, **filters}
    while True:
        response = requests.get(
            f"{server.api}/webhooks/deliveries", params=params, headers=ADMIN, timeout=10
        )
        assert response.status_code == 200, response.text
        page = response.json()
        rows.extend(page["deliveries"])
        if not page["next_cursor"]:
            return rows
        params["cursor"] = page["next_cursor"]


def all_delivered(server: ServerProcess, count: int) -> Callable[[], bool]:
    """A predicate: the listing has at least `count` rows and every one is delivered (the
    caller then checks the exact rows)."""

    def check() -> bool:
        rows = deliveries(server)
        return len(rows) >= count and all(row["status"] == "delivered" for row in rows)

    return check


def assert_consistent(receiver: Receiver) -> dict[str, dict[str, Any]]:
    """Every request verified, and each webhook-id always carried the same body (a retry
    resends the very bytes): webhook-id -> body."""
    bodies: dict[str, bytes] = {}
    for request in receiver.requests():
        assert request.verified, f"a signature did not verify: {request.headers}"
        assert request.headers["user-agent"].startswith("SessionHub-Webhooks/"), request.headers
        assert request.headers["content-type"] == "application/json", request.headers
        assert bodies.setdefault(request.webhook_id, request.body) == request.body, (
            f"{request.webhook_id} came with two bodies"
        )
    return {webhook_id: json.loads(body) for webhook_id, body in bodies.items()}


def acknowledged_ids(receiver: Receiver) -> dict[str, int]:
    """webhook-id -> how many times the receiver acknowledged it."""
    counts: dict[str, int] = defaultdict(int)
    for request in receiver.acknowledged():
        counts[request.webhook_id] += 1
    return dict(counts)


def walkthrough(server: ServerProcess, sio_clients: Callable[..., socketio.Client]) -> str:
    """Through REST and a python-socketio client: create a session, join it, one operation,
    leave, end it (admin DELETE). Returns the session id."""
    session_id = create_session(server, project_id=PROJECT, title="Webhooks board")
    client = sio_clients(server.url, "Ada")
    ack = client.call("join_session", {"session_id": session_id}, timeout=10)
    assert ack["ok"] is True, ack
    ack = client.call("operation", {"session_id": session_id, "op": OP}, timeout=10)
    assert ack == {"ok": True, "version": 1}, ack
    ack = client.call("leave_session", {"session_id": session_id}, timeout=10)
    assert ack["ok"] is True and ack["active_clients"] == 0, ack
    response = requests.delete(f"{server.api}/sessions/{session_id}", headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    return session_id
