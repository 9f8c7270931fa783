"""What each webhook event says: its type and the `data` of its body (DESIGN section 11).

Every `data` carries the session's id and project id, so a receiver can route an event without
asking the REST API. Times are ISO 8601 UTC, as everywhere in the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

SESSION_CREATED = "session.created"
SESSION_ENDED = "session.ended"
CLIENT_JOINED = "client.joined"
CLIENT_LEFT = "client.left"
DOCUMENT_CHANGED = "document.changed"
# Sent only by `flask webhooks send-test`, to check a receiver; never written to the outbox.
WEBHOOK_TEST = "webhook.test"


def body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "timestamp": timestamp.isoformat(), "data": data}


def session_created(session: Any) -> dict[str, Any]:
    return {
        "session_id": session.id,
        "project_id": session.project_id,
        "title": session.title,
        "ttl_seconds": session.ttl_seconds,
        "created_at": session.created_at.isoformat(),
    }


def session_ended(session: Any, reason: str, ended_at: datetime) -> dict[str, Any]:
    """`session` as it was before the end committed; `duration_seconds` is created to ended."""
    return {
        "session_id": session.id,
        "project_id": session.project_id,
        "reason": reason,
        "ended_at": ended_at.isoformat(),
        "duration_seconds": round((ended_at - session.created_at).total_seconds(), 3),
        "peak_clients": session.peak_clients,
    }


def client_changed(
    session: Any, member: Any, active_clients: int, reason: str | None
) -> dict[str, Any]:
    """client.joined (`reason` null) and client.left (`reason`: `left`, a disconnect's cause,
    `session_ended`, `instance_dead`...): who, in the app's terms, and the count after."""
    return {
        "session_id": session.id,
        "project_id": session.project_id,
        "client_id": member.client_id,
        "user_id": member.user_id,
        "name": member.client_name,
        "role": member.role,
        "reason": reason,
        "active_clients": active_clients,
    }


def document_changed(
    session_id: str, project_id: str | None, version: int | None
) -> dict[str, Any]:
    return {"session_id": session_id, "project_id": project_id, "version": version}
