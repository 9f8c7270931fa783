"""Webhooks (DESIGN section 11): events written in the transaction of their change, sent signed
to a real receiver, retried on the schedule, and never written while webhooks are off."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from backend.extensions import db
from backend.models import WebhookDelivery
from backend.webhooks.dispatcher import BACKOFF_SECS, USER_AGENT, Dispatcher
from tests.conftest import ADMIN
from tests.helpers import SESSIONS, create_session, join
from tests.webhook_receiver import TEST_SECRET

OP = {"type": "add_node", "node_id": "n1", "props": {"x": 1}}


def deliveries(app: Flask, **filters: Any) -> list[WebhookDelivery]:
    with app.app_context():
        query = select(WebhookDelivery).filter_by(**filters).order_by(WebhookDelivery.created_at)
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        return rows


def dispatch(app: Flask, seed: int = 7) -> int:
    with app.app_context():
        return Dispatcher(app, rng=random.Random(seed)).dispatch_due()


def types(app: Flask) -> list[str]:
    return sorted(delivery.event_type for delivery in deliveries(app))


# --- the outbox -------------------------------------------------------------------------------


def test_with_webhooks_off_nothing_is_written(app: Flask, connect) -> None:
    client = app.test_client()
    session_id = create_session(client)
    socket = connect({"name": "Ada"})
    join(socket, session_id)
    socket.emit("operation", {"session_id": session_id, "op": OP}, callback=True)
    socket.emit("leave_session", {"session_id": session_id}, callback=True)
    client.delete(f"{SESSIONS}/{session_id}", headers=ADMIN)
    assert deliveries(app) == []


def test_each_change_writes_its_event_with_the_change(hooked: Flask, connect_to, clock) -> None:
    client = hooked.test_client()
    session_id = create_session(client, title="Board")
    assert types(hooked) == ["session.created"]
    ada = connect_to(hooked, {"name": "Ada"})
    join(ada, session_id)
    assert types(hooked) == ["client.joined", "session.created"]
    ada.emit("operation", {"session_id": session_id, "op": OP}, callback=True)
    [changed] = deliveries(hooked, event_type="document.changed")
    assert changed.payload is None  # made at its first send, with the version then
    assert changed.next_attempt_at == clock.now() + timedelta(seconds=5)
    ada.emit("leave_session", {"session_id": session_id}, callback=True)
    join(ada, session_id)
    client.delete(f"{SESSIONS}/{session_id}", headers=ADMIN)
    assert types(hooked) == [
        "client.joined",
        "client.joined",
        "client.left",
        "client.left",
        "document.changed",
        "session.created",
        "session.ended",
    ]
    assert {d.session_id for d in deliveries(hooked)} == {session_id}
    assert all(d.status == "pending" and d.attempts == 0 for d in deliveries(hooked))


def test_a_change_that_is_refused_writes_no_event(make_app, receiver, connect_to) -> None:
    app = make_app(WEBHOOK_URLS=[receiver.url], WEBHOOK_SECRET=TEST_SECRET, SESSION_MAX_CLIENTS=1)
    session_id = create_session(app.test_client())
    join(connect_to(app), session_id)
    before = types(app)
    assert join(connect_to(app), session_id)["error"]["code"] == "session_full"
    app.test_client().delete(f"{SESSIONS}/{session_id}", headers=ADMIN)
    ended = types(app)
    app.test_client().delete(f"{SESSIONS}/{session_id}", headers=ADMIN)  # ended already
    assert before == ["client.joined", "session.created"]
    assert types(app) == ended == sorted([*before, "client.left", "session.ended"])


def test_only_the_events_chosen_are_written(make_app, receiver) -> None:
    app = make_app(
        WEBHOOK_URLS=[receiver.url],
        WEBHOOK_SECRET=TEST_SECRET,
        WEBHOOK_EVENTS=("session.ended",),
    )
    session_id = create_session(app.test_client())
    app.test_client().delete(f"{SESSIONS}/{session_id}", headers=ADMIN)
    assert types(app) == ["session.ended"]


def test_every_endpoint_gets_its_own_row_and_id(make_app, receiver) -> None:
    second = "http://127.0.0.1:9/elsewhere"
    app = make_app(WEBHOOK_URLS=[receiver.url, second], WEBHOOK_SECRET=TEST_SECRET)
    create_session(app.test_client())
    rows = deliveries(app)
    assert sorted(row.endpoint for row in rows) == sorted([receiver.url, second])
    assert len({row.id for row in rows}) == 2 and all(row.id.startswith("msg_") for row in rows)
    assert rows[0].payload == rows[1].payload


# --- sending ----------------------------------------------------------------------------------


def test_each_event_arrives_once_signed_with_its_fields(hooked, receiver, connect_to, clock):
    client = hooked.test_client()
    session_id = create_session(client, title="Board")
    ada = connect_to(hooked, {"name": "Ada"})
    join(ada, session_id)
    ada.emit("operation", {"session_id": session_id, "op": OP}, callback=True)
    ada.emit("leave_session", {"session_id": session_id}, callback=True)
    clock.advance(seconds=5)
    client.delete(f"{SESSIONS}/{session_id}", headers=ADMIN)
    assert dispatch(hooked) == 5
    assert dispatch(hooked) == 0
    assert len(receiver.received) == 5 and len(receiver.verified()) == 5
    by_type = {body["type"]: body for body in receiver.bodies()}
    assert set(by_type) == {
        "session.created",
        "client.joined",
        "document.changed",
        "client.left",
        "session.ended",
    }
    for body in by_type.values():
        assert set(body) == {"type", "timestamp", "data"}
        assert body["data"]["session_id"] == session_id
        assert body["data"]["project_id"] == "proj"
    joined = by_type["client.joined"]["data"]
    assert joined["name"] == "Ada" and joined["reason"] is None and joined["active_clients"] == 1
    assert by_type["client.left"]["data"]["reason"] == "left"
    assert by_type["client.left"]["data"]["active_clients"] == 0
    assert by_type["document.changed"]["data"]["version"] == 1
    ended = by_type["session.ended"]["data"]
    assert (ended["reason"], ended["peak_clients"]) == ("ended_by_admin", 1)
    assert ended["duration_seconds"] == 5.0
    request = receiver.received[0]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == USER_AGENT
    assert {d.status for d in deliveries(hooked)} == {"delivered"}
    assert {d.id for d in deliveries(hooked)} == {r.webhook_id for r in receiver.received}


def test_document_changed_is_debounced_and_carries_the_newest_version(
    hooked, receiver, connect_to, clock
) -> None:
    session_id = create_session(hooked.test_client())
    ada = connect_to(hooked)
    join(ada, session_id)
    for number in range(4):
        op = {"type": "add_node", "node_id": f"n{number}"}
        ada.emit("operation", {"session_id": session_id, "op": op}, callback=True)
        clock.advance(seconds=1)
    assert len(deliveries(hooked, event_type="document.changed")) == 1
    dispatch(hooked)  # session.created and client.joined; the change is not due yet
    assert receiver.bodies("document.changed") == []
    clock.advance(seconds=1)
    ada.emit("undo", {"session_id": session_id}, callback=True)
    dispatch(hooked)
    [changed] = receiver.bodies("document.changed")
    assert changed["data"]["version"] == 5
    ada.emit("redo", {"session_id": session_id}, callback=True)
    [pending] = deliveries(hooked, event_type="document.changed", status="pending")
    assert pending.next_attempt_at == clock.now() + timedelta(seconds=5)


def test_a_receiver_down_for_three_attempts_gets_it_once_when_up(hooked, receiver, clock):
    answers = [500, 502, 503]
    receiver.script.answers = list(answers)
    create_session(hooked.test_client())
    for attempt, status in enumerate(answers, start=1):
        assert dispatch(hooked) == 1
        [row] = deliveries(hooked)
        assert (row.status, row.attempts, row.last_status) == ("pending", attempt, status)
        wait = (row.next_attempt_at - clock.now()).total_seconds()
        base = BACKOFF_SECS[attempt - 1]
        assert 0.8 * base <= wait <= 1.2 * base
        assert dispatch(hooked) == 0  # not due before its time
        clock.advance(seconds=wait)
    assert dispatch(hooked) == 1
    [row] = deliveries(hooked)
    assert (row.status, row.attempts, row.last_status, row.last_error) == (
        "delivered",
        4,
        200,
        None,
    )
    clock.advance(hours=24)
    assert dispatch(hooked) == 0
    assert len(receiver.bodies()) == 1 and len(receiver.received) == 4
    assert len({request.webhook_id for request in receiver.received}) == 1


def test_gone_stops_at_once(hooked, receiver) -> None:
    receiver.script.status = 410
    create_session(hooked.test_client())
    dispatch(hooked)
    [row] = deliveries(hooked)
    assert (row.status, row.attempts, row.last_status) == ("failed", 1, 410)
    assert row.next_attempt_at is None


def test_retry_after_is_honoured(hooked, receiver, clock) -> None:
    receiver.script.answers = [429]
    receiver.script.headers = {"Retry-After": "120"}
    create_session(hooked.test_client())
    dispatch(hooked)
    [row] = deliveries(hooked)
    assert row.next_attempt_at == clock.now() + timedelta(seconds=120)


def test_failing_until_the_last_attempt_fails_and_a_retry_delivers(
    make_app, receiver, clock
) -> None:
    app = make_app(WEBHOOK_URLS=[receiver.url], WEBHOOK_SECRET=TEST_SECRET, WEBHOOK_MAX_ATTEMPTS=3)
    receiver.script.status = 500
    create_session(app.test_client())
    for _ in range(3):
        dispatch(app)
        clock.advance(hours=11)
    [row] = deliveries(app)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error.startswith("HTTP 500")
    client = app.test_client()
    listed = client.get("/api/v1/webhooks/deliveries?status=failed", headers=ADMIN).get_json()
    assert [d["id"] for d in listed["deliveries"]] == [row.id]
    receiver.script.status = 200
    retried = client.post(f"/api/v1/webhooks/deliveries/{row.id}/retry", headers=ADMIN)
    assert retried.status_code == 200 and retried.get_json()["status"] == "pending"
    assert dispatch(app) == 1
    [row] = deliveries(app)
    assert (row.status, row.attempts) == ("delivered", 4)
    again = client.post(f"/api/v1/webhooks/deliveries/{row.id}/retry", headers=ADMIN)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_delivered"


def test_an_unreachable_receiver_is_an_error_not_a_crash(make_app, clock) -> None:
    app = make_app(WEBHOOK_URLS=["http://127.0.0.1:9/closed"], WEBHOOK_SECRET=TEST_SECRET)
    create_session(app.test_client())
    dispatch(app)
    [row] = deliveries(app)
    assert (row.status, row.attempts, row.last_status) == ("pending", 1, None)
    assert "ConnectionError" in row.last_error


def test_a_claimed_row_is_not_claimed_again_until_its_lease_runs_out(hooked, clock) -> None:
    """What keeps two processes from sending one row at once (SKIP LOCKED on PostgreSQL adds
    that neither waits for the other's claim)."""
    from backend.webhooks.dispatcher import claim_due

    create_session(hooked.test_client())
    with hooked.app_context():
        [first] = claim_due(clock.now())
        assert claim_due(clock.now()) == []
        clock.advance(seconds=10 + 30)
        [again] = claim_due(clock.now())
    assert again.id == first.id


def test_a_change_after_the_claim_gets_its_own_document_changed(hooked, connect_to, clock):
    """Once a dispatcher has made a document.changed body (with the version then), a later
    change must not count on it."""
    from backend.webhooks.dispatcher import claim_due

    session_id = create_session(hooked.test_client())
    ada = connect_to(hooked)
    join(ada, session_id)
    ada.emit("operation", {"session_id": session_id, "op": OP}, callback=True)
    clock.advance(seconds=5)
    with hooked.app_context():
        claimed = [row for row in claim_due(clock.now()) if row.event_type == "document.changed"]
    assert '"version":1' in claimed[0].payload
    ada.emit("operation", {"session_id": session_id, "op": {**OP, "node_id": "n2"}}, callback=True)
    rows = deliveries(hooked, event_type="document.changed")
    assert [row.payload is None for row in rows] == [False, True]


def test_each_endpoints_rows_are_leased_for_their_place_in_its_queue(make_app, receiver, clock):
    from backend.webhooks.dispatcher import LEASE_MARGIN_SECS, claim_due

    app = make_app(
        WEBHOOK_URLS=[receiver.url, "http://127.0.0.1:9/b"],
        WEBHOOK_SECRET=TEST_SECRET,
        WEBHOOK_TIMEOUT_SECS=10,
    )
    create_session(app.test_client())
    create_session(app.test_client())
    with app.app_context():
        claim_due(clock.now())
    leases = sorted(
        (row.endpoint, (row.next_attempt_at - clock.now()).total_seconds())
        for row in deliveries(app)
    )
    margin = LEASE_MARGIN_SECS
    assert [lease for _, lease in leases] == [10 + margin, 20 + margin] * 2


def test_a_hanging_endpoint_holds_up_only_its_own_deliveries(make_app, clock) -> None:
    """Each endpoint's rows are sent in a lane of their own: the slow lane's first send waits
    for the other endpoint's send, which sequential sending would never reach."""
    import threading

    from backend.webhooks.dispatcher import Outcome

    slow, fast = "http://127.0.0.1:9/slow", "http://127.0.0.1:9/fast"
    app = make_app(WEBHOOK_URLS=[slow, fast], WEBHOOK_SECRET=TEST_SECRET)
    create_session(app.test_client())
    fast_sent = threading.Event()
    order = []

    def send(endpoint: str, *args: Any) -> Outcome:
        if endpoint == slow:
            order.append(("slow waited", fast_sent.wait(timeout=10)))
        else:
            fast_sent.set()
            order.append(("fast", True))
        return Outcome(200, None)

    with app.app_context():
        assert Dispatcher(app, send=send).dispatch_due() == 2
    assert ("slow waited", True) in order
    assert {row.status for row in deliveries(app)} == {"delivered"}


def test_an_endpoint_still_being_sent_to_gets_no_new_rows(make_app, clock) -> None:
    from backend.webhooks.dispatcher import claim_due

    slow, fast = "http://127.0.0.1:9/slow", "http://127.0.0.1:9/fast"
    app = make_app(WEBHOOK_URLS=[slow, fast], WEBHOOK_SECRET=TEST_SECRET)
    create_session(app.test_client())
    with app.app_context():
        claimed = claim_due(clock.now(), skip_endpoints={slow})
    assert [row.endpoint for row in claimed] == [fast]


def test_endpoints_are_logged_without_credentials() -> None:
    from backend.webhooks.dispatcher import endpoint_for_logs

    assert (
        endpoint_for_logs("https://user:pw@hooks.test:8443/in?token=s3cret#x")
        == "https://hooks.test:8443/in"
    )
    assert endpoint_for_logs("http://127.0.0.1/hooks") == "http://127.0.0.1/hooks"
