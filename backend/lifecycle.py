"""The sweep: ends sessions nobody uses any more and purges old ones (DESIGN section 6).

One function serves the scheduler, `POST /sessions/cleanup` and `flask sessions cleanup`. Every
rule ends sessions with the same conditional UPDATE it selects them by, so a client joining in
between wins, and two sweeps at once end each session once. On PostgreSQL an advisory lock lets
one instance sweep at a time; the others skip that round.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, text
from sqlalchemy.exc import SQLAlchemyError

from . import clock, instances, registry
from .extensions import db
from .models import Instance, Session, SweepRun, ttl_deadline
from .telemetry import SWEEP_DURATION

log = logging.getLogger(__name__)

_SWEEP_LOCK_KEY = 0x5E55_5EE9  # any constant shared by every process


@dataclass
class SweepResult:
    """What one sweep ended (session id -> reason) and what went wrong, if anything."""

    dry_run: bool
    ended: dict[str, str] = field(default_factory=dict)
    purged: int = 0
    reclaimed_instances: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: bool = False
    duration_ms: float = 0.0


def sweep(
    now: datetime | None = None,
    max_inactive: timedelta | None = None,
    dry_run: bool = False,
    trigger: str = "scheduler",
) -> SweepResult:
    """Apply every lifecycle rule once. `max_inactive` overrides SESSION_TIMEOUT_SECS; admins'
    sweeps (`trigger` other than scheduler) end idle sessions as `admin_cleanup`."""
    now = now or clock.now()
    config = current_app.config
    max_inactive = max_inactive or timedelta(seconds=config["SESSION_TIMEOUT_SECS"])
    idle_reason = "idle_timeout" if trigger == "scheduler" else "admin_cleanup"
    result = SweepResult(dry_run=dry_run)
    started = time.perf_counter()
    try:
        with _one_sweeper(dry_run) as alone:
            if not alone:
                result.skipped = True
                log.info("sweep skipped: another instance is sweeping")
                return result
            _run_rules(result, now, max_inactive, idle_reason)
    except SQLAlchemyError as error:
        # Recorded as this run's error (when the database lets us), then raised to the caller.
        db.session.rollback()
        result.errors.append(f"sweep: {error.__class__.__name__}")
        raise
    finally:
        result.duration_ms = (time.perf_counter() - started) * 1000
        if not dry_run and not result.skipped:
            _record(result, now, trigger)
        db.session.remove()
    return result


def _run_rules(result: SweepResult, now: datetime, max_inactive: timedelta, idle: str) -> None:
    empty_timeout = current_app.config["SESSION_EMPTY_TIMEOUT_SECS"]
    active = [Session.is_active.is_(True)]
    _end_each(result, "ttl_expired", _ttl_expired(now), active)
    if empty_timeout:
        never_joined = _never_joined_conditions(now - timedelta(seconds=empty_timeout))
        _end_each(result, "never_joined", _ids(never_joined), never_joined)
    idle_conditions = _idle_conditions(now - max_inactive)
    _end_each(result, idle, _ids(idle_conditions), idle_conditions)
    if result.dry_run:
        return
    _guarded(result, "dead instances", lambda: _reclaim(result, now))
    _guarded(result, "retention purge", lambda: _purge(result, now))


def _end_each(result: SweepResult, reason: str, session_ids: list[str], conditions: list) -> None:
    """End sessions one by one, re-checking `conditions` in the UPDATE itself so a client
    joining in between wins; one bad row is logged and the rest still end."""
    for session_id in session_ids:
        if session_id in result.ended:
            continue
        if result.dry_run:
            result.ended[session_id] = reason
            continue
        try:
            if registry.end_if(session_id, reason, conditions):
                result.ended[session_id] = reason
        except SQLAlchemyError as error:
            db.session.rollback()
            log.exception("sweep could not end session=%s reason=%s", session_id, reason)
            result.errors.append(f"{session_id}: {error.__class__.__name__}")


def _guarded(result: SweepResult, what: str, step: Callable[[], None]) -> None:
    try:
        step()
    except SQLAlchemyError as error:
        db.session.rollback()
        log.exception("sweep step failed: %s", what)
        result.errors.append(f"{what}: {error.__class__.__name__}")


# --- the rules ---------------------------------------------------------------------------


def _ttl_expired(now: datetime) -> list[str]:
    """Past created_at + ttl_seconds, clients or not. Few sessions have a TTL, and the
    deadline is computed here because date arithmetic differs between SQLite and PostgreSQL."""
    rows = db.session.execute(
        select(Session.id, Session.created_at, Session.ttl_seconds).where(
            Session.is_active.is_(True), Session.ttl_seconds.is_not(None)
        )
    )
    return sorted(row.id for row in rows if now >= ttl_deadline(row.created_at, row.ttl_seconds))


def _ids(conditions: list) -> list[str]:
    return sorted(db.session.scalars(select(Session.id).where(*conditions)))


def _idle_conditions(cutoff: datetime) -> list:
    return [
        Session.is_active.is_(True),
        Session.active_clients == 0,
        Session.pinned.is_(False),
        Session.last_activity <= cutoff,
    ]


def _never_joined_conditions(cutoff: datetime) -> list:
    return [
        Session.is_active.is_(True),
        Session.first_joined_at.is_(None),
        Session.active_clients == 0,
        Session.pinned.is_(False),
        Session.created_at <= cutoff,
    ]


def _reclaim(result: SweepResult, now: datetime) -> None:
    result.reclaimed_instances = len(instances.reclaim_dead(now))


def _purge(result: SweepResult, now: datetime) -> None:
    """Delete sessions ended more than SESSION_RETENTION_DAYS ago, with their nodes, log and
    memberships (ON DELETE CASCADE), and sweep records and stopped instances as old."""
    days = current_app.config["SESSION_RETENTION_DAYS"]
    if not days:
        return
    cutoff = now - timedelta(days=days)
    result.purged = db.session.execute(
        delete(Session)
        .where(Session.is_active.is_(False), Session.ended_at <= cutoff)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.execute(delete(SweepRun).where(SweepRun.started_at <= cutoff))
    db.session.execute(delete(Instance).where(Instance.stopped_at <= cutoff))
    db.session.commit()
    if result.purged:
        log.info("purged sessions=%d ended before %s", result.purged, cutoff.isoformat())


# --- bookkeeping -------------------------------------------------------------------------


@contextmanager
def _one_sweeper(dry_run: bool) -> Iterator[bool]:
    """On PostgreSQL, hold a session-level advisory lock on a connection of its own for the
    whole sweep (the ORM session changes connections between commits)."""
    if dry_run or db.engine.dialect.name != "postgresql":
        yield True
        return
    with db.engine.connect() as connection:
        got = connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": _SWEEP_LOCK_KEY})
        connection.commit()
        try:
            yield bool(got)
        finally:
            if got:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _SWEEP_LOCK_KEY})
                connection.commit()


def _record(result: SweepResult, now: datetime, trigger: str) -> None:
    error = "; ".join(result.errors)[:500] or None
    try:
        db.session.add(
            SweepRun(
                trigger=trigger,
                started_at=now,
                duration_ms=result.duration_ms,
                ended_count=len(result.ended),
                error=error,
            )
        )
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("could not record the sweep's outcome")
    SWEEP_DURATION.observe(result.duration_ms / 1000)
    reasons = dict(Counter(result.ended.values()))
    log.info(
        "sweep done trigger=%s ended=%d by_reason=%s reclaimed_instances=%d purged=%d "
        "errors=%d duration_ms=%.1f",
        trigger,
        len(result.ended),
        reasons,
        result.reclaimed_instances,
        result.purged,
        len(result.errors),
        result.duration_ms,
    )
