"""Who is in which session: memberships, and the client counts derived from them.

Every change opens or closes membership rows and recomputes `sessions.active_clients` from the
open rows in the same transaction, so the cached count can never drift from the ledger, and
closing a row only `WHERE left_at IS NULL` makes a leave that runs twice count once. This module
is the only writer of memberships and of the cached count; ending a session closes its rows
through `close_for_end`, inside the registry's transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Row, and_, bindparam, case, func, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from . import activity, broadcast, clock, ephemeral
from .database import begin_write
from .exceptions import SessionEnded, SessionFull, SessionNotFound
from .extensions import db
from .models import EDITOR, Membership, Session, new_uuid, parse_session_id
from .webhooks import events, outbox

log = logging.getLogger(__name__)


@dataclass
class PresenceChange:
    """What one join or leave did, for the ack and the room's `presence` diff."""

    session: Session
    member: Membership | None = None  # the caller's own membership, after a join
    joined: list[Membership] = field(default_factory=list)
    left: list[Membership] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.joined or self.left)


class _Gate:
    def __init__(self) -> None:
        self.lock = threading.Lock()  # green under eventlet's monkey patching
        self.waiting = 0


class JoinGates:
    """One gate per session in this process: its joins pass one at a time.

    They would be serialised by the session's row lock anyway; waiting here instead, a burst
    of joins into one session does not take every pooled database connection to wait on that
    lock, so events in other sessions still get a connection at once.
    """

    EXTENSION_KEY = "sessionhub.join_gates"

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._gates: dict[str, _Gate] = {}

    @contextmanager
    def passing(self, session_id: str) -> Iterator[None]:
        with self._guard:
            gate = self._gates.setdefault(session_id, _Gate())
            gate.waiting += 1
        try:
            with gate.lock:
                yield
        finally:
            with self._guard:
                gate.waiting -= 1
                if not gate.waiting:
                    del self._gates[session_id]


def _join_gates() -> JoinGates:
    return current_app.extensions.setdefault(JoinGates.EXTENSION_KEY, JoinGates())


