"""Server processes as the database sees them: registration, heartbeat, reclaim, shutdown.

Memberships name the instance that holds their socket. A process that dies without a word
(kill -9, OOM, a lost VM) stops heartbeating; whoever notices first marks it stopped with a
conditional UPDATE and closes its memberships, so its clients vanish from every count.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from . import clock, presence, registry
from .extensions import db
from .models import Instance, Membership

log = logging.getLogger(__name__)


def start() -> Instance:
    """Register this process, then reclaim its own earlier lives and every dead instance.

    A process restarted after kill -9 keeps its INSTANCE_NAME; nobody else can hold the
    sockets its previous life held, so those memberships close at once, not after a timeout.
    """
    instance = _register()
    _reclaim(
        or_(Instance.name == instance.name, Instance.heartbeat_at <= _dead_before(clock.now())),
        reason="instance_dead",
    )
    return instance


def heartbeat(disconnect_all: Callable[[], int]) -> None:
    """Say this process is alive; if it was declared dead meanwhile, fence itself first.

    A stalled process (a long GC pause, a frozen VM) may come back to find its clients
    reclaimed. Its sockets no longer count anywhere, so it drops them (clients reconnect and
    rejoin) and registers afresh under a new id.
    """
    now = clock.now()
    alive = db.session.execute(
        update(Instance)
        .where(Instance.id == current_app.config["INSTANCE_ID"], Instance.stopped_at.is_(None))
        .values(heartbeat_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not alive:
        dropped = disconnect_all()
        log.warning(
            "instance %s was declared dead; dropped %d sockets and re-registered",
            current_app.config["INSTANCE_ID"],
            dropped,
        )
        current_app.config["INSTANCE_ID"] = str(uuid.uuid4())
        _register()
    reclaim_dead(now)


def close_orphans(live_sids: Callable[[], set[str]]) -> int:
    """Close this process's memberships whose socket it no longer holds.

    A disconnect whose database write failed leaves such a row behind; nobody else would ever
    close it while this process lives. The rows are read before the live sockets are asked
    for, so a socket that joins in between is never mistaken for a dead one.
    """
    me = current_app.config["INSTANCE_ID"]
    held = set(
        db.session.scalars(
            select(Membership.sid).where(Membership.instance_id == me, Membership.left_at.is_(None))
        )
    )
    orphans = held - live_sids()
    closed = 0
    for sid in sorted(orphans):
        for change in presence.disconnect(sid, "transport_error"):
            presence.announce(change)
            closed += len(change.left)
    if closed:
        log.warning("closed %d memberships of sockets this process no longer holds", closed)
    return closed


def reclaim_dead(now: datetime) -> list[str]:
    """Close the memberships of every instance silent for INSTANCE_DEAD_AFTER_SECS."""
    return _reclaim(Instance.heartbeat_at <= _dead_before(now), reason="instance_dead")


def shutdown(end_sessions: bool) -> None:
    """Leave cleanly: close this process's memberships, and mark it stopped.

    With `end_sessions` (a single-process deployment), sessions that only this process's
    clients were in are ended first, so those clients hear `session_ended`.
    """
    me = current_app.config["INSTANCE_ID"]
    if end_sessions:
        for session_id in _sessions_held_only_by(me):
            registry.end_session(session_id, "server_shutdown")
    for change in presence.evict_instances([me], "server_shutdown"):
        presence.announce(change)
    db.session.execute(
        update(Instance)
        .where(Instance.id == me, Instance.stopped_at.is_(None))
        .values(stopped_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    log.info("instance stopped id=%s", me)


def _register() -> Instance:
    now = clock.now()
    config = current_app.config
    instance = Instance(
        id=config["INSTANCE_ID"], name=config["INSTANCE_NAME"], started_at=now, heartbeat_at=now
    )
    db.session.add(instance)
    db.session.commit()
    log.info("instance registered id=%s name=%s", instance.id, instance.name)
    return instance


def _dead_before(now: datetime) -> datetime:
    return now - timedelta(seconds=current_app.config["INSTANCE_DEAD_AFTER_SECS"])


def _reclaim(which: object, reason: str) -> list[str]:
    """Mark the instances `which` selects stopped (each claimed by one caller only), then close
    their memberships and tell the rooms."""
    me = current_app.config["INSTANCE_ID"]
    claimed = list(
        db.session.scalars(
            update(Instance)
            .where(which, Instance.id != me, Instance.stopped_at.is_(None))
            .values(stopped_at=clock.now())
            .returning(Instance.id)
            .execution_options(synchronize_session=False)
        )
    )
    db.session.commit()
    # Also any stopped instance whose memberships are still open: its reclaimer died halfway.
    orphaned = db.session.scalars(
        select(Membership.instance_id)
        .distinct()
        .join(Instance, Instance.id == Membership.instance_id)
        .where(Membership.left_at.is_(None), Instance.stopped_at.is_not(None))
    )
    evicting = sorted(set(claimed) | set(orphaned))
    if not evicting:
        return []
    changes = presence.evict_instances(evicting, reason)
    for change in changes:
        presence.announce(change)
    log.warning(
        "reclaimed instances=%s reason=%s sessions=%d clients=%d",
        ",".join(evicting),
        reason,
        len(changes),
        sum(len(change.left) for change in changes),
    )
    return evicting


def _sessions_held_only_by(instance_id: str) -> list[str]:
    others = select(Membership.session_id).where(
        Membership.instance_id != instance_id, Membership.left_at.is_(None)
    )
    query = (
        select(Membership.session_id)
        .distinct()
        .where(Membership.instance_id == instance_id, Membership.left_at.is_(None))
        .where(Membership.session_id.not_in(others))
    )
    return sorted(db.session.scalars(query))
