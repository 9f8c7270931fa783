"""The README's webhook documentation stays true to the code: its Python receiver accepts what
the dispatcher signs and refuses anything else, its Node receiver is the script the e2e tests
run, its example bodies have the fields the server sends, and its settings, headers and retry
schedule are the code's."""

from __future__ import annotations

import importlib.util
import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask

from backend.webhooks import dispatcher, events, outbox
from backend.webhooks.dispatcher import Dispatcher, signed_headers
from config import WEBHOOK_EVENT_TYPES, load_config
from tests.conftest import ADMIN
from tests.entry_points import ROOT, settings_names
from tests.helpers import SESSIONS, RecordingEnvironment, create_session, join
from tests.readme import README, fenced_blocks, table_rows
from tests.webhook_receiver import TEST_SECRET, WebhookReceiver

NODE_RECEIVER = ROOT / "tests/e2e/js/verify-webhook.mjs"
CONFIG_TABLE_HEADER = "| variable | default | meaning |"
HEADERS_TABLE_HEADER = "| header | value |"
OTHER_SECRET = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"  # 24 bytes of "A"
UNITS = {"s": 1, "min": 60, "h": 3600}


def prose() -> str:
    """The README with its line breaks and list indents folded into single spaces."""
    return re.sub(r"\s+", " ", README)


# --- the Python receiver ---------------------------------------------------------------------


@pytest.fixture()
def python_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The README's Python snippet saved as it says (receive_webhooks.py) and imported with
    WEBHOOK_SECRET set, as `flask --app receive_webhooks run` would."""
    (snippet,) = [block for block in fenced_blocks("python") if "standardwebhooks" in block]
    path = tmp_path / "receive_webhooks.py"
    path.write_text(snippet, encoding="utf-8")
    monkeypatch.setenv("WEBHOOK_SECRET", TEST_SECRET)
    spec = importlib.util.spec_from_file_location("receive_webhooks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module


def client_joined_payload() -> str:
    """A body as the outbox encodes it, with text outside ASCII (sent unescaped, as UTF-8)."""
    member = SimpleNamespace(client_id="c-1", user_id="u-42", client_name="Zoë", role="editor")
    session = SimpleNamespace(id="s-1", project_id="demo")
    data = events.client_changed(session, member, 1, None)
    return outbox.encode(events.body(events.CLIENT_JOINED, datetime.now(UTC), data))


def test_the_python_receiver_accepts_what_the_server_signs_once(python_receiver, capsys):
    client = python_receiver.app.test_client()
    payload = client_joined_payload()
    delivery_id = outbox.new_delivery_id()
    headers = signed_headers(TEST_SECRET, delivery_id, payload)

    first = client.post("/hooks", data=payload.encode(), headers=headers)
    assert first.status_code == 204, first.get_data(as_text=True)
    again = client.post("/hooks", data=payload.encode(), headers=headers)  # a redelivery
    assert again.status_code == 204
    printed = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in printed] == [{"id": delivery_id, **json.loads(payload)}]


@pytest.mark.parametrize(
    "forgery",
    ["tampered-body", "other-secret", "other-id", "garbage-signature", "no-headers"],
)
def test_the_python_receiver_refuses_what_the_server_did_not_sign(
    python_receiver, capsys, forgery: str
) -> None:
    client = python_receiver.app.test_client()
    payload = client_joined_payload()
    delivery_id = outbox.new_delivery_id()
    headers = signed_headers(TEST_SECRET, delivery_id, payload)
    body = payload.encode()
    if forgery == "tampered-body":
        body = payload.replace('"active_clients":1', '"active_clients":2').encode()
        assert body != payload.encode()
    elif forgery == "other-secret":
        headers = signed_headers(OTHER_SECRET, delivery_id, payload)
    elif forgery == "other-id":
        headers["webhook-id"] = outbox.new_delivery_id()
    elif forgery == "garbage-signature":
        headers["webhook-signature"] = "garbage"
    else:
        headers = {"Content-Type": "application/json"}

    answer = client.post("/hooks", data=body, headers=headers)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.get_data(as_text=True).startswith("refused: ")
    assert capsys.readouterr().out == ""


# --- the Node receiver -----------------------------------------------------------------------


def test_the_node_receiver_in_the_readme_is_the_tested_script() -> None:
    """tests/e2e/test_webhooks_node.py runs verify-webhook.mjs against a real server; the
    README shows exactly that file."""
    (block,) = fenced_blocks("node")
    assert block == NODE_RECEIVER.read_text(encoding="utf-8")


# --- the example bodies ----------------------------------------------------------------------


def readme_examples() -> dict[str, dict[str, Any]]:
    examples: dict[str, dict[str, Any]] = {}
    for block in fenced_blocks("json"):
        body = json.loads(block)
        assert body["type"] not in examples, f"two examples of {body['type']}"
        examples[body["type"]] = body
    return examples


def test_the_example_bodies_have_the_fields_the_server_sends(
    make_app, receiver: WebhookReceiver, connect_to, clock
) -> None:
    """Every event made by the real code paths and sent to a real receiver, compared with
    the README's example of its type: the same keys, in `data` too."""
    app: Flask = make_app(WEBHOOK_URLS=[receiver.url], WEBHOOK_SECRET=TEST_SECRET)
    client = app.test_client()
    session_id = create_session(client, title="Design review", ttl_seconds=7200)
    ada = connect_to(app, {"name": "Ada"})
    join(ada, session_id)
    op = {"type": "add_node", "node_id": "n1"}
    ada.emit("operation", {"session_id": session_id, "op": op}, callback=True)
    ada.emit("leave_session", {"session_id": session_id}, callback=True)
    clock.advance(seconds=5)
    client.delete(f"{SESSIONS}/{session_id}", headers=ADMIN)
    with app.app_context():
        assert Dispatcher(app, rng=random.Random(1)).dispatch_due() == 5
    sent = {body["type"]: body for body in receiver.bodies()}

    examples = readme_examples()
    assert set(examples) == set(sent) == set(WEBHOOK_EVENT_TYPES)
    for event_type, example in examples.items():
        assert list(example) == list(sent[event_type]) == ["type", "timestamp", "data"]
        assert set(example["data"]) == set(sent[event_type]["data"]), event_type
        assert example["data"]["session_id"] and example["data"]["project_id"]


