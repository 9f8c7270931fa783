"""Disconnects closed in batches: one transaction for many sockets, one presence per room, and
the same ledger as closing them one by one."""

from __future__ import annotations

import pytest

from backend.extensions import db
from backend.models import Membership
from backend.realtime import departures as departures_module
from backend.realtime import namespace as namespace_module
from tests.helpers import ManualTasks, create_session, events, join


@pytest.fixture()
def batched(make_app):
    """An app whose namespace batches departures, flushed only when the test says so."""
    tasks = ManualTasks()
    app = make_app(DISCONNECT_BATCH_MS=50)
    namespace = app.extensions["socketio"].server.namespace_handlers["/"]
    namespace.departures = departures_module.DepartureBatcher(app, 0.05, tasks.start, tasks.sleep)
    return app, namespace, tasks


def open_rows(app, session_id):
    with app.app_context():
        rows = db.session.scalars(
            db.select(Membership).where(Membership.session_id == session_id)
        ).all()
        return {row.client_name: row.left_reason for row in rows if row.left_at is not None}, [
            row.client_name for row in rows if row.left_at is None
        ]


def test_a_burst_of_disconnects_is_one_flush_and_one_presence_per_room(batched, connect_to) -> None:
    app, namespace, tasks = batched
    client = app.test_client()
    first, second = create_session(client), create_session(client)
    stayer = connect_to(app, {"name": "Stay"})
    join(stayer, first)
    join(stayer, second)
    leavers = []
    for index in range(5):
        socket = connect_to(app, {"name": f"L{index}"})
        join(socket, first if index % 2 else second)
        leavers.append(socket)
    stayer.get_received()
    for socket in leavers:
        socket.disconnect()
    assert len(tasks.started) == 1  # the first departure of the window starts the one flush
    assert namespace.departures.pending == 5
    assert open_rows(app, first)[1] == ["Stay", "L1", "L3"]  # nothing closed before the flush
    tasks.run_all()
    assert tasks.slept[0] == 0.05
    assert namespace.departures.pending == 0
    presence = {p["session_id"]: p for p in events(stayer, "presence")}
    assert set(presence) == {first, second}
    assert sorted(c["name"] for c in presence[first]["left"]) == ["L1", "L3"]
    assert sorted(c["name"] for c in presence[second]["left"]) == ["L0", "L2", "L4"]
    assert presence[first]["active_clients"] == presence[second]["active_clients"] == 1
    closed, still_open = open_rows(app, second)
    assert closed == {
        "L0": "client_disconnect",
        "L2": "client_disconnect",
        "L4": "client_disconnect",
    }
    assert still_open == ["Stay"]
    body = client.get(f"/api/v1/sessions/{first}").get_json()
    assert body["active_clients"] == 1


def test_batches_are_bounded_and_yield_between_them(batched, connect_to, monkeypatch) -> None:
    app, namespace, tasks = batched
    monkeypatch.setattr(departures_module, "BATCH_SIZE", 2)
    client = app.test_client()
    session_id = create_session(client)
    sockets = [connect_to(app, {"name": f"c{index}"}) for index in range(5)]
    for socket in sockets:
        join(socket, session_id)
    for socket in sockets:
        socket.disconnect()
    tasks.run_all()
    assert tasks.slept == [0.05, 0, 0, 0]  # the window, then a yield after each of 3 batches
    assert open_rows(app, session_id)[1] == []
    assert client.get(f"/api/v1/sessions/{session_id}").get_json()["active_clients"] == 0


def test_a_departure_after_the_flush_started_waits_for_the_next_one(batched, connect_to) -> None:
    app, namespace, tasks = batched
    client = app.test_client()
    session_id = create_session(client)
    ada, bob = connect_to(app, {"name": "Ada"}), connect_to(app, {"name": "Bob"})
    join(ada, session_id)
    join(bob, session_id)
    ada.disconnect()
    tasks.run_all()
    bob.disconnect()
    assert len(tasks.started) == 1
    tasks.run_all()
    assert open_rows(app, session_id) == (
        {"Ada": "client_disconnect", "Bob": "client_disconnect"},
        [],
    )


def test_a_database_failure_leaves_the_memberships_for_the_reclaim(
    batched, connect_to, monkeypatch, caplog
) -> None:
    app, namespace, tasks = batched
    client = app.test_client()
    session_id = create_session(client)
    ada = connect_to(app, {"name": "Ada"})
    join(ada, session_id)
    ada.disconnect()

    def unreachable(sids, reason):
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(departures_module.presence, "disconnect_many", unreachable)
    tasks.run_all()
    assert "could not close the memberships of 1 departed sockets" in caplog.text
    assert open_rows(app, session_id)[1] == ["Ada"]  # still open: the instance reclaim closes it


def test_without_a_window_each_disconnect_closes_at_once(app, client, connect) -> None:
    namespace = app.extensions["socketio"].server.namespace_handlers["/"]
    assert isinstance(namespace, namespace_module.SessionNamespace)
    assert namespace.departures is None
    session_id = create_session(client)
    ada = connect({"name": "Ada"})
    join(ada, session_id)
    ada.disconnect()
    assert client.get(f"/api/v1/sessions/{session_id}").get_json()["active_clients"] == 0


def test_queued_departures_are_not_orphans_for_the_heartbeat(batched, connect_to) -> None:
    """The heartbeat closes memberships of sockets this process no longer holds; one the
    batcher has queued is still held, so it is closed once, with its real reason."""
    from backend import instances

    app, namespace, tasks = batched
    session_id = create_session(app.test_client())
    ada = connect_to(app, {"name": "Ada"})
    join(ada, session_id)
    ada.disconnect()
    assert namespace.departures.unclosed_sids() and namespace.live_sids() >= (
        namespace.departures.unclosed_sids()
    )
    with app.app_context():
        assert instances.close_orphans(namespace.live_sids) == 0
    tasks.run_all()
    assert namespace.departures.unclosed_sids() == set()
    assert open_rows(app, session_id) == ({"Ada": "client_disconnect"}, [])
