"""Numbers about sessions and the sweeper, read from the database so every worker agrees."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, func, select

from . import clock
from .extensions import db
from .models import CLEANED_REASONS, Membership, Session, SweepRun
from .webhooks import outbox

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def session_metrics(next_sweep_at: datetime | None = None) -> dict[str, Any]:
    """The body of GET /sessions/metrics; `next_sweep_at` comes from the scheduler, if any.

    Every number is an aggregate the database computes over an index (models.Session's
    table args), never rows brought into Python: this runs on the event loop every client
    shares, so its cost must stay a few milliseconds at 100,000 retained sessions."""
    now = clock.now()
    ages = _active_ages(now)
    return {
        **ages,
        "total_created": _count(select(func.count()).select_from(Session)),
        "total_cleaned": _count(
            select(func.count()).select_from(Session).where(Session.end_reason.in_(CLEANED_REASONS))
        ),
        "connected_clients": _count(
            select(func.count()).select_from(Membership).where(Membership.left_at.is_(None))
        ),
        "sweeper": sweeper_status(next_sweep_at),
        "webhooks": outbox.numbers(now),
    }


def _active_ages(now: datetime) -> dict[str, Any]:
    """Count and ages of the active sessions from the (is_active, created_at) index alone:
    oldest and newest are seeks, count and sum one pass over it. The average is now minus
    the mean creation time, summed in whole microseconds, so it equals the mean of the ages
    exactly, as the Python loop it replaces computed it."""
    active = Session.is_active.is_(True)
    created = Session.created_at
    count, seconds, micros = db.session.execute(
        select(func.count(), *_epoch_parts(created)).where(active)
    ).one()
    if not count:
        return {
            "active_sessions": 0,
            "oldest_session_age_seconds": None,
            "newest_session_age_seconds": None,
            "avg_session_age_seconds": None,
        }
    oldest = db.session.scalar(select(func.min(created)).where(active))
    newest = db.session.scalar(select(func.max(created)).where(active))
    total = int(seconds) * 1_000_000 + int(micros)
    return {
        "active_sessions": count,
        "oldest_session_age_seconds": (now - oldest).total_seconds(),
        "newest_session_age_seconds": (now - newest).total_seconds(),
        "avg_session_age_seconds": (count * _micros(now) - total) / count / 1_000_000,
    }


def _epoch_parts(column: Any) -> tuple[Any, Any]:
    """SUMs of a timestamp column as (whole seconds, microseconds) since the epoch, both exact
    integers. SQLite keeps UTCDateTime as SQLAlchemy's text 'YYYY-MM-DD HH:MM:SS.ffffff'
    (always six digits), so the microseconds are its last six characters. unixepoch() reads
    the seconds 2.6 times faster than strftime('%s') (measured over 30,000 rows) but needs
    SQLite 3.38; older libraries get strftime."""
    if db.engine.dialect.name == "sqlite":
        return (
            func.sum(_unix_seconds(column)),
            func.sum(cast(func.substr(column, 21), Integer)),
        )
    epoch = func.extract("epoch", column)  # numeric, exact to the microsecond
    return func.sum(func.floor(epoch)), func.sum((epoch - func.floor(epoch)) * 1_000_000)


def _unix_seconds(column: Any) -> Any:
    if sqlite3.sqlite_version_info >= (3, 38):
        return func.unixepoch(column)
    return cast(func.strftime("%s", column), Integer)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def sweeper_status(next_sweep_at: datetime | None = None) -> dict[str, Any]:
    last = db.session.scalars(
        select(SweepRun).order_by(SweepRun.started_at.desc(), SweepRun.id.desc()).limit(1)
    ).first()
    return {
        "last_run_at": last.started_at if last else None,
        "next_run_at": next_sweep_at,
        "last_duration_ms": last.duration_ms if last else None,
        "last_ended": last.ended_count if last else None,
        "last_error": last.error if last else None,
        "runs": _count(select(func.count()).select_from(SweepRun)),
    }


def _count(query: Any) -> int:
    return db.session.scalar(query) or 0
