"""Server processes: reclaiming the dead, by the database's clock, without a storm after an
outage, and never sharing a name with a live process.

Silence is simulated the way it happens: a row whose heartbeat stopped advancing. The tests
move the instance rows' times back against the database's own clock instead of sleeping.
"""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from backend import instances, lifecycle
from backend.clock import FrozenClock
from backend.database import database_now
from backend.exceptions import InstanceNameTaken
from backend.extensions import db
from backend.models import Instance, Membership
from tests.helpers import create_session as create
from tests.helpers import join

DEAD_AFTER = 60  # INSTANCE_DEAD_AFTER_SECS's default, which these apps use


def clients_of(app, session_id: str) -> int:
    return app.test_client().get(f"/api/v1/sessions/{session_id}").json["active_clients"]


def set_back(app, of, heartbeat: float | None = None, alive: float | None = None) -> None:
    """Make `of`'s instance look silent for `heartbeat` seconds, or alive (unbroken beats)
    for `alive` seconds, by the database's clock."""
    with of.app_context():
        now = database_now()
        values = {}
        if heartbeat is not None:
            values["heartbeat_at"] = now - timedelta(seconds=heartbeat)
        if alive is not None:
            values["alive_since"] = now - timedelta(seconds=alive)
        db.session.execute(
            update(Instance).where(Instance.id == of.config["INSTANCE_ID"]).values(**values)
        )
        db.session.commit()


def beat(app) -> None:
    with app.app_context():
        instances.heartbeat(lambda: 0)


def left_reasons(app) -> list[str | None]:
    with app.app_context():
        return list(db.session.scalars(select(Membership.left_reason).order_by(Membership.id)))


@pytest.fixture()
def pair(make_app, connect_to):
    """A survivor and a peer that will fall silent, each with one client in one session."""
    survivor, crashed = make_app(), make_app()
    session_id = create(survivor.test_client())
    join(connect_to(survivor), session_id)
    join(connect_to(crashed), session_id)
    return survivor, crashed, session_id


def test_a_peer_silent_for_the_dead_after_window_is_reclaimed(pair) -> None:
    survivor, crashed, session_id = pair
    set_back(survivor, survivor, alive=2 * DEAD_AFTER)
    set_back(survivor, crashed, heartbeat=DEAD_AFTER - 5)
    beat(survivor)
    assert clients_of(survivor, session_id) == 2  # silent, but not yet for the whole window
    set_back(survivor, crashed, heartbeat=DEAD_AFTER)
    with survivor.app_context():
        assert lifecycle.sweep().reclaimed_instances == 1
    assert clients_of(survivor, session_id) == 1
    assert left_reasons(survivor) == [None, "instance_dead"]


def test_a_process_alive_for_less_than_the_window_judges_no_peer(pair) -> None:
    survivor, crashed, session_id = pair
    set_back(survivor, crashed, heartbeat=10 * DEAD_AFTER)
    beat(survivor)  # registered just now: it cannot tell a dead peer from an outage's victim
    assert clients_of(survivor, session_id) == 2
    set_back(survivor, survivor, alive=DEAD_AFTER + 1)
    beat(survivor)
    assert clients_of(survivor, session_id) == 1


def test_no_reclaim_storm_after_a_database_outage(pair) -> None:
    """Both processes were cut off longer than the window; the first to beat again must not
    reclaim (and so fence) the other, which simply has not had its turn to beat yet."""
    survivor, peer, session_id = pair
    for app in (survivor, peer):
        set_back(survivor, app, heartbeat=3 * DEAD_AFTER, alive=10 * DEAD_AFTER)
    beat(survivor)  # the first beat after the gap restarts its unbroken run
    assert clients_of(survivor, session_id) == 2
    with survivor.app_context():
        assert lifecycle.sweep().reclaimed_instances == 0
        row = db.session.get(Instance, survivor.config["INSTANCE_ID"])
        assert (database_now() - row.alive_since).total_seconds() < 30
    beat(peer)  # the peer comes back within the window and stays alive
    with peer.app_context():
        assert db.session.get(Instance, peer.config["INSTANCE_ID"]).stopped_at is None
    assert left_reasons(survivor) == [None, None]


