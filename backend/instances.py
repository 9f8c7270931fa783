"""Server processes as the database sees them: registration, heartbeat, reclaim, shutdown.

Memberships name the instance that holds their socket. A process that dies without a word
(kill -9, OOM, a lost VM) stops heartbeating; whoever notices first marks it stopped with a
conditional UPDATE and closes its memberships, so its clients vanish from every count.

Every time here is the database's (`database_now`): a process whose clock is off by minutes
neither looks dead nor declares a live peer dead. And a process judges peers only after its
own heartbeats have run unbroken for a whole dead-after window: after a database outage every
peer was silent too, and must be given that window to beat again before it counts as dead.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, select, update

from . import presence, registry
from .database import database_now
from .exceptions import InstanceNameTaken
from .extensions import db
from .models import Instance, Membership

log = logging.getLogger(__name__)


def start() -> Instance:
    """Register this process and reclaim its own earlier lives.

    A process restarted after kill -9 keeps its INSTANCE_NAME; nobody else can hold the
    sockets its previous life held, so those memberships close at once, not after a timeout.
    A live process of another pid that holds the name is refused (InstanceNameTaken): it
    would otherwise reclaim the clients of a peer that is still serving them. Dead peers of
    other names are left to the heartbeat, which judges them once this process has been
    alive a dead-after window (a process starting just after an outage must not fence
    everyone).
    """
    now = database_now()
    _refuse_a_live_namesake(now)
    instance = _register(now)
    _reclaim(Instance.name == instance.name, reason="instance_dead")
    return instance


def heartbeat(disconnect_all: Callable[[], int]) -> None:
    """Say this process is alive; if it was declared dead meanwhile, fence itself first.

    A stalled process (a long GC pause, a frozen VM) may come back to find its clients
    reclaimed. Its sockets no longer count anywhere, so it drops them (clients reconnect and
    rejoin) and registers afresh under a new id. A beat that follows a gap (the last one is
    older than two heartbeat intervals) restarts `alive_since`.
    """
    now = database_now()
    gap_since = now - timedelta(seconds=2 * current_app.config["INSTANCE_HEARTBEAT_SECS"])
    alive = db.session.execute(
        update(Instance)
        .where(Instance.id == current_app.config["INSTANCE_ID"], Instance.stopped_at.is_(None))
        .values(
            heartbeat_at=now,
            alive_since=case((Instance.heartbeat_at < gap_since, now), else_=Instance.alive_since),
        )
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
        _register(now)
    reclaim_dead()


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


def reclaim_dead() -> list[str]:
    """Close the memberships of every instance silent for INSTANCE_DEAD_AFTER_SECS, judged by
    the database's clock, unless this process has itself been alive for less than that."""
    now = database_now()
    dead_before = now - timedelta(seconds=current_app.config["INSTANCE_DEAD_AFTER_SECS"])
    alive_since = db.session.scalar(
        select(Instance.alive_since).where(Instance.id == current_app.config["INSTANCE_ID"])
    )
    if alive_since is None or alive_since > dead_before:
        db.session.rollback()
        log.debug("not judging peers: this instance is alive only since %s", alive_since)
        # Still finish the reclaims of instances already stopped whose reclaimer died.
        return _reclaim(None, reason="instance_dead")
    return _reclaim(Instance.heartbeat_at <= dead_before, reason="instance_dead")


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
        .values(stopped_at=database_now())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    log.info("instance stopped id=%s", me)


def is_live(instance: Instance, now: datetime) -> bool:
    """Not stopped and heard from within INSTANCE_DEAD_AFTER_SECS of the database's `now`."""
    window = timedelta(seconds=current_app.config["INSTANCE_DEAD_AFTER_SECS"])
    return instance.stopped_at is None and instance.heartbeat_at > now - window


def _refuse_a_live_namesake(now: datetime) -> None:
    """Raise InstanceNameTaken if a live instance of another process holds our name.

    A live row of our name on this host whose pid no longer runs is this slot's own earlier
    life (kill -9, then a restart within the dead-after window): it is reclaimed, not refused.
    """
    name = current_app.config["INSTANCE_NAME"]
    rows = db.session.scalars(
        select(Instance).where(Instance.name == name, Instance.stopped_at.is_(None))
    )
    for other in rows:
        if is_live(other, now) and not _is_own_earlier_life(other):
            db.session.rollback()
            raise InstanceNameTaken(
                f"INSTANCE_NAME {name!r} is held by a live instance (id {other.id}, host "
                f"{other.host}, pid {other.pid}, last heartbeat {other.heartbeat_at.isoformat()}"
                "): give every process its own INSTANCE_NAME, or wait "
                f"{current_app.config['INSTANCE_DEAD_AFTER_SECS']} s for a stopped one to "
                "count as dead"
            )
    db.session.rollback()


def _is_own_earlier_life(other: Instance) -> bool:
    if other.host != socket.gethostname() or other.pid is None:
        return False
    if other.pid == os.getpid():
        return False  # this very process: another app of ours in it already holds the name
    try:
        os.kill(other.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # a live process of another user
    return False


def _register(now: datetime) -> Instance:
    config = current_app.config
    instance = Instance(
        id=config["INSTANCE_ID"],
        name=config["INSTANCE_NAME"],
        host=socket.gethostname(),
        pid=os.getpid(),
        started_at=now,
        heartbeat_at=now,
        alive_since=now,
    )
    db.session.add(instance)
    db.session.commit()
    log.info("instance registered id=%s name=%s", instance.id, instance.name)
    return instance


def _reclaim(which: object | None, reason: str) -> list[str]:
    """Mark the instances `which` selects stopped (each claimed by one caller only), then close
    their memberships and tell the rooms. `which=None` claims none and only finishes the
    reclaims of stopped instances whose memberships are still open."""
    me = current_app.config["INSTANCE_ID"]
    claimed: list[str] = []
    if which is not None:
        claimed = list(
            db.session.scalars(
                update(Instance)
                .where(which, Instance.id != me, Instance.stopped_at.is_(None))
                .values(stopped_at=database_now())
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
        db.session.rollback()
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
