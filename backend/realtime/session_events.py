"""The events of a socket in its sessions: join and leave, ephemeral state and signals, and
changes to the shared document. Every one takes an ack (see `acks`).

A mixin of SessionNamespace, which holds `connections` and the room helpers (`_enter`,
`_leave`) these handlers use; kept apart so the namespace module is about routing and
connections.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app

from .. import access, broadcast, clock, documents, ephemeral, presence, registry
from ..access import JoinGrant
from ..exceptions import Forbidden, NotJoined, SessionEnded, SessionHubError
from ..models import EDITOR
from ..schemas import (
    HistorySchema,
    JoinSessionSchema,
    LeaveSessionSchema,
    OperationEventSchema,
    SessionDetailSchema,
    SetStateSchema,
    SignalSchema,
)
from .acks import acknowledge
from .connections import EVENT_SID, Connection

log = logging.getLogger(__name__)

DETAIL = SessionDetailSchema()


class SessionEvents:
    connections: dict[str, Connection]
    _enter: Any  # SessionNamespace's: a socket enters a room on every process
    _leave: Any

    # --- sessions --------------------------------------------------------------------------

    @acknowledge(JoinSessionSchema)
    def on_join_session(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A client joins a session; the ack carries the full picture, the room a diff.

        Access is decided first (`access.admit`): a refused join touches no row and no room.
        The socket enters the room before its membership commits: an end that commits after
        the join is broadcast to a room this socket is already in, so it hears
        `session_ended`, and the join itself refuses a session whose end committed first.
        Entering the room also precedes reading the document, so no change can fall between
        the two: one committed in between arrives both ways, and clients drop versions they
        already hold.
        """
        sid = EVENT_SID.get()
        connection = self.connections[sid]
        session_id = payload["session_id"]
        grant = self._admit(sid, session_id, payload["token"], payload["name"] or connection.name)
        room = broadcast.session_room(session_id)
        self._enter(sid, room)
        try:
            change = presence.join(
                sid,
                session_id,
                name=grant.name,
                device_id=connection.device_id,
                instance_id=current_app.config["INSTANCE_ID"],
                user_id=grant.user_id,
                role=grant.role,
            )
        except Exception:
            if session_id not in connection.joined:
                self._leave(sid, room)
            raise
        session, member = change.session, change.member
        connection.joined[session.id] = documents.Author(member.client_id, member.client_name)
        if member.role != EDITOR:
            connection.read_only.add(session.id)
        presence.announce(change, skip_sid=sid)
        clients = broadcast.clients(presence.members(session.id))
        [me] = broadcast.clients([member])
        document = documents.catch_up(session.id, payload["since_version"])
        detail = registry.session_detail(session)
        return {
            "session": DETAIL.dump(detail),
            "clients": clients,
            "client": me,
            "states": ephemeral.states().all(session.id),
            "version": detail["version"],
            **document,
        }

    @staticmethod
    def _admit(sid: str, session_id: str, token: str | None, name: str | None) -> JoinGrant:
        """The identity a join enters with; a refusal is logged with its reason, never the
        token."""
        try:
            return access.admit(session_id, token, name)
        except SessionHubError as refusal:
            log.info(
                "join refused session=%s sid=%s code=%s reason=%s",
                session_id,
                sid,
                refusal.code,
                refusal.details.get("reason", "no_token"),
            )
            raise

    @acknowledge(LeaveSessionSchema)
    def on_leave_session(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A client leaves a session; the others hear `presence`."""
        sid = EVENT_SID.get()
        change = presence.leave(sid, payload["session_id"], "left")  # SessionNotFound first
        # Whether or not a membership was still open (an ended session closed it already),
        # this socket is out of the session now.
        connection = self.connections[sid]
        connection.joined.pop(change.session.id, None)
        connection.read_only.discard(change.session.id)
        self._leave(sid, broadcast.session_room(change.session.id))
        if not change.left:
            raise NotJoined(details={"session_id": change.session.id})
        presence.announce(change)
        return {"session_id": change.session.id, "active_clients": change.session.active_clients}

    # --- ephemeral state (DESIGN section 12) ------------------------------------------------

    @acknowledge(SetStateSchema)
    def on_set_state(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A member replaces its ephemeral state (null clears it); the room hears `state`.
        Viewers may: a cursor is not an edit."""
        session_id = payload["session_id"]
        member = self._member(session_id)
        ephemeral.states().put(session_id, member.client_id, payload["state"])
        broadcast.state(session_id, member.client_id, payload["state"], skip_sid=EVENT_SID.get())
        return {}

    @acknowledge(SignalSchema)
    def on_signal(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A member relays a one-off message; the rest of the room hears `signal`."""
        session_id = payload["session_id"]
        member = self._member(session_id)
        broadcast.signal(
            session_id, member.client_id, payload["event"], payload["data"], EVENT_SID.get()
        )
        return {}

    # --- the shared document ---------------------------------------------------------------

    @acknowledge(OperationEventSchema)
    def on_operation(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A client changes the document; everyone else in the room hears `operation`."""
        author = self._author(payload["session_id"])
        applied = documents.apply_operation(payload["session_id"], payload["op"], author)
        self._tell_room(applied)
        return {"version": applied.version}

    @acknowledge(HistorySchema)
    def on_undo(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Any member reverts the session's newest change; the room hears `operation`."""
        applied = documents.undo(payload["session_id"], self._author(payload["session_id"]))
        self._tell_room(applied)
        return {"version": applied.version, "op": applied.op}

    @acknowledge(HistorySchema)
    def on_redo(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Any member re-applies the change undone last; the room hears `operation`."""
        applied = documents.redo(payload["session_id"], self._author(payload["session_id"]))
        self._tell_room(applied)
        return {"version": applied.version, "op": applied.op}

    def _member(self, session_id: str) -> documents.Author:
        """This socket's membership in `session_id`, or why it has none."""
        author = self.connections[EVENT_SID.get()].joined.get(session_id)
        if author is None:
            # Unknown session, then ended session, beat not joined: they say more.
            session = registry.get_session(session_id)
            now = clock.now()
            if session.has_ended(now):
                raise SessionEnded.of(session.id, session.end_reason_at(now))
            raise NotJoined(details={"session_id": session_id})
        return author

    def _author(self, session_id: str) -> documents.Author:
        """The member about to write to `session_id`; only editors may."""
        author = self._member(session_id)
        if session_id in self.connections[EVENT_SID.get()].read_only:
            raise Forbidden(
                "Viewers may read the document but not change it.",
                details={"reason": "viewer", "session_id": session_id},
            )
        return author

    @staticmethod
    def _tell_room(applied: documents.Applied) -> None:
        broadcast.operation(
            applied.session_id,
            applied.version,
            applied.op,
            applied.author.as_dict(),
            skip_sid=EVENT_SID.get(),
        )