def test_a_skewed_process_clock_neither_looks_dead_nor_kills(make_app, connect_to) -> None:
    """Hosts whose clocks are ten minutes apart: with process time, the one ahead would find
    the other's heartbeats ten minutes old and reclaim it."""
    real = FrozenClock()
    ahead = make_app(own_clock=FrozenClock(real.now() + timedelta(minutes=10)))
    behind = make_app(own_clock=FrozenClock(real.now() - timedelta(minutes=10)))
    session_id = create(ahead.test_client())
    join(connect_to(ahead), session_id)
    join(connect_to(behind), session_id)
    for app in (ahead, behind):
        set_back(app, app, alive=2 * DEAD_AFTER)
    for app in (behind, ahead, behind):
        beat(app)
        with app.app_context():
            lifecycle.sweep()
    assert clients_of(ahead, session_id) == 2
    assert left_reasons(ahead) == [None, None]


def test_a_live_process_holding_the_name_is_refused(make_app, connect_to) -> None:
    first = make_app(INSTANCE_NAME="web-1")
    session_id = create(first.test_client())
    join(connect_to(first), session_id)
    second = make_app(INSTANCE_NAME="web-1")
    with second.app_context(), pytest.raises(InstanceNameTaken, match="web-1"):
        instances.start()
    assert clients_of(first, session_id) == 1  # the live holder's client is untouched


def test_a_restart_reclaims_its_own_earlier_life_at_once(make_app, connect_to) -> None:
    first = make_app(INSTANCE_NAME="web-1")
    session_id = create(first.test_client())
    join(connect_to(first), session_id)
    with first.app_context():  # its process is gone: the row names a pid that has exited
        db.session.execute(
            update(Instance)
            .where(Instance.id == first.config["INSTANCE_ID"])
            .values(pid=_exited_pid())
        )
        db.session.commit()
    second = make_app(INSTANCE_NAME="web-1")  # the same slot after kill -9
    with second.app_context():
        instances.start()
    assert clients_of(first, session_id) == 0
    assert left_reasons(first) == ["instance_dead"]


def _exited_pid() -> int:
    process = subprocess.Popen(["true"])  # noqa: S607 - any short-lived process will do
    process.wait()
    return process.pid


def test_an_instance_declared_dead_fences_itself(make_app, connect_to) -> None:
    stalled, peer = make_app(), make_app()
    session_id = create(peer.test_client())
    join(connect_to(stalled), session_id)
    join(connect_to(peer), session_id)
    old_id = stalled.config["INSTANCE_ID"]
    set_back(peer, peer, alive=2 * DEAD_AFTER)
    set_back(peer, stalled, heartbeat=DEAD_AFTER + 1)
    beat(peer)  # the peer reclaims the stalled instance
    dropped = []
    with stalled.app_context():
        instances.heartbeat(lambda: dropped.append(True) or 1)
    assert dropped == [True]
    assert stalled.config["INSTANCE_ID"] != old_id
    with stalled.app_context():
        assert db.session.get(Instance, stalled.config["INSTANCE_ID"]).stopped_at is None
        assert db.session.get(Instance, old_id).stopped_at is not None


def test_the_purge_keeps_an_instance_whose_memberships_are_open(make_app, connect_to) -> None:
    app = make_app()
    session_id = create(app.test_client())
    join(connect_to(app), session_id)
    me = app.config["INSTANCE_ID"]
    with app.app_context():
        long_ago = database_now() - timedelta(days=365)
        db.session.execute(update(Instance).where(Instance.id == me).values(stopped_at=long_ago))
        db.session.commit()
        result = lifecycle.SweepResult(dry_run=False)
        lifecycle._purge(result, database_now())
        assert db.session.get(Instance, me) is not None  # its client could not be closed else
        lifecycle.sweep()  # reclaims the stopped instance's client, then purges it
        assert db.session.get(Instance, me) is None
    assert left_reasons(app) == ["instance_dead"]
    assert clients_of(app, session_id) == 0
