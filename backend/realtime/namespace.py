"""The Socket.IO namespace `/`: routing every event (rate limit, context, ack), connect and
disconnect; the session events themselves are `session_events`.

Handlers are thin: validate the payload, call a service, answer an ack. Every client event is
answered `{"ok": true, ...}` or `{"ok": false, "error": {...}}`, and nothing a client sends can
raise inside python-socketio (docs/stack-notes.md, trap 10).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import current_app, request
from flask_socketio import ConnectionRefusedError, Namespace
from marshmallow import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from .. import activity, broadcast, clock, presence
from ..exceptions import (
    InvalidPayload,
    NotConnected,
    RateLimited,
    UnknownEvent,
)
from ..extensions import db
from ..schemas import (
    ConnectAuthSchema,
    validation_details,
)
from .acks import failure
from .connections import EVENT_SID, Connection
from .departures import DepartureBatcher
from .packets import UNDECODABLE_EVENT
from .ratelimit import TokenBucket
from .session_events import SessionEvents

log = logging.getLogger(__name__)

# Names python-socketio raises itself; from a client they are ordinary, unknown events.
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error"})
# python-socketio's disconnect reasons, as stored in memberships.left_reason.
_LEFT_REASONS = {
    "client disconnect": "client_disconnect",
    "server disconnect": "server_disconnect",
    "ping timeout": "ping_timeout",
    "transport close": "transport_close",
    "transport error": "transport_error",
}


class SessionNamespace(SessionEvents, Namespace):
    def __init__(
        self, namespace: str = broadcast.NAMESPACE, departures: DepartureBatcher | None = None
    ) -> None:
        super().__init__(namespace)
        self.connections: dict[str, Connection] = {}
        # Closes disconnected sockets' memberships in batches; None: each at once, here.
        self.departures = departures
        # Per green thread: departures queued by disconnect handlers nested in a send.
        self._departures = threading.local()

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Route one event: rate limit, then the handler (or an error for unknown events), then
        the activity it counts as.

        A refused event costs a dictionary lookup and the bucket: no Flask context and no
        database, so a flood's refused events cost others next to nothing. `connect` and
        `disconnect` reach their handlers only when python-socketio itself raises them; a
        client may send events with those names too, and gets `unknown_event`.
        """
        sid = args[0] if args else None
        if event == "connect" and sid not in self.connections:
            return super().trigger_event(event, *args)
        if event == "disconnect" and not self._still_connected(sid):
            return super().trigger_event(event, *args)
        connection = self.connections.get(sid)
        if connection is None:
            return failure(NotConnected())
        if not connection.bucket.take(connection.clock.now()):
            if connection.bucket.flooding:
                self._cut_off(sid)
            return failure(RateLimited())
        environ = self.socketio.server.get_environ(sid, namespace=self.namespace)
        if not environ:
            return failure(NotConnected())
        with environ["flask.app"].app_context():
            if event is UNDECODABLE_EVENT:
                result = failure(InvalidPayload(args[1]))
            elif event in RESERVED_EVENTS or not hasattr(self, f"on_{event}"):
                result = failure(UnknownEvent(f"There is no event called {event!r}."))
            else:
                result = self._dispatch(getattr(self, f"on_{event}"), sid, args[1:])
            self._record_activity(sid, connection)
        return result

    @staticmethod
    def _dispatch(handler: Any, sid: str, args: tuple[Any, ...]) -> Any:
        """Run a client event's handler in the app context alone.

        Flask-SocketIO would build a Flask request context per event (a Request object, URL
        matching that fails with a NotFound, a cookie session) for handlers that need none of
        it, about a tenth of the server's CPU per event (docs/benchmarks.md); the handlers
        read their socket from `EVENT_SID` instead of `request.sid`.
        """
        token = EVENT_SID.set(sid)
        try:
            return handler(*args)
        finally:
            EVENT_SID.reset(token)

    def _still_connected(self, sid: str | None) -> bool:
        """python-socketio marks a socket as leaving before it runs the disconnect handler, so
        a `disconnect` for a socket it still counts as connected came from the client."""
        return sid is not None and self.socketio.server.manager.is_connected(sid, self.namespace)

    def live_sids(self) -> set[str]:
        """The sockets this process holds right now, and those gone whose memberships the
        departure batcher is still to close."""
        live = set(self.connections)
        if self.departures is not None:
            live |= self.departures.unclosed_sids()
        return live

    def disconnect_all(self) -> int:
        """Close the transport of every socket this process holds (fencing).

        Closing the Engine.IO connection, not sending a Socket.IO disconnect, so clients
        treat it as a dropped connection and reconnect (then rejoin) on their own.
        """
        sids = list(self.connections)
        for sid in sids:
            self._close_transport(self._eio_sid(sid))
        return len(sids)

    def _cut_off(self, sid: str) -> None:
        """A client that kept sending past its rate limit: a Socket.IO disconnect tells it not
        to reconnect, and closing the transport stops reading what it has queued up (a burst
        of 5,000 events was otherwise read and refused one by one after the disconnect)."""
        log.warning("disconnecting sid=%s: kept sending past its rate limit", sid)
        eio_sid = self._eio_sid(sid)  # looked up first: the disconnect forgets it
        self.disconnect(sid)
        self._close_transport(eio_sid)

    def _eio_sid(self, sid: str) -> str | None:
        return self.socketio.server.manager.eio_sid_from_sid(sid, self.namespace)

    def _close_transport(self, eio_sid: str | None) -> None:
        if eio_sid is not None:
            self.socketio.server.eio.disconnect(eio_sid)

    def _enter(self, sid: str, room: str) -> None:
        self.socketio.server.enter_room(sid, room, namespace=self.namespace)

    def _leave(self, sid: str, room: str) -> None:
        self.socketio.server.leave_room(sid, room, namespace=self.namespace)

    @staticmethod
    def _record_activity(sid: str, connection: Connection) -> None:
        if not connection.joined:
            return
        try:
            activity.recorder().record(list(connection.joined))
        except SQLAlchemyError:
            # Activity is best effort: losing one mark must not fail the event that caused it.
            log.exception("could not record activity for sid=%s", sid)
            db.session.rollback()

    # --- connection ------------------------------------------------------------------------

    def on_connect(self, auth: Any = None) -> None:
        """A client opens a socket; `auth` may carry `name` and `device_id`. Nobody is told."""
        try:
            info = ConnectAuthSchema().load(auth if auth is not None else {})
        except ValidationError as error:
            details, summary = validation_details(error.normalized_messages())
            raise ConnectionRefusedError(
                f"invalid_auth: {summary}", {"code": "invalid_auth", "details": details}
            ) from None
        config = current_app.config
        rate = config["SOCKET_RATE_LIMIT"]
        app_clock = current_app.extensions[clock.EXTENSION_KEY]
        self.connections[request.sid] = Connection(
            name=info["name"],
            device_id=str(info["device_id"]) if info["device_id"] else None,
            bucket=TokenBucket(rate=rate, burst=2 * rate, now=app_clock.now()),
            clock=app_clock,
        )

    def on_disconnect(self, reason: str | None = None) -> None:
        """The socket is gone, however it went: its rooms hear `presence` for each session.

        A send to a socket that has just timed out runs that socket's disconnect handler
        inside the send. So a handler that runs inside another one's send only queues its
        news, and the outermost handler sends the queue once its own send is done: 100
        silent clients timing out together nest one handler deep, not 100.
        """
        sid = request.sid
        self.connections.pop(sid, None)
        left_reason = _LEFT_REASONS.get(reason or "", "client_disconnect")
        if self.departures is not None:
            self.departures.add(sid, left_reason)
            return
        try:
            changes = presence.disconnect(sid, left_reason)
        except Exception:
            # Usually the database is unreachable. The memberships stay open and are reclaimed
            # with this instance (heartbeat or restart); raising would only break the server.
            log.exception("could not close the memberships of sid=%s", sid)
            db.session.rollback()
            return
        self._announce_departures(changes)

    def _announce_departures(self, changes: list[presence.PresenceChange]) -> None:
        queue = getattr(self._departures, "queue", None)
        if queue is not None:  # inside another disconnect handler's send: it sends ours
            queue.extend(changes)
            return
        self._departures.queue = queue = list(changes)
        try:
            while queue:
                change = queue.pop(0)
                try:
                    presence.announce(change)
                except Exception:
                    log.exception(
                        "could not announce departures from session=%s", change.session.id
                    )
        finally:
            self._departures.queue = None
