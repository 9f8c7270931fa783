"""The session registry: the one service that REST, sockets, jobs and the CLI all call.

The database is the only truth. Each change commits before anyone is told. Ending a session is
a conditional UPDATE, so two workers (or two sweeps) racing to end one session end it once;
creating one checks SESSION_MAX_CONCURRENT under a lock every process takes (an advisory lock
on PostgreSQL, the write lock of BEGIN IMMEDIATE on SQLite).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import and_, false, func, select, text, update
from sqlalchemy.sql.elements import ColumnElement

from . import broadcast, clock, cursors, ephemeral, presence
from .database import begin_write
from .documents import document_stats
from .exceptions import SessionEnded, SessionLimitReached, SessionNotFound
from .extensions import db
from .models import Membership, Session, new_uuid, parse_session_id
from .webhooks import events, outbox

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same in every process that creates sessions.
_CREATE_LOCK_KEY = 0x5E55_1011


def get_session(session_id: str) -> Session:
    """The session with that id, or SessionNotFound (a malformed id is simply not found)."""
    canonical = parse_session_id(session_id)
    session = db.session.get(Session, canonical) if canonical else None
    if session is None:
        raise SessionNotFound(details={"session_id": session_id})
    return session


NO_SWEEP_RETRY_AFTER = 60  # seconds, when SESSION_CLEANUP_INTERVAL=0 turns the sweep off


def create_session(
    project_id: str, title: str | None = None, ttl_seconds: int | None = None
) -> Session:
    limit = current_app.config["SESSION_MAX_CONCURRENT"]
    begin_write()
    if limit and db.engine.dialect.name == "postgresql":
        # Serialise the count-then-insert across workers so the limit is exact.
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK_KEY})
    if limit and _count_active() >= limit:
        db.session.rollback()
        # No place frees up before a sweep can end a session (or someone ends one).
        retry_after = current_app.config["SESSION_CLEANUP_INTERVAL"] or NO_SWEEP_RETRY_AFTER
        raise SessionLimitReached(
            details={"limit": limit}, headers={"Retry-After": str(retry_after)}
        )
    now = clock.now()
    session = Session(
        id=new_uuid(),  # now, not at the flush: the webhook row below names it
        project_id=project_id,
        title=title,
        ttl_seconds=ttl_seconds,
        created_at=now,
        last_activity=now,
        is_active=True,
        active_clients=0,
        peak_clients=0,
        version=0,
        pinned=False,
    )
    db.session.add(session)
    outbox.record(events.SESSION_CREATED, events.session_created(session), now, session.id)
    db.session.commit()
    log.info("session created id=%s project=%s ttl=%s", session.id, project_id, ttl_seconds)
    return session


def _count_active() -> int:
    query = select(func.count()).select_from(Session).where(Session.is_active.is_(True))
    return db.session.scalar(query) or 0


def update_session(session_id: str, changes: dict[str, Any]) -> Session:
    """Apply an admin's changes (title, pinned, ttl_seconds) to a session that is still active."""
    begin_write()
    session = get_session(session_id)
    if not session.is_active:
        raise SessionEnded.of(session.id, session.end_reason)
    for name in ("title", "pinned", "ttl_seconds"):
        if name in changes:
            setattr(session, name, changes[name])
    db.session.commit()
    log.info("session updated id=%s fields=%s", session.id, ",".join(sorted(changes)))
    return session


def end_session(session_id: str, reason: str) -> Session:
    """End a session and tell its clients; ending an ended session changes nothing."""
    session = get_session(session_id)
    end_if(session.id, reason, [])
    db.session.refresh(session)
    return session


