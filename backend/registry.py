"""The session registry: the one service that REST, sockets, jobs and the CLI all call.

The database is the only truth. Every state change is a conditional UPDATE committed before
anyone is told, so two workers (or two sweeps) racing on one session change it once.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select, text, update
from sqlalchemy.sql.elements import ColumnElement

from . import broadcast, clock
from .documents import document_stats
from .exceptions import InvalidCursor, SessionEnded, SessionLimitReached, SessionNotFound
from .extensions import db
from .models import Membership, Session, SweepRun, parse_session_id
from .telemetry import SWEEP_DURATION

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


def create_session(
    project_id: str, title: str | None = None, ttl_seconds: int | None = None
) -> Session:
    limit = current_app.config["SESSION_MAX_CONCURRENT"]
    if limit and db.engine.dialect.name == "postgresql":
        # Serialise the count-then-insert across workers so the limit is exact.
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK_KEY})
    if limit and _count_active() >= limit:
        db.session.rollback()
        raise SessionLimitReached(details={"limit": limit})
    now = clock.now()
    session = Session(
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
    db.session.commit()
    log.info("session created id=%s project=%s ttl=%s", session.id, project_id, ttl_seconds)
    return session


def _count_active() -> int:
    query = select(func.count()).select_from(Session).where(Session.is_active.is_(True))
    return db.session.scalar(query) or 0


def update_session(session_id: str, changes: dict[str, Any]) -> Session:
    """Apply an admin's changes (title, pinned, ttl_seconds) to a session that is still active."""
    session = get_session(session_id)
    if not session.is_active:
        raise SessionEnded(details={"session_id": session.id, "end_reason": session.end_reason})
    for name in ("title", "pinned", "ttl_seconds"):
        if name in changes:
            setattr(session, name, changes[name])
    db.session.commit()
    log.info("session updated id=%s fields=%s", session.id, ",".join(sorted(changes)))
    return session


def end_session(session_id: str, reason: str) -> Session:
    """End a session and tell its clients; ending an ended session changes nothing."""
    session = get_session(session_id)
    now = clock.now()
    ended = db.session.execute(
        update(Session)
        .where(Session.id == session.id, Session.is_active.is_(True))
        .values(is_active=False, ended_at=now, end_reason=reason, active_clients=0)
        .execution_options(synchronize_session=False)
    ).rowcount
    if ended:
        closed = _close_open_memberships(session.id, now, "session_ended")
    db.session.commit()
    db.session.refresh(session)
    if ended:
        log.info("session ended id=%s reason=%s clients_closed=%s", session.id, reason, closed)
        broadcast.session_ended(session.id, reason)
    return session


def _close_open_memberships(session_id: str, now: datetime, reason: str) -> int:
    return db.session.execute(
        update(Membership)
        .where(Membership.session_id == session_id, Membership.left_at.is_(None))
        .values(left_at=now, left_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount


def _idle_conditions(cutoff: datetime) -> list[ColumnElement[bool]]:
    """What makes a session idle; used both to find and to end, so a join in between wins."""
    return [
        Session.is_active.is_(True),
        Session.active_clients == 0,
        Session.pinned.is_(False),
        Session.last_activity <= cutoff,
    ]


def cleanup(max_inactive: timedelta, dry_run: bool = False, trigger: str = "admin") -> list[str]:
    """End every idle session (`admin_cleanup`) and return their ids; a dry run only lists them."""
    now = clock.now()
    idle = _idle_conditions(now - max_inactive)
    if dry_run:
        return sorted(db.session.scalars(select(Session.id).where(*idle)))
    started = time.perf_counter()
    removed = list(
        db.session.scalars(
            update(Session)
            .where(*idle)
            .values(is_active=False, ended_at=now, end_reason="admin_cleanup")
            .returning(Session.id)
            .execution_options(synchronize_session=False)
        )
    )
    elapsed = time.perf_counter() - started
    db.session.add(
        SweepRun(
            trigger=trigger, started_at=now, duration_ms=elapsed * 1000, ended_count=len(removed)
        )
    )
    db.session.commit()
    SWEEP_DURATION.observe(elapsed)
    for session_id in removed:
        log.info("session ended id=%s reason=admin_cleanup", session_id)
        broadcast.session_ended(session_id, "admin_cleanup")
    log.info(
        "cleanup done trigger=%s max_inactive_s=%d ended=%d",
        trigger,
        max_inactive.total_seconds(),
        len(removed),
    )
    return sorted(removed)


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
        last_activity, last_id = decode_cursor(cursor)
        query = query.where(
            or_(
                Session.last_activity < last_activity,
                and_(Session.last_activity == last_activity, Session.id < last_id),
            )
        )
    query = query.order_by(Session.last_activity.desc(), Session.id.desc()).limit(limit + 1)
    rows = list(db.session.scalars(query))
    page, more = rows[:limit], len(rows) > limit
    return page, encode_cursor(page[-1]) if more else None


def encode_cursor(session: Session) -> str:
    raw = json.dumps([session.last_activity.isoformat(), session.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, session_id = json.loads(raw)
        parsed = datetime.fromisoformat(moment)
        if parsed.tzinfo is None or not isinstance(session_id, str):
            raise ValueError("cursor without time zone or id")
        parsed = parsed.astimezone(UTC)
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor(details={"cursor": cursor}) from None
    return parsed, session_id


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
