"""Webhooks for operators: the admin routes, the CLI, metrics, retention, the settings and the
dispatcher's loop."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import pytest
from flask import Flask

from backend import lifecycle
from backend.webhooks.dispatcher import Dispatcher
from config import ConfigError, load_config
from tests.conftest import ADMIN
from tests.helpers import SESSIONS, create_session, database_state
from tests.webhook_receiver import TEST_SECRET

DELIVERIES = "/api/v1/webhooks/deliveries"


def dispatch(app: Flask) -> int:
    with app.app_context():
        return Dispatcher(app, rng=random.Random(1)).dispatch_due()


def listed(client: Any, query: str = "") -> dict[str, Any]:
    response = client.get(f"{DELIVERIES}{query}", headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- admin REST -------------------------------------------------------------------------------


def test_the_listing_filters_and_pages_newest_first(hooked: Flask, receiver, clock) -> None:
    client = hooked.test_client()
    ids = []
    for _ in range(3):
        ids.append(create_session(client))
        clock.advance(seconds=1)
    client.delete(f"{SESSIONS}/{ids[0]}", headers=ADMIN)
    receiver.script.answers = [410]  # the oldest due row (ids[0]'s creation) fails
    dispatch(hooked)
    everything = listed(client)["deliveries"]
    assert [d["type"] for d in everything] == ["session.ended"] + ["session.created"] * 3
    assert [d["session_id"] for d in everything] == [ids[0], ids[2], ids[1], ids[0]]
    assert set(everything[0]) == {
        "id",
        "type",
        "session_id",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status",
        "last_error",
        "created_at",
        "delivered_at",
    }
    assert [d["session_id"] for d in listed(client, "?status=failed")["deliveries"]] == [ids[0]]
    assert len(listed(client, "?type=session.ended")["deliveries"]) == 1
    assert len(listed(client, f"?session_id={ids[0]}")["deliveries"]) == 2
    first = listed(client, "?limit=2")
    second = listed(client, f"?limit=2&cursor={first['next_cursor']}")
    assert second["next_cursor"] is None
    assert [d["id"] for d in first["deliveries"] + second["deliveries"]] == [
        d["id"] for d in everything
    ]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("?status=lost", 422),
        ("?type=session.paused", 422),
        ("?limit=0", 422),
        ("?limit=501", 422),
        ("?limit=x", 422),
        ("?cursor=bm90LWEtY3Vyc29y", 400),
    ],
)
def test_a_bad_listing_query_is_refused(hooked: Flask, query: str, status: int) -> None:
    response = hooked.test_client().get(f"{DELIVERIES}{query}", headers=ADMIN)
    assert response.status_code == status, response.get_json()


@pytest.mark.parametrize(
    "delivery_id", ["msg_nope", "msg_" + "0" * 32, "%00", "x" * 300, "%ED%A0%80", "MSG_" + "a" * 32]
)
def test_retrying_an_unknown_delivery_is_a_404(hooked: Flask, delivery_id: str) -> None:
    before = database_state(hooked)
    response = hooked.test_client().post(f"{DELIVERIES}/{delivery_id}/retry", headers=ADMIN)
    assert (response.status_code, response.get_json()["error"]["code"]) == (
        404,
        "delivery_not_found",
    )
    assert database_state(hooked) == before


def test_the_webhook_routes_are_admin_only(make_app, receiver) -> None:
    app = make_app(
        AUTH_MODE="open",
        SERVICE_TOKEN="service-token-for-the-webhook-tests-0123",
        WEBHOOK_URLS=[receiver.url],
        WEBHOOK_SECRET=TEST_SECRET,
    )
    client = app.test_client()
    service = {"Authorization": "Bearer service-token-for-the-webhook-tests-0123"}
    assert client.get(DELIVERIES).status_code == 401
    assert client.get(DELIVERIES, headers=service).status_code == 403
    assert client.post(f"{DELIVERIES}/msg_x/retry", headers=service).status_code == 403


# --- metrics ----------------------------------------------------------------------------------


def test_metrics_count_deliveries_by_status_and_the_oldest_pending(hooked, receiver, clock) -> None:
    client = hooked.test_client()
    assert client.get(f"{SESSIONS}/metrics").get_json()["webhooks"] == {
        "pending": 0,
        "delivered": 0,
        "failed": 0,
        "oldest_pending_age_seconds": None,
    }
    create_session(client)
    clock.advance(seconds=1)
    create_session(client)
    receiver.script.answers = [410]
    dispatch(hooked)
    create_session(client)
    clock.advance(seconds=30)
    numbers = client.get(f"{SESSIONS}/metrics").get_json()["webhooks"]
    assert numbers == {
        "pending": 1,
        "delivered": 1,
        "failed": 1,
        "oldest_pending_age_seconds": 30.0,
    }
    text = client.get("/api/v1/metrics").get_data(as_text=True)
    assert 'sessionhub_webhook_outbox{status="pending"} 1.0' in text
    assert 'sessionhub_webhook_outbox{status="failed"} 1.0' in text
    assert "sessionhub_webhook_oldest_pending_age_seconds 30.0" in text
    assert 'sessionhub_webhook_deliveries_total{event="session.created",outcome="failed"}' in text


# --- retention --------------------------------------------------------------------------------


def test_the_sweep_purges_delivered_rows_after_their_retention(make_app, receiver, clock) -> None:
    app = make_app(
        WEBHOOK_URLS=[receiver.url],
        WEBHOOK_SECRET=TEST_SECRET,
        WEBHOOK_RETENTION_DAYS=7,
        # Only creations: the sweeps below end both sessions, and their ends are not the point.
        WEBHOOK_EVENTS=("session.created",),
    )
    client = app.test_client()
    create_session(client)
    dispatch(app)  # delivered
    receiver.script.status = 410
    create_session(client)
    dispatch(app)  # failed
    clock.advance(days=7, seconds=-1)
    with app.app_context():
        lifecycle.sweep()
    assert len(listed(client)["deliveries"]) == 2
    clock.advance(seconds=1)
    with app.app_context():
        lifecycle.sweep()
    assert [d["status"] for d in listed(client)["deliveries"]] == ["failed"]


# --- the CLI ----------------------------------------------------------------------------------


def test_the_cli_lists_retries_and_tests_endpoints(hooked, receiver) -> None:
    runner = hooked.test_cli_runner()
    session_id = create_session(hooked.test_client())
    table = runner.invoke(args=["webhooks", "list"])
    assert table.exit_code == 0 and "session.created" in table.output and "pending" in table.output
    as_json = runner.invoke(args=["webhooks", "list", "--json", "--session-id", session_id])
    [row] = json.loads(as_json.output)
    receiver.script.status = 410
    dispatch(hooked)
    retried = runner.invoke(args=["webhooks", "retry", row["id"]])
    assert retried.exit_code == 0 and row["id"] in retried.output
    missing = runner.invoke(args=["webhooks", "retry", "msg_nope"])
    assert missing.exit_code == 1 and "delivery_not_found" in missing.output
    before = database_state(hooked)
    receiver.script.status = 200
    sent = runner.invoke(args=["webhooks", "send-test"])
    assert sent.exit_code == 0, sent.output
    assert f"{receiver.url}: ok (HTTP 200)" in sent.output
    [test_event] = receiver.bodies("webhook.test")
    assert test_event["data"] == {"message": "A test event from SessionHub."}
    assert database_state(hooked) == before  # nothing written to the outbox


def test_send_test_says_which_endpoint_failed(make_app, receiver) -> None:
    down = "http://127.0.0.1:9/down"
    app = make_app(WEBHOOK_URLS=[receiver.url, down], WEBHOOK_SECRET=TEST_SECRET)
    result = app.test_cli_runner().invoke(args=["webhooks", "send-test"])
    assert result.exit_code == 1
    assert f"{receiver.url}: ok" in result.output and f"{down}: failed" in result.output
    assert "1 of 2 endpoints failed" in result.output


def test_send_test_without_endpoints_says_so(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["webhooks", "send-test"])
    assert result.exit_code == 1 and "WEBHOOK_URLS is empty" in result.output


# --- settings ---------------------------------------------------------------------------------

GOOD_SECRET = {"WEBHOOK_SECRET": TEST_SECRET}


def test_webhooks_are_off_by_default_with_the_designed_defaults() -> None:
    settings = load_config("development", {})
    assert settings["WEBHOOK_URLS"] == [] and settings["WEBHOOK_SECRET"] is None
    assert len(settings["WEBHOOK_EVENTS"]) == 5
    assert (
        settings["WEBHOOK_TIMEOUT_SECS"],
        settings["WEBHOOK_MAX_ATTEMPTS"],
        settings["WEBHOOK_RETENTION_DAYS"],
        settings["WEBHOOK_DOCUMENT_DEBOUNCE_SECS"],
    ) == (10, 8, 7, 5)


def test_urls_and_events_are_parsed() -> None:
    settings = load_config(
        "development",
        {
            "WEBHOOK_URLS": " http://127.0.0.1:8000/a , https://hooks.test/b ",
            "WEBHOOK_EVENTS": "session.ended, client.left",
            **GOOD_SECRET,
        },
    )
    assert settings["WEBHOOK_URLS"] == ["http://127.0.0.1:8000/a", "https://hooks.test/b"]
    assert settings["WEBHOOK_EVENTS"] == ("session.ended", "client.left")


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"WEBHOOK_URLS": "ftp://127.0.0.1/x", **GOOD_SECRET}, "WEBHOOK_URLS"),
        ({"WEBHOOK_URLS": "http:///nohost", **GOOD_SECRET}, "WEBHOOK_URLS"),
        ({"WEBHOOK_URLS": "http://127.0.0.1:8000/a"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_SECRET": "not-a-whsec"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_SECRET": "whsec_!!!"}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_SECRET": "whsec_c2hvcnQ="}, "WEBHOOK_SECRET"),
        ({"WEBHOOK_EVENTS": "session.paused"}, "WEBHOOK_EVENTS"),
        ({"WEBHOOK_TIMEOUT_SECS": "0"}, "WEBHOOK_TIMEOUT_SECS"),
        ({"WEBHOOK_MAX_ATTEMPTS": "many"}, "WEBHOOK_MAX_ATTEMPTS"),
    ],
)
def test_a_bad_webhook_setting_names_its_variable(environ: dict, named: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config("development", environ)
    assert [problem.split()[0] for problem in raised.value.problems] == [named]


# --- the loop -------------------------------------------------------------------------------


def test_the_dispatcher_sends_on_its_own_and_stops_when_told(hooked, receiver, clock) -> None:
    create_session(hooked.test_client())
    dispatcher = Dispatcher(hooked, sleep=lambda seconds: threading.Event().wait(0.01))
    loop = threading.Thread(target=dispatcher.run)
    loop.start()
    try:
        receiver.wait_for(lambda r: len(r.bodies()) == 1, timeout=10)
    finally:
        dispatcher.stop()
        loop.join(timeout=10)
    assert not loop.is_alive()
