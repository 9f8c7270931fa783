"""Numbers about sessions and the sweeper, read from the database so every worker agrees."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from . import clock
from .extensions import db
from .models import CLEANED_REASONS, Membership, Session, SweepRun


def session_metrics(next_sweep_at: datetime | None = None) -> dict[str, Any]:
    """The body of GET /sessions/metrics; `next_sweep_at` comes from the scheduler, if any."""
    now = clock.now()
    created = list(
        db.session.scalars(select(Session.created_at).where(Session.is_active.is_(True)))
    )
    ages = [(now - moment).total_seconds() for moment in created]
    return {
        "active_sessions": len(created),
        "total_created": _count(select(func.count()).select_from(Session)),
        "total_cleaned": _count(
            select(func.count()).select_from(Session).where(Session.end_reason.in_(CLEANED_REASONS))
        ),
        "connected_clients": _count(
            select(func.count()).select_from(Membership).where(Membership.left_at.is_(None))
        ),
        "oldest_session_age_seconds": max(ages) if ages else None,
        "newest_session_age_seconds": min(ages) if ages else None,
        "avg_session_age_seconds": sum(ages) / len(ages) if ages else None,
        "sweeper": sweeper_status(next_sweep_at),
    }


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