# --- settings, headers and schedule ----------------------------------------------------------


def test_every_webhook_setting_is_in_env_example_and_the_readme_table() -> None:
    """With the defaults the README gives (test_readme_access checks every setting's name)."""
    environment = RecordingEnvironment()
    defaults = load_config("development", environment)
    webhook_settings = {name for name in environment.asked if name.startswith("WEBHOOK_")}
    assert webhook_settings == {
        "WEBHOOK_URLS",
        "WEBHOOK_SECRET",
        "WEBHOOK_EVENTS",
        "WEBHOOK_TIMEOUT_SECS",
        "WEBHOOK_MAX_ATTEMPTS",
        "WEBHOOK_RETENTION_DAYS",
        "WEBHOOK_DOCUMENT_DEBOUNCE_SECS",
    }
    assert webhook_settings <= settings_names(), "missing from .env.example"
    table = {row[0].strip("`"): row[1] for row in table_rows(CONFIG_TABLE_HEADER)}
    assert webhook_settings <= set(table), "missing from the README's configuration table"
    for name in webhook_settings:
        if isinstance(defaults[name], int):
            assert table[name] == f"`{defaults[name]}`", name
    assert defaults["WEBHOOK_URLS"] == [] and table["WEBHOOK_URLS"].startswith("none")


def test_the_headers_table_lists_what_the_server_sends() -> None:
    sent = signed_headers(TEST_SECRET, outbox.new_delivery_id(), "{}")
    documented = {row[0].strip("`"): row[1] for row in table_rows(HEADERS_TABLE_HEADER)}
    assert set(documented) == set(sent)
    assert documented["User-Agent"] == "`SessionHub-Webhooks/<version>`"
    assert sent["User-Agent"].startswith("SessionHub-Webhooks/")


def test_the_retry_schedule_and_limits_are_the_code_s() -> None:
    text = prose()
    schedule = re.search(r"is retried after ((?:\d+ (?:s|min|h), )+\d+ (?:s|min|h))", text)
    assert schedule is not None
    waits = [int(n) * UNITS[unit] for n, unit in re.findall(r"(\d+) (s|min|h)", schedule[1])]
    assert tuple(waits) == dispatcher.BACKOFF_SECS
    assert f"+-{round(dispatcher.JITTER * 100)}%" in text
    assert (
        f"(`WEBHOOK_TIMEOUT_SECS` + {dispatcher.LEASE_MARGIN_SECS} s for a URL's first row" in text
    )
    assert f"leases up to {dispatcher.CLAIM_BATCH} of them" in text
    assert f"clamped to 1 s to {dispatcher.RETRY_AFTER_MAX_SECS // 3600} h" in text