def _lock_session(session_id: str) -> Session:
    """Load the session and lock it for this transaction, so joins to one session queue up.

    On PostgreSQL that is the row's FOR UPDATE lock; on SQLite the caller began with
    `begin_write` (BEGIN IMMEDIATE), which holds the database's write lock. Either way the
    is-active check, the SESSION_MAX_CLIENTS check and the insert are one atomic step across
    processes, and an end committed first is seen here.
    """
    canonical = parse_session_id(session_id)
    query = (
        select(Session)
        .where(Session.id == canonical)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    session = db.session.scalars(query).first() if canonical else None
    if session is None:
        raise SessionNotFound(details={"session_id": session_id})
    return session


_SESSIONS = Session.__table__
_MEMBERSHIPS = Membership.__table__
# The join runs on every connect of every client: Core statements built once, and the rows it
# reports are detached snapshots, so nothing is loaded twice after the commit.
_LOCK_FOR_JOIN = (
    select(_SESSIONS).where(_SESSIONS.c.id == bindparam("join_session")).with_for_update()
)
_SEAT = select(
    func.max(case((_MEMBERSHIPS.c.sid == bindparam("seat_sid"), _MEMBERSHIPS.c.id))),
    func.count(),
).where(_MEMBERSHIPS.c.session_id == bindparam("seat_session"), _MEMBERSHIPS.c.left_at.is_(None))
_OPEN_MEMBERSHIP = select(_MEMBERSHIPS).where(_MEMBERSHIPS.c.id == bindparam("member_id"))
_OPEN = insert(_MEMBERSHIPS).returning(_MEMBERSHIPS.c.id)


def _snapshot(model: type[Session] | type[Membership], row: Row[Any]) -> Any:
    """A transient model instance holding a row's values: the same attributes and rules as a
    loaded one, but never refreshed from the database behind the caller's back."""
    return model(**row._mapping)


def join(
    sid: str,
    session_id: str,
    name: str | None,
    device_id: str | None,
    instance_id: str | None,
    user_id: str | None = None,
    role: str = EDITOR,
) -> PresenceChange:
    """Add this socket to the session; joining twice is a no-op that changes nothing (the
    membership keeps the name, user id and role it was opened with)."""
    canonical = parse_session_id(session_id)
    if canonical is None:
        raise SessionNotFound(details={"session_id": session_id})
    identity = {"client_name": name, "device_id": device_id, "user_id": user_id, "role": role}
    with _join_gates().passing(canonical):
        return _join_locked(sid, canonical, identity, instance_id)


def _join_locked(
    sid: str, session_id: str, identity: dict[str, Any], instance_id: str | None
) -> PresenceChange:
    begin_write()
    connection = db.session.connection()
    row = connection.execute(_LOCK_FOR_JOIN, {"join_session": session_id}).first()
    if row is None:
        db.session.rollback()
        raise SessionNotFound(details={"session_id": session_id})
    session = _snapshot(Session, row)
    now = clock.now()
    if session.has_ended(now):
        db.session.rollback()
        raise SessionEnded.of(session.id, session.end_reason_at(now))
    mine, open_count = connection.execute(
        _SEAT, {"seat_sid": sid, "seat_session": session_id}
    ).one()
    if mine is not None:
        existing = connection.execute(_OPEN_MEMBERSHIP, {"member_id": mine}).one()
        db.session.rollback()
        return PresenceChange(session=session, member=_snapshot(Membership, existing))
    limit = current_app.config["SESSION_MAX_CLIENTS"]
    if limit and open_count >= limit:
        db.session.rollback()
        raise SessionFull(details={"session_id": session.id, "max_clients": limit})
    values = {
        "client_id": new_uuid(),
        "sid": sid,
        "session_id": session_id,
        "instance_id": instance_id,
        **identity,
        "joined_at": now,
        "left_at": None,
        "left_reason": None,
    }
    values["id"] = connection.execute(_OPEN, values).scalar_one()
    membership = Membership(**values)
    session = _snapshot(Session, _recount(session_id, now, returning=True))
    _record_presence(events.CLIENT_JOINED, session, [membership], None, now)
    db.session.commit()
    activity.recorder().written(session_id, now)
    log.info(
        "client joined session=%s client=%s clients=%s",
        session_id,
        membership.client_id,
        session.active_clients,
    )
    return PresenceChange(session=session, member=membership, joined=[membership])


def leave(sid: str, session_id: str, reason: str = "left") -> PresenceChange:
    """Close this socket's membership in the session; leaving twice counts once."""
    session = _lock_session(session_id)
    which = and_(Membership.sid == sid, Membership.session_id == session.id)
    changes = _close(which, reason)
    return changes[0] if changes else PresenceChange(session=session)


def disconnect(sid: str, reason: str) -> list[PresenceChange]:
    """Close every membership this socket still holds, whichever sessions they are in."""
    return _close(Membership.sid == sid, reason)


def disconnect_many(sids: list[str], reason: str) -> list[PresenceChange]:
    """`disconnect` for many sockets in one transaction: one change per session touched,
    listing everyone who left it."""
    if not sids:
        return []
    return _close(Membership.sid.in_(sids), reason)


def evict_instances(instance_ids: list[str], reason: str) -> list[PresenceChange]:
    """Close every membership held by these server processes (crashed, replaced or stopping)."""
    if not instance_ids:
        return []
    return _close(Membership.instance_id.in_(instance_ids), reason)


def _close(which: ColumnElement[bool], reason: str) -> list[PresenceChange]:
    """Close the open memberships `which` selects, recount their sessions, commit."""
    begin_write()
    connection = db.session.connection()
    still_open = and_(which, Membership.left_at.is_(None))
    session_ids = sorted(set(connection.scalars(select(Membership.session_id).where(still_open))))
    if not session_ids:
        db.session.rollback()
        return []
    for session_id in session_ids:  # one lock order everywhere, so closers never deadlock
        connection.execute(select(Session.id).where(Session.id == session_id).with_for_update())
    # Detached snapshots: reporting who left costs no query per client after the commit.
    closing = [
        _snapshot(Membership, row)
        for row in connection.execute(select(_MEMBERSHIPS).where(still_open))
    ]
    now = clock.now()
    _mark_left(Membership.id.in_([m.id for m in closing]), reason, now)
    touched = sorted({m.session_id for m in closing})
    sessions = {
        session_id: _snapshot(Session, _recount(session_id, now, returning=True))
        for session_id in touched
    }
    for session_id, session in sessions.items():
        left = [m for m in closing if m.session_id == session_id]
        _record_presence(events.CLIENT_LEFT, session, left, reason, now)
    db.session.commit()
    for session_id in touched:
        activity.recorder().written(session_id, now)
    changes = []
    for session_id in touched:
        session = sessions[session_id]
        left = [m for m in closing if m.session_id == session_id]
        for membership in left:
            log.info(
                "client left session=%s client=%s reason=%s clients=%s",
                session_id,
                membership.client_id,
                reason,
                session.active_clients,
            )
        changes.append(PresenceChange(session=session, left=left))
    return changes


def close_for_end(session_id: str, now: datetime) -> int:
    """Close every open membership of a session that is ending, in the caller's transaction
    (the registry's end), and zero its count from the ledger; the caller commits."""
    which = Membership.session_id == session_id
    if outbox.enabled(events.CLIENT_LEFT):
        still_open = select(_MEMBERSHIPS).where(which, Membership.left_at.is_(None))
        members = [_snapshot(Membership, row) for row in db.session.execute(still_open)]
        session = db.session.execute(select(_SESSIONS).where(_SESSIONS.c.id == session_id)).one()
        _record_presence(events.CLIENT_LEFT, session, members, "session_ended", now, count=0)
    closed = _mark_left(which, "session_ended", now)
    _recount(session_id, now, is_activity=False)
    return closed


def _record_presence(
    event_type: str,
    session: Any,
    members: list[Membership],
    reason: str | None,
    now: datetime,
    count: int | None = None,
) -> None:
    """client.joined / client.left webhooks for these members, in the open transaction; the
    count is the session's after the change unless given."""
    if not outbox.enabled(event_type):
        return
    active = session.active_clients if count is None else count
    for member in members:
        data = events.client_changed(session, member, active, reason)
        outbox.record(event_type, data, now, session.id)


def _mark_left(which: ColumnElement[bool], reason: str, now: datetime) -> int:
    """The one UPDATE that closes memberships; only open rows, so a second close is a no-op."""
    return db.session.execute(
        update(Membership)
        .where(which, Membership.left_at.is_(None))
        .values(left_at=now, left_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount


def _recount_statement(is_activity: bool) -> Any:
    """The recount UPDATE, built once per kind (its subquery and CASE cost more to build than
    to run): the cached count from the ledger, and for a join or leave the activity too."""
    session_id = bindparam("recount_session")
    open_count = (
        select(func.count())
        .select_from(_MEMBERSHIPS)
        .where(_MEMBERSHIPS.c.session_id == session_id, _MEMBERSHIPS.c.left_at.is_(None))
        .scalar_subquery()
    )
    values: dict[str, Any] = {
        "active_clients": open_count,
        # CASE rather than max()/greatest(): one spelling works on SQLite and PostgreSQL.
        "peak_clients": case(
            (open_count > _SESSIONS.c.peak_clients, open_count), else_=_SESSIONS.c.peak_clients
        ),
    }
    if is_activity:
        now = bindparam("recount_now", type_=_SESSIONS.c.last_activity.type)
        values["first_joined_at"] = func.coalesce(_SESSIONS.c.first_joined_at, now)
        values["last_activity"] = now
    return update(_SESSIONS).where(_SESSIONS.c.id == session_id).values(**values)


_RECOUNT = {kind: _recount_statement(kind) for kind in (True, False)}
_RECOUNT_RETURNING = _RECOUNT[True].returning(_SESSIONS)


def _recount(
    session_id: str, now: datetime, is_activity: bool = True, returning: bool = False
) -> Row[Any] | None:
    """Recompute the cached count from the ledger; a join or leave is activity too. With
    `returning` (activity only), the session's row as it now stands."""
    parameters = {"recount_session": session_id, "recount_now": now}
    if returning:
        return db.session.connection().execute(_RECOUNT_RETURNING, parameters).one()
    db.session.connection().execute(_RECOUNT[is_activity], parameters)
    db.session.expire_all()
    return None


_MEMBERS = (
    select(
        _MEMBERSHIPS.c.client_id,
        _MEMBERSHIPS.c.client_name,
        _MEMBERSHIPS.c.joined_at,
        _MEMBERSHIPS.c.user_id,
        _MEMBERSHIPS.c.role,
    )
    .where(_MEMBERSHIPS.c.session_id == bindparam("members_of"), _MEMBERSHIPS.c.left_at.is_(None))
    .order_by(_MEMBERSHIPS.c.joined_at, _MEMBERSHIPS.c.id)
)


def members(session_id: str) -> list[Row[Any]]:
    """Who is in a known session now, oldest first, as `(client_id, client_name, joined_at,
    user_id, role)`
    rows: never socket ids, and no ORM objects (this runs on every join, over the whole room)."""
    return list(db.session.connection().execute(_MEMBERS, {"members_of": session_id}))


def active_counts(session_ids: list[str]) -> dict[str, int]:
    """The committed client count of each of these sessions (one query, for a presence flush)."""
    rows = db.session.execute(
        select(Session.id, Session.active_clients).where(Session.id.in_(session_ids))
    )
    counts = {session_id: count for session_id, count in rows}
    db.session.rollback()  # ends the read; nothing was written
    return counts


def announce(change: PresenceChange, skip_sid: str | None = None) -> None:
    """Send the room a diff of who joined or left; nothing at all when nothing changed. Those
    who left lose their ephemeral state, and the room hears it cleared."""
    if not change.changed:
        return
    session_id = change.session.id
    broadcast.presence(
        session_id, change.session.active_clients, change.joined, change.left, skip_sid=skip_sid
    )
    if change.left:
        gone = [member.client_id for member in change.left]
        for client_id in ephemeral.forget_members(session_id, gone):
            broadcast.state(session_id, client_id, None)
