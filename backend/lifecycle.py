"""The sweep: ends sessions nobody uses any more and purges old ones (DESIGN section 6).

One function serves the scheduler, `POST /sessions/cleanup` and `flask sessions cleanup`. Every
rule ends sessions with the same conditional UPDATE it selects them by, so a client joining in
between wins, and two sweeps at once end each session once. The scheduler's sweep first claims
its interval's slot in the database, so N processes sweep once per interval, not N times; on
PostgreSQL an advisory lock also keeps an admin's sweep from overlapping a scheduled one.
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
from sqlalchemy import Row, delete, exists, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from . import clock, instances, registry
from .database import database_now
from .extensions import db, socketio
from .models import TTL_EXPIRED, Instance, Membership, Session, SweepRun, SweepSlot, is_past_ttl
from .telemetry import SWEEP_DURATION
from .webhooks import outbox

log = logging.getLogger(__name__)

_SWEEP_LOCK_KEY = 0x5E55_5EE9  # any constant shared by every process
# Sessions ended per transaction: small enough that one batch holds the event loop for a few
# milliseconds, large enough that a sweep of thousands takes tens of transactions, not thousands.
SWEEP_BATCH = 50


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


def scheduled_sweep(interval_secs: int) -> SweepResult | None:
    """The scheduler's sweep: run it only if this process claims the current interval's slot
    (by the database's clock, which every process shares); None when another one did."""
    if not _claim_slot(interval_secs):
        log.debug("sweep skipped: another instance claimed this interval")
        return None
    return sweep(trigger="scheduler")


def sweep(
    now: datetime | None = None,
    max_inactive: timedelta | None = None,
    dry_run: bool = False,
    trigger: str = "scheduler",
    idle_reason: str = "idle_timeout",
) -> SweepResult:
    """Apply every lifecycle rule once. `max_inactive` overrides SESSION_TIMEOUT_SECS;
    `idle_reason` is what idle sessions end as (an admin's cleanup says `admin_cleanup`);
    `trigger` only labels the run in logs and metrics."""
    now = now or clock.now()
    config = current_app.config
    max_inactive = max_inactive or timedelta(seconds=config["SESSION_TIMEOUT_SECS"])
    result = SweepResult(dry_run=dry_run)
    started = time.perf_counter()
    try:
        with _one_sweeper(dry_run) as alone:
            if not alone:
                result.skipped = True
                log.info("sweep skipped: another instance is sweeping")
                return result
            _run_rules(result, now, max_inactive, idle_reason)
    except Exception as error:
        # Recorded as this run's error (when the database lets us), then raised to the caller.
        db.session.rollback()
        result.errors.append(f"sweep: {error.__class__.__name__}: {error}"[:200])
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
    _end_each(result, now, TTL_EXPIRED, _ttl_expired(now), active)
    if empty_timeout:
        never_joined = _never_joined_conditions(now - timedelta(seconds=empty_timeout))
        _end_each(result, now, "never_joined", _candidates(never_joined), never_joined)
    idle_conditions = _idle_conditions(now - max_inactive)
    _end_each(result, now, idle, _candidates(idle_conditions), idle_conditions)
    if result.dry_run:
        return
    _guarded(result, "dead instances", lambda: _reclaim(result))
    _guarded(result, "retention purge", lambda: _purge(result, now))
    _guarded(result, "webhook purge", lambda: _purge_deliveries(now))


def _end_each(
    result: SweepResult, now: datetime, reason: str, candidates: list[Row], conditions: list
) -> None:
    """End sessions in batches, re-checking `conditions` in the UPDATE itself so a client
    joining in between wins. Before each batch the sweep yields to the event loop, so one
    sweep of thousands of sessions never holds every other client of the process for more
    than a batch (or the selection before it). Each batch has committed before the next
    yield (docs/stack-notes.md, trap 3: never yield inside a write transaction)."""
    todo = [candidate for candidate in candidates if candidate.id not in result.ended]
    for start in range(0, len(todo), SWEEP_BATCH):
        batch = todo[start : start + SWEEP_BATCH]
        if result.dry_run:
            result.ended.update((candidate.id, reason) for candidate in batch)
            continue
        socketio.sleep(0)
        ended = _end_batch(result, reason, batch, conditions)
        for candidate in batch:
            if candidate.id in ended:
                result.ended[candidate.id] = reason
                log.info(
                    "sweep ended session=%s reason=%s idle_seconds=%.0f clients=%d",
                    candidate.id,
                    reason,
                    (now - candidate.last_activity).total_seconds(),
                    candidate.active_clients,
                )


def _end_batch(result: SweepResult, reason: str, batch: list[Row], conditions: list) -> set[str]:
    """One transaction for the batch; if it fails, each session alone, so one bad row is
    logged and recorded and the rest still end."""
    try:
        return set(registry.end_many([candidate.id for candidate in batch], reason, conditions))
    except Exception:
        db.session.rollback()
        log.warning("sweep batch failed, ending its %d sessions one by one", len(batch))
    ended = set()
    for candidate in batch:
        try:
            if registry.end_if(candidate.id, reason, conditions):
                ended.add(candidate.id)
        except Exception as error:
            db.session.rollback()
            log.exception("sweep could not end session=%s reason=%s", candidate.id, reason)
            result.errors.append(f"{candidate.id}: {error.__class__.__name__}")
    return ended


def _guarded(result: SweepResult, what: str, step: Callable[[], None]) -> None:
    try:
        step()
    except Exception as error:
        db.session.rollback()
        log.exception("sweep step failed: %s", what)
        result.errors.append(f"{what}: {error.__class__.__name__}")


# --- the rules ---------------------------------------------------------------------------


_CANDIDATE_COLUMNS = (Session.id, Session.last_activity, Session.active_clients)


def _ttl_expired(now: datetime) -> list[Row]:
    """Past created_at + ttl_seconds, clients or not. Few sessions have a TTL, and the
    deadline is computed here because date arithmetic differs between SQLite and PostgreSQL."""
    rows = db.session.execute(
        select(*_CANDIDATE_COLUMNS, Session.created_at, Session.ttl_seconds)
        # IS NOT false, which no index serves, and a range on ttl_seconds (always > 0, DESIGN
        # section 4), which one does: the planner reads the sessions with a TTL, not every
        # active one (SQLite serves no IS NOT NULL from an index).
        .where(Session.is_active.is_not(False), Session.ttl_seconds > 0)
    )
    # Sorted here, not by ORDER BY id, which SQLite would serve by walking the primary key.
    due = [row for row in rows if is_past_ttl(row.created_at, row.ttl_seconds, now)]
    return sorted(due, key=lambda row: row.id)


def _candidates(conditions: list) -> list[Row]:
    """The sessions `conditions` select now, with what the log line of each end reports."""
    return list(
        db.session.execute(select(*_CANDIDATE_COLUMNS).where(*conditions).order_by(Session.id))
    )


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


def _reclaim(result: SweepResult) -> None:
    result.reclaimed_instances = len(instances.reclaim_dead())


def _purge(result: SweepResult, now: datetime) -> None:
    """Delete sessions ended more than SESSION_RETENTION_DAYS ago, with their nodes, log and
    memberships (ON DELETE CASCADE), and sweep records and stopped instances as old. An
    instance that still has open memberships is kept: its reclaim has not finished, and
    without the row nobody could ever close them."""
    days = current_app.config["SESSION_RETENTION_DAYS"]
    if not days:
        return
    cutoff = now - timedelta(days=days)
    result.purged = db.session.execute(
        delete(Session)
        # IS NOT true rather than IS false: no index serves it, so the ended_at index picks
        # the few rows past retention instead of SQLite walking every ended session.
        .where(Session.is_active.is_not(True), Session.ended_at <= cutoff)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.execute(delete(SweepRun).where(SweepRun.started_at <= cutoff))
    still_held = exists().where(Membership.instance_id == Instance.id, Membership.left_at.is_(None))
    # Instance times are the database's clock (see instances), so is this cutoff.
    instance_cutoff = database_now() - timedelta(days=days)
    db.session.execute(
        delete(Instance)
        .where(Instance.stopped_at <= instance_cutoff, ~still_held)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if result.purged:
        log.info("purged sessions=%d ended before %s", result.purged, cutoff.isoformat())


def _purge_deliveries(now: datetime) -> None:
    """Delivered webhooks older than WEBHOOK_RETENTION_DAYS (their own retention)."""
    purged = outbox.purge_delivered(now)
    db.session.commit()
    if purged:
        log.info("purged webhook deliveries=%d", purged)


# --- bookkeeping -------------------------------------------------------------------------


_SLOTS_KEPT = 100  # claims older than this many intervals are deleted as new ones are made


def _claim_slot(interval_secs: int) -> bool:
    """Insert this interval's slot row; only the first process to try gets a row inserted."""
    now = database_now()
    slot = int(now.timestamp() // interval_secs)
    insert = postgresql_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    claimed = db.session.execute(
        insert(SweepSlot)
        .values(slot=slot, instance_id=current_app.config["INSTANCE_ID"], claimed_at=now)
        .on_conflict_do_nothing(index_elements=[SweepSlot.slot])
        .returning(SweepSlot.slot)
    ).first()
    if claimed is not None:
        db.session.execute(delete(SweepSlot).where(SweepSlot.slot < slot - _SLOTS_KEPT))
    db.session.commit()
    return claimed is not None


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
