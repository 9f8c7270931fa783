"""The only module that emits to Socket.IO clients; room and event names live here.

Services call it after they commit, never inside a transaction: an emit may yield to the
event loop, and a yielding writer holds SQLite's lock for everyone (docs/stack-notes.md,
trap 3).

`presence` diffs are coalesced per room over PRESENCE_COALESCE_MS (DESIGN section 5 allows
it): sent one per join, 1,000 clients joining one session cost 873,000 presence messages and
joins took up to 22 s; coalesced, a burst costs the room one message per window, plus one to
each joiner of the window naming who came after it (its ack already named who came before).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, has_app_context

from .extensions import socketio
from .flush_window import FlushWindow
from .models import Membership

log = logging.getLogger(__name__)

NAMESPACE = "/"
COALESCER_KEY = "sessionhub.presence_coalescer"


def clients(members: Sequence[Any]) -> list[dict[str, Any]]:
    """Memberships (or `members()` rows) as clients see them: what `ClientSchema` dumps, built
    by hand because every join and leave sends it to a whole room (marshmallow took longer
    than the rest of the presence diff; a test keeps the two identical)."""
    return [
        {
            "client_id": member.client_id,
            "name": member.client_name,
            "joined_at": member.joined_at.isoformat() if member.joined_at else None,
            "user_id": member.user_id,
            "role": member.role,
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
    """A diff of the room's members: who came and went, never the whole list (DESIGN 5).
    `skip_sid` is the socket whose own join this is: its ack already holds the full list."""
    coalescer = current_app.extensions.get(COALESCER_KEY) if has_app_context() else None
    if coalescer is not None:
        coalescer.add(session_id, active_clients, clients(joined), clients(left), skip_sid)
        return
    _emit_presence(session_id, active_clients, clients(joined), clients(left), skip_sid)


def _emit_presence(
    session_id: str,
    active_clients: int,
    joined: list[dict[str, Any]],
    left: list[dict[str, Any]],
    skip_sid: str | list[str] | None = None,
    to: str | None = None,
) -> None:
    payload = {
        "session_id": session_id,
        "active_clients": active_clients,
        "joined": joined,
        "left": left,
    }
    socketio.emit(
        "presence",
        payload,
        to=to or session_room(session_id),
        namespace=NAMESPACE,
        skip_sid=skip_sid,
    )


@dataclass
class _RoomNews:
    """One room's presence changes within the current window."""

    active_clients: int = 0
    # client_id -> (arrival number, client view), in arrival order
    joined: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    left: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (socket, arrival number of its own join): it is told only of arrivals after its own
    joiners: list[tuple[str, int]] = field(default_factory=list)
    arrivals: int = 0


class PresenceCoalescer:
    """Collects presence changes per room and sends each room's net diff once per window.

    A client who joins and leaves within one window is never announced at all. `active_clients`
    is read from the database when the window closes (`read_counts`): with several processes
    each coalescing its own changes, a count carried from the window's start could reach the
    room after a newer one from another process and leave it showing a stale number.
    """

    def __init__(
        self,
        window_secs: float,
        start_task: Callable[[Callable[[], None]], Any],
        sleep: Callable[[float], None],
        read_counts: Callable[[list[str]], dict[str, int]] | None = None,
    ) -> None:
        self._window = FlushWindow(window_secs, start_task, sleep, self.flush)
        self._read_counts = read_counts
        self._lock = threading.Lock()  # green under eventlet's monkey patching
        self._rooms: dict[str, _RoomNews] = {}

    def add(
        self,
        session_id: str,
        active_clients: int,
        joined: list[dict[str, Any]],
        left: list[dict[str, Any]],
        joiner_sid: str | None = None,
    ) -> None:
        with self._lock:
            news = self._rooms.setdefault(session_id, _RoomNews())
            news.active_clients = active_clients
            for view in joined:
                news.arrivals += 1
                news.joined[view["client_id"]] = (news.arrivals, view)
            if joiner_sid is not None:
                news.joiners.append((joiner_sid, news.arrivals))
            for view in left:
                if news.joined.pop(view["client_id"], None) is None:
                    news.left[view["client_id"]] = view
        self._window.open()

    def flush(self) -> None:
        """Send every room's news gathered so far."""
        with self._lock:
            rooms, self._rooms = self._rooms, {}
        if not rooms:
            return
        self._refresh_counts(rooms)
        for session_id, news in rooms.items():
            try:
                self._send(session_id, news)
            except Exception:
                log.exception("could not send presence to session=%s", session_id)

    def _refresh_counts(self, rooms: dict[str, _RoomNews]) -> None:
        """The rooms' counts as committed now; the counts the changes carried if unreadable."""
        if self._read_counts is None:
            return
        try:
            counts = self._read_counts(list(rooms))
        except Exception:
            log.exception("could not read the counts of %d rooms for presence", len(rooms))
            return
        for session_id, news in rooms.items():
            news.active_clients = counts.get(session_id, news.active_clients)

    @staticmethod
    def _send(session_id: str, news: _RoomNews) -> None:
        joined = [view for _, view in news.joined.values()]
        left = list(news.left.values())
        if joined or left:
            joiners = [sid for sid, _ in news.joiners]
            _emit_presence(session_id, news.active_clients, joined, left, skip_sid=joiners)
        for sid, own_arrival in news.joiners:
            later = [view for arrival, view in news.joined.values() if arrival > own_arrival]
            if later or left:
                _emit_presence(session_id, news.active_clients, later, left, to=sid)


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


def state(
    session_id: str, client_id: str, value: dict[str, Any] | None, skip_sid: str | None = None
) -> None:
    """A member's new ephemeral state (null: cleared), to the rest of the room."""
    payload = {"session_id": session_id, "client_id": client_id, "state": value}
    socketio.emit(
        "state", payload, to=session_room(session_id), namespace=NAMESPACE, skip_sid=skip_sid
    )


def signal(session_id: str, client_id: str, event: str, data: Any, skip_sid: str) -> None:
    """A member's one-off message, to the rest of the room."""
    payload = {"session_id": session_id, "client_id": client_id, "event": event, "data": data}
    socketio.emit(
        "signal", payload, to=session_room(session_id), namespace=NAMESPACE, skip_sid=skip_sid
    )