def end_if(session_id: str, reason: str, conditions: list[ColumnElement[bool]]) -> bool:
    """End the session if it is active and `conditions` still hold; close its memberships in
    the same transaction, then tell its room. True if this call ended it."""
    begin_write()
    now = clock.now()
    ended = db.session.execute(
        update(Session)
        .where(Session.id == session_id, Session.is_active.is_(True), *conditions)
        .values(is_active=False, ended_at=now, end_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not ended:
        db.session.rollback()
        return False
    closed = presence.close_for_end(session_id, now)
    _record_ends([session_id], reason, now)
    db.session.commit()
    log.info("session ended id=%s reason=%s clients_closed=%s", session_id, reason, closed)
    broadcast.session_ended(session_id, reason)
    ephemeral.forget_session(session_id)
    return True


def end_many(
    session_ids: list[str], reason: str, conditions: list[ColumnElement[bool]]
) -> list[str]:
    """End, in one transaction, those of `session_ids` that are active and still meet
    `conditions`; then tell their rooms. The sweep's batch form of `end_if`: one UPDATE for the
    whole batch instead of a transaction per session, so its cost follows what it ends."""
    if not session_ids:
        return []
    begin_write()
    now = clock.now()
    # active_clients=0 is what close_for_end's recount would write: an ended session holds no
    # open membership. Only sessions that still have some need their ledger closed one by one.
    # The rules' conditions go inside coalesce() so no index can serve them: SQLite's planner
    # (without ANALYZE statistics) would otherwise walk every active session through an index
    # led by is_active rather than look the batch's ids up by primary key.
    still_due = func.coalesce(and_(Session.is_active.is_(True), *conditions), false())
    ended = list(
        db.session.scalars(
            update(Session)
            .where(Session.id.in_(session_ids), still_due)
            .values(is_active=False, ended_at=now, end_reason=reason, active_clients=0)
            .returning(Session.id)
            .execution_options(synchronize_session=False)
        )
    )
    held = db.session.scalars(
        select(Membership.session_id)
        .where(Membership.session_id.in_(ended), Membership.left_at.is_(None))
        .distinct()
    )
    closed = {session_id: presence.close_for_end(session_id, now) for session_id in list(held)}
    _record_ends(ended, reason, now)
    db.session.commit()
    for session_id in ended:
        log.info(
            "session ended id=%s reason=%s clients_closed=%d",
            session_id,
            reason,
            closed.get(session_id, 0),
        )
        broadcast.session_ended(session_id, reason)
        ephemeral.forget_session(session_id)
    return ended


def _record_ends(session_ids: list[str], reason: str, now: datetime) -> None:
    """session.ended for each of these sessions, in the transaction that ends them."""
    if not session_ids or not outbox.enabled(events.SESSION_ENDED):
        return
    for session in db.session.scalars(select(Session).where(Session.id.in_(session_ids))):
        data = events.session_ended(session, reason, now)
        outbox.record(events.SESSION_ENDED, data, now, session.id)


# --- reading -----------------------------------------------------------------------------------


def list_sessions(
    status: str = "active",
    project_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Session], str | None]:
    """One page, newest activity first; the cursor names the last row so pages never overlap."""
    query = select(Session)
    if status != "all":
        query = query.where(Session.is_active.is_(status == "active"))
    if project_id is not None:
        query = query.where(Session.project_id == project_id)
    if cursor is not None:
        query = query.where(cursors.after(cursor, Session.last_activity, Session.id))
    query = query.order_by(Session.last_activity.desc(), Session.id.desc()).limit(limit + 1)
    rows = list(db.session.scalars(query))
    page, more = rows[:limit], len(rows) > limit
    last = page[-1] if more else None
    return page, cursors.encode_cursor(last.last_activity, last.id) if last else None


def session_detail(session: Session) -> dict[str, Any]:
    """Everything one session's detail view shows, in the shape SessionDetailSchema dumps."""
    stats = document_stats(session.id)
    return {
        **{column.key: getattr(session, column.key) for column in Session.__table__.columns},
        "node_count": stats.node_count,
        "undo_available": stats.undo_available,
        "redo_available": stats.redo_available,
        "duration_seconds": session.duration_seconds(clock.now()),
        "expires_at": session.expires_at,
    }
