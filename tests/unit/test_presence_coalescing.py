"""Presence coalesced per room: one diff per window for the room, and each joiner told only of
who came after its own ack; someone who came and went within the window is never announced."""

from __future__ import annotations

import functools

import pytest

from backend import _active_counts, broadcast
from tests.helpers import ManualTasks, create_session, events, join


@pytest.fixture()
def coalesced(make_app):
    tasks = ManualTasks()
    app = make_app(PRESENCE_COALESCE_MS=50)
    app.extensions[broadcast.COALESCER_KEY] = broadcast.PresenceCoalescer(
        0.05, tasks.start, tasks.sleep, read_counts=functools.partial(_active_counts, app)
    )
    return app, tasks


def hosted_session(coalesced, connect_to):
    """A session with one member, "Host", whose own join has been flushed and read."""
    app, tasks = coalesced
    session_id = create_session(app.test_client())
    host = connect_to(app, {"name": "Host"})
    join(host, session_id)
    tasks.run_all()
    host.get_received()
    return app, tasks, session_id, host


def names(clients) -> list[str]:
    return [client["name"] for client in clients]


def test_a_burst_of_joins_is_one_diff_for_the_room(coalesced, connect_to) -> None:
    app, tasks, session_id, host = hosted_session(coalesced, connect_to)
    guests = [connect_to(app, {"name": f"G{index}"}) for index in range(3)]
    acks = [join(guest, session_id) for guest in guests]
    assert [len(ack["clients"]) for ack in acks] == [2, 3, 4]  # each ack: everyone so far
    assert events(host, "presence") == []  # nothing before the window closes
    assert len(tasks.started) == 1
    tasks.run_all()
    assert tasks.slept == [0.05, 0.05]
    (diff,) = events(host, "presence")
    assert names(diff["joined"]) == ["G0", "G1", "G2"]
    assert diff["left"] == [] and diff["active_clients"] == 4
    # Each guest hears only of those who joined after its own ack.
    heard = [events(guest, "presence") for guest in guests]
    assert [names(d["joined"]) for d in heard[0]] == [["G1", "G2"]]
    assert [names(d["joined"]) for d in heard[1]] == [["G2"]]
    assert heard[2] == []
    assert all(d["active_clients"] == 4 for d in heard[0] + heard[1])


def test_come_and_gone_within_a_window_is_never_announced(coalesced, connect_to) -> None:
    app, tasks = coalesced
    client = app.test_client()
    session_id = create_session(client)
    host, ada, bob = (connect_to(app, {"name": name}) for name in ("Host", "Ada", "Bob"))
    join(host, session_id)
    join(ada, session_id)
    tasks.run_all()
    host.get_received()
    join(bob, session_id)
    bob.emit("leave_session", {"session_id": session_id}, callback=True)
    ada.emit("leave_session", {"session_id": session_id}, callback=True)
    tasks.run_all()
    (diff,) = events(host, "presence")
    assert diff["joined"] == []
    assert names(diff["left"]) == ["Ada"]
    assert diff["active_clients"] == 1


def two_rooms_with_a_join_each(coalesced, connect_to):
    """A watcher in two sessions, then A joins the first and B the second, unsent yet."""
    app, tasks = coalesced
    client = app.test_client()
    first, second = create_session(client), create_session(client)
    watcher = connect_to(app, {"name": "W"})
    join(watcher, first)
    join(watcher, second)
    tasks.run_all()
    watcher.get_received()
    join(connect_to(app, {"name": "A"}), first)
    join(connect_to(app, {"name": "B"}), second)
    return tasks, watcher, first, second


def test_rooms_are_coalesced_separately(coalesced, connect_to) -> None:
    tasks, watcher, first, second = two_rooms_with_a_join_each(coalesced, connect_to)
    tasks.run_all()
    diffs = {d["session_id"]: names(d["joined"]) for d in events(watcher, "presence")}
    assert diffs == {first: ["A"], second: ["B"]}


def test_a_failing_send_does_not_stop_the_other_rooms(coalesced, connect_to, monkeypatch) -> None:
    tasks, watcher, first, second = two_rooms_with_a_join_each(coalesced, connect_to)
    real_send = broadcast.PresenceCoalescer._send

    def failing(session_id, news):
        if session_id == first:
            raise RuntimeError("queue unreachable")
        real_send(session_id, news)

    monkeypatch.setattr(broadcast.PresenceCoalescer, "_send", staticmethod(failing))
    tasks.run_all()
    assert [d["session_id"] for d in events(watcher, "presence")] == [second]


def test_the_count_sent_is_the_one_committed_when_the_window_closes(coalesced, connect_to) -> None:
    """Another process's changes commit meanwhile: the count the change carried (here a stale
    99) gives way to the database's, so the room never ends on an old number."""
    app, tasks, session_id, host = hosted_session(coalesced, connect_to)
    coalescer = app.extensions[broadcast.COALESCER_KEY]
    coalescer.add(session_id, 99, [{"client_id": "c", "name": "X", "joined_at": None}], [])
    tasks.run_all()
    (diff,) = events(host, "presence")
    assert diff["active_clients"] == 1
    assert [client["name"] for client in diff["joined"]] == ["X"]


def test_an_unreadable_count_falls_back_to_the_one_carried(coalesced, connect_to) -> None:
    app, tasks, session_id, host = hosted_session(coalesced, connect_to)
    coalescer = app.extensions[broadcast.COALESCER_KEY]

    def unreadable(session_ids):
        raise RuntimeError("database unreachable")

    coalescer._read_counts = unreadable
    coalescer.add(session_id, 7, [{"client_id": "c", "name": "X", "joined_at": None}], [])
    tasks.run_all()
    assert [d["active_clients"] for d in events(host, "presence")] == [7]
