"""The batched sweep: it ends exactly what the rules select, across batch boundaries, once."""

from __future__ import annotations

from sqlalchemy import func, select

from backend import lifecycle
from backend.extensions import db
from backend.models import Membership
from tests.conftest import ADMIN
from tests.helpers import create_session as create
from tests.helpers import join

DAY = 86400


def sweep(app, **kwargs) -> lifecycle.SweepResult:
    with app.app_context():
        return lifecycle.sweep(**kwargs)


def test_batches_end_exactly_the_idle_sessions(make_app, connect_to, clock, monkeypatch) -> None:
    monkeypatch.setattr(lifecycle, "SWEEP_BATCH", 2)  # 5 idle sessions span 3 batches
    app = make_app(SESSION_EMPTY_TIMEOUT_SECS=0)
    client = app.test_client()
    idle = sorted(create(client) for _ in range(5))
    busy, pinned = create(client), create(client)
    client.patch(f"/api/v1/sessions/{pinned}", json={"pinned": True}, headers=ADMIN)
    join(connect_to(app), busy)
    clock.advance(seconds=DAY)
    result = sweep(app)
    assert result.ended == dict.fromkeys(idle, "idle_timeout")
    assert result.errors == []
    for session_id in idle:
        assert client.get(f"/api/v1/sessions/{session_id}").json["is_active"] is False
    assert client.get(f"/api/v1/sessions/{busy}").json["is_active"] is True
    assert client.get(f"/api/v1/sessions/{pinned}").json["is_active"] is True
    assert sweep(app).ended == {}  # a second sweep finds nothing left to end


def test_a_batch_skips_a_session_that_changed_since_it_was_selected(
    make_app, connect_to, clock, monkeypatch
) -> None:
    """The UPDATE re-checks the rule: a client joining between selection and end wins."""
    app = make_app(SESSION_EMPTY_TIMEOUT_SECS=0)
    client = app.test_client()
    first, second = sorted([create(client), create(client)])
    clock.advance(seconds=DAY)
    candidates = lifecycle._candidates

    def join_after_selection(conditions):
        rows = candidates(conditions)
        join(connect_to(app), second)
        return rows

    monkeypatch.setattr(lifecycle, "_candidates", join_after_selection)
    assert sweep(app).ended == {first: "idle_timeout"}
    assert client.get(f"/api/v1/sessions/{second}").json["active_clients"] == 1


def test_ttl_batches_close_memberships_and_tell_clients(
    make_app, connect_to, clock, monkeypatch
) -> None:
    monkeypatch.setattr(lifecycle, "SWEEP_BATCH", 1)
    app = make_app()
    client = app.test_client()
    sessions = sorted(create(client, ttl_seconds=600) for _ in range(3))
    sockets = [connect_to(app) for _ in sessions]
    for socket, session_id in zip(sockets, sessions, strict=True):
        join(socket, session_id)
        socket.get_received()
    clock.advance(seconds=600)
    assert sweep(app).ended == dict.fromkeys(sessions, "ttl_expired")
    for socket, session_id in zip(sockets, sessions, strict=True):
        told = [m["args"][0] for m in socket.get_received() if m["name"] == "session_ended"]
        assert told == [{"session_id": session_id, "reason": "ttl_expired"}]
        assert client.get(f"/api/v1/sessions/{session_id}").json["active_clients"] == 0
    with app.app_context():
        still_open = (
            select(func.count()).select_from(Membership).where(Membership.left_at.is_(None))
        )
        assert db.session.scalar(still_open) == 0
