"""The sweep and instance lifecycle, driven by hand with the injected clock: no sleeps."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from backend import instances, lifecycle
from backend.database import database_now
from backend.extensions import db
from backend.models import DocumentNode, Instance, Membership, Operation, Session, SweepRun
from tests.conftest import ADMIN
from tests.helpers import create_session as create
from tests.helpers import join

DAY = 86400


def state(client, session_id) -> dict:
    return client.get(f"/api/v1/sessions/{session_id}").json


def sweep(app, **kwargs) -> lifecycle.SweepResult:
    with app.app_context():
        return lifecycle.sweep(**kwargs)


def test_idle_busy_and_pinned(make_app, connect_to, clock) -> None:
    # The idle rule alone: sessions nobody joins would otherwise end as `never_joined`.
    app = make_app(SESSION_EMPTY_TIMEOUT_SECS=0)
    client = app.test_client()
    idle, busy, pinned = create(client), create(client), create(client)
    client.patch(f"/api/v1/sessions/{pinned}", json={"pinned": True}, headers=ADMIN)
    join(connect_to(app), busy)
    clock.advance(seconds=DAY - 1)
    assert sweep(app).ended == {}
    clock.advance(seconds=1)
    result = sweep(app)
    assert result.ended == {idle: "idle_timeout"}
    assert state(client, idle)["end_reason"] == "idle_timeout"
    assert state(client, busy)["is_active"] and state(client, pinned)["is_active"]


def test_the_idle_clock_starts_when_the_last_client_leaves(app, client, connect, clock) -> None:
    session_id = create(client)
    socket = connect()
    join(socket, session_id)
    clock.advance(seconds=3 * DAY)  # busy for three days: never idle
    assert sweep(app).ended == {}
    socket.disconnect()
    clock.advance(seconds=DAY - 1)
    assert sweep(app).ended == {}
    clock.advance(seconds=1)
    assert sweep(app).ended == {session_id: "idle_timeout"}


def test_ttl_ends_a_session_even_with_clients(app, client, connect, clock) -> None:
    session_id = create(client, ttl_seconds=600)
    socket = connect()
    join(socket, session_id)
    socket.get_received()
    clock.advance(seconds=599)
    assert sweep(app).ended == {}
    clock.advance(seconds=1)
    assert sweep(app).ended == {session_id: "ttl_expired"}
    assert [m["args"][0] for m in socket.get_received() if m["name"] == "session_ended"] == [
        {"session_id": session_id, "reason": "ttl_expired"}
    ]
    assert state(client, session_id)["active_clients"] == 0


def test_never_joined_sessions_end_after_the_empty_timeout(make_app, clock, connect_to) -> None:
    app = make_app(SESSION_EMPTY_TIMEOUT_SECS=300)
    client = app.test_client()
    abandoned, used, pinned = create(client), create(client), create(client)
    client.patch(f"/api/v1/sessions/{pinned}", json={"pinned": True}, headers=ADMIN)
    socket = connect_to(app)
    join(socket, used)
    socket.emit("leave_session", {"session_id": used}, callback=True)
    clock.advance(seconds=300)
    assert sweep(app).ended == {abandoned: "never_joined"}
    assert state(client, used)["is_active"] is True  # joined once: the idle rule applies


def test_never_joined_ends_after_15_minutes_by_default(app, client, clock) -> None:
    """Anyone may create sessions: abandoned ones must not hold the concurrency cap a day."""
    session_id = create(client)
    clock.advance(seconds=899)
    assert sweep(app).ended == {}
    clock.advance(seconds=1)
    assert sweep(app).ended == {session_id: "never_joined"}


def test_never_joined_is_off_with_a_zero_empty_timeout(make_app, clock) -> None:
    app = make_app(SESSION_EMPTY_TIMEOUT_SECS=0)
    client = app.test_client()
    session_id = create(client)
    clock.advance(seconds=DAY - 1)
    assert sweep(app).ended == {}
    assert state(client, session_id)["is_active"] is True


def test_a_dry_run_changes_nothing(make_app, clock) -> None:
    # The idle rule alone: sessions nobody joins would otherwise end as `never_joined`.
    app = make_app(SESSION_EMPTY_TIMEOUT_SECS=0)
    client = app.test_client()
    idle = create(client)
    expiring = create(client, ttl_seconds=60)
    clock.advance(seconds=DAY)
    result = sweep(app, dry_run=True)
    assert result.ended == {idle: "idle_timeout", expiring: "ttl_expired"}
    assert state(client, idle)["is_active"] and state(client, expiring)["is_active"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SweepRun)) == 0


def test_the_end_reason_is_chosen_by_the_caller_not_the_trigger_label(make_app, clock) -> None:
    # The idle rule alone: sessions nobody joins would otherwise end as `never_joined`.
    app = make_app(SESSION_EMPTY_TIMEOUT_SECS=0)
    client = app.test_client()
    session_id = create(client)
    clock.advance(hours=2)
    assert sweep(app, max_inactive=timedelta(hours=1), trigger="admin").ended == {
        session_id: "idle_timeout"  # the label names the run; it does not choose the reason
    }
    other = create(client)
    clock.advance(hours=2)
    assert sweep(app, max_inactive=timedelta(hours=1), idle_reason="admin_cleanup").ended == {
        other: "admin_cleanup"
    }


def test_two_sweeps_at_once_end_each_session_once(app, client, clock) -> None:
    sessions = {create(client) for _ in range(20)}
    clock.advance(seconds=DAY)
    results: list[lifecycle.SweepResult] = []

    def run() -> None:
        with app.app_context():
            results.append(lifecycle.sweep(trigger="scheduler"))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    ended = [sid for result in results for sid in result.ended]
    assert sorted(ended) == sorted(sessions)  # each once, by one sweep or the other
    assert all(not result.errors for result in results)
    with app.app_context():
        ends = db.session.scalars(select(Session.ended_at).where(Session.id.in_(sessions)))
        assert set(ends) == {clock.now()}


def test_a_sweep_records_its_outcome(app, client, clock) -> None:
    create(client)
    clock.advance(seconds=DAY)
    sweep(app)
    sweeper = client.get("/api/v1/sessions/metrics").json["sweeper"]
    assert sweeper["runs"] == 1
    assert sweeper["last_ended"] == 1
    assert sweeper["last_run_at"] == clock.now().isoformat()
    assert sweeper["last_error"] is None


def test_retention_purges_old_ended_sessions_with_their_rows(app, client, clock) -> None:
    old, recent = create(client), create(client)
    with app.app_context():
        db.session.add(DocumentNode(session_id=old, node_id="n", props={}))
        db.session.commit()
    client.delete(f"/api/v1/sessions/{old}", headers=ADMIN)
    clock.advance(days=29)
    client.delete(f"/api/v1/sessions/{recent}", headers=ADMIN)
    clock.advance(days=1)
    assert sweep(app).purged == 1
    assert client.get(f"/api/v1/sessions/{old}").status_code == 404
    assert client.get(f"/api/v1/sessions/{recent}").status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DocumentNode)) == 0
        assert db.session.scalar(select(func.count()).select_from(Operation)) == 0


def test_retention_zero_keeps_everything(make_app, clock) -> None:
    app = make_app(SESSION_RETENTION_DAYS=0)
    client = app.test_client()
    session_id = create(client)
    client.delete(f"/api/v1/sessions/{session_id}", headers=ADMIN)
    clock.advance(days=3650)
    assert sweep(app).purged == 0
    assert client.get(f"/api/v1/sessions/{session_id}").status_code == 200


def test_shutdown_closes_this_instances_memberships(app, client, connect) -> None:
    session_id = create(client)
    join(connect(), session_id)
    with app.app_context():
        instances.shutdown(end_sessions=False)
        assert db.session.get(Instance, app.config["INSTANCE_ID"]).stopped_at is not None
    body = state(client, session_id)
    assert body["active_clients"] == 0 and body["is_active"] is True


def test_shutdown_can_end_the_sessions_it_empties(make_app, connect_to) -> None:
    leaving, staying = make_app(), make_app()
    client = leaving.test_client()
    only_ours, shared, empty = create(client), create(client), create(client)
    join(connect_to(leaving), only_ours)
    join(connect_to(leaving), shared)
    join(connect_to(staying), shared)
    with leaving.app_context():
        instances.shutdown(end_sessions=True)
    assert state(client, only_ours)["end_reason"] == "server_shutdown"
    assert state(client, shared)["is_active"] is True
    assert state(client, shared)["active_clients"] == 1
    assert state(client, empty)["is_active"] is True


def test_health_is_503_when_the_scheduler_it_started_has_died(make_app) -> None:
    from backend.extensions import SCHEDULER_KEY
    from backend.jobs import LifecycleScheduler

    app = make_app(SESSION_CLEANUP_INTERVAL=60)
    app.extensions[SCHEDULER_KEY] = LifecycleScheduler(app, lambda: 0, set)  # never started
    response = app.test_client().get("/api/v1/health")
    assert response.status_code == 503
    assert response.json["scheduler"] == "stopped"
    assert response.json["status"] == "unavailable"


def test_the_scheduler_runs_its_jobs_in_an_app_context(make_app, clock) -> None:
    from backend.jobs import LifecycleScheduler

    app = make_app(SESSION_CLEANUP_INTERVAL=60, SESSION_EMPTY_TIMEOUT_SECS=0)  # idle rule alone
    with app.app_context():
        instances.start()
    client = app.test_client()
    session_id = create(client)
    clock.advance(seconds=DAY)
    scheduler = LifecycleScheduler(app, lambda: 0, set)
    for job in scheduler.scheduler.get_jobs():
        job.func()  # what APScheduler calls on each tick, minus the waiting
    assert state(client, session_id)["end_reason"] == "idle_timeout"
    with app.app_context():
        beat = db.session.get(Instance, app.config["INSTANCE_ID"]).heartbeat_at
        # Heartbeats are the database's time, not the (frozen, months-off) process clock.
        assert abs((database_now() - beat).total_seconds()) < 30


def test_memberships_of_sockets_this_process_lost_are_closed(app, client, connect) -> None:
    """A disconnect whose database write failed leaves an open row; the heartbeat closes it."""
    session_id = create(client)
    kept, lost = connect({"name": "kept"}), connect({"name": "lost"})
    join(kept, session_id)
    join(lost, session_id)
    with app.app_context():
        rows = db.session.scalars(select(Membership).order_by(Membership.id)).all()
        live = {rows[0].sid}
        assert instances.close_orphans(lambda: live) == 1
        assert instances.close_orphans(lambda: live) == 0
    assert state(client, session_id)["active_clients"] == 1


def test_one_scheduled_sweep_per_interval_across_processes(make_app, client, clock) -> None:
    apps = [make_app() for _ in range(3)]
    for each in apps:
        with each.app_context():
            instances.start()
    results = []
    for each in apps:
        with each.app_context():
            results.append(lifecycle.scheduled_sweep(3600))
    assert [result is not None for result in results] == [True, False, False]
    with apps[0].app_context():
        assert db.session.scalar(select(func.count()).select_from(SweepRun)) == 1
    assert client.get("/api/v1/sessions/metrics").json["sweeper"]["runs"] == 1


def test_the_sweep_survives_any_error_on_one_session(make_app, clock, monkeypatch) -> None:
    from backend import registry

    # The idle rule alone: sessions nobody joins would otherwise end as `never_joined`.
    app = make_app(SESSION_EMPTY_TIMEOUT_SECS=0)
    client = app.test_client()
    bad, good = sorted([create(client), create(client)])
    clock.advance(seconds=DAY)
    end_if, end_many = registry.end_if, registry.end_many

    def fail_on_bad(session_id, *args, **kwargs):
        if session_id == bad:
            raise ValueError("a row no rule expected")
        return end_if(session_id, *args, **kwargs)

    def fail_with_bad(session_ids, *args, **kwargs):
        if bad in session_ids:
            raise ValueError("a row no rule expected")
        return end_many(session_ids, *args, **kwargs)

    # The batch holding the bad row fails as a whole; its sessions are then ended one by one.
    monkeypatch.setattr(registry, "end_many", fail_with_bad)
    monkeypatch.setattr(registry, "end_if", fail_on_bad)
    result = sweep(app)
    assert result.ended == {good: "idle_timeout"}
    assert result.errors == [f"{bad}: ValueError"]
    sweeper = client.get("/api/v1/sessions/metrics").json["sweeper"]
    assert sweeper["last_error"] == f"{bad}: ValueError"
    assert state(client, bad)["is_active"] is True


def test_health_is_503_when_the_scheduler_died_even_with_the_sweep_off(make_app) -> None:
    from backend.extensions import SCHEDULER_KEY
    from backend.jobs import LifecycleScheduler

    app = make_app(SESSION_CLEANUP_INTERVAL=0)  # the heartbeat still needs the scheduler
    app.extensions[SCHEDULER_KEY] = LifecycleScheduler(app, lambda: 0, set)  # never started
    response = app.test_client().get("/api/v1/health")
    assert response.status_code == 503
    assert response.json["scheduler"] == "stopped"
    assert response.json["sweep"] == "off"
