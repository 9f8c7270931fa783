"""The only module that emits to Socket.IO clients; room and event names live here.

Services call it after they commit, never inside a transaction: an emit may yield to the
event loop, and a yielding writer holds SQLite's lock for everyone (docs/stack-notes.md,
trap 3).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from .extensions import socketio
from .models import Membership

log = logging.getLogger(__name__)

NAMESPACE = "/"


def clients(members: Sequence[Any]) -> list[dict[str, Any]]:
    """Memberships (or `members()` rows) as clients see them: what `ClientSchema` dumps, built
    by hand because every join and leave sends it to a whole room (marshmallow took longer
    than the rest of the presence diff; a test keeps the two identical)."""
    return [
        {
            "client_id": member.client_id,
            "name": member.client_name,
            "joined_at": member.joined_at.isoformat() if member.joined_at else None,
        }
        for member in members
    ]


def session_room(session_id: str) -> str:
    return f"session:{session_id}"


def session_ended(session_id: str, reason: str) -> None:
    """Tell a session's clients it is over and empty its room, on every worker."""
    room = session_room(session_id)
    socketio.emit(
        "session_ended", {"session_id": session_id, "reason": reason}, to=room, namespace=NAMESPACE
    )
    socketio.close_room(room, namespace=NAMESPACE)
    log.debug("told room %s the session ended (%s)", room, reason)


def presence(
    session_id: str,
    active_clients: int,
    joined: Sequence[Membership],
    left: Sequence[Membership],
    skip_sid: str | None = None,
) -> None:
    """A diff of the room's members: who came and went, never the whole list (DESIGN 5)."""
    payload = {
        "session_id": session_id,
        "active_clients": active_clients,
        "joined": clients(joined),
        "left": clients(left),
    }
    socketio.emit(
        "presence", payload, to=session_room(session_id), namespace=NAMESPACE, skip_sid=skip_sid
    )


def operation(
    session_id: str,
    version: int,
    op: dict[str, Any],
    client: dict[str, Any],
    skip_sid: str | None = None,
) -> None:
    """A committed document change, to everyone in the room but its sender."""
    payload = {"session_id": session_id, "version": version, "op": op, "client": client}
    socketio.emit(
        "operation", payload, to=session_room(session_id), namespace=NAMESPACE, skip_sid=skip_sid
    )
