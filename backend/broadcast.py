"""The only module that emits to Socket.IO clients; room and event names live here.

Services call it after they commit, never inside a transaction: an emit may yield to the
event loop, and a yielding writer holds SQLite's lock for everyone (STACK_NOTES trap 3).
"""

from __future__ import annotations

import logging

from .extensions import socketio

log = logging.getLogger(__name__)

NAMESPACE = "/"


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
