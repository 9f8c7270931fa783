"""The README's Node webhook receiver, run as a customer would run it, against a real server.

tests/e2e/js/verify-webhook.mjs is the README's ```node block byte for byte
(tests/unit/test_readme_webhooks.py): a receiver written from the README alone verifies and
receives every event, handles a redelivered webhook-id once, and refuses a forged request.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from backend.webhooks import outbox
from backend.webhooks.dispatcher import signed_headers
from tests.e2e.conftest import ADMIN, JS_DIR, SQLITE_ONLY, create_session, wait_for
from tests.e2e.server import ServerProcess, free_port
from tests.webhook_receiver import TEST_SECRET

# Generous: the dispatcher polls once a second, and a CI run may share the machine.
EVENT_TIMEOUT = 60.0
OTHER_SECRET = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"


class NodeReceiver:
    """`node verify-webhook.mjs` on a free loopback port; its stdout lines kept as they come."""

    def __init__(self, node: Path) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [str(node), "verify-webhook.mjs"],
            cwd=JS_DIR,
            env={
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "WEBHOOK_SECRET": TEST_SECRET,
                "PORT": str(self.port),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.printed: list[str] = []
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.lines.put)),
            threading.Thread(target=self._read, args=(self.process.stderr, self.errors.append)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    @staticmethod
    def _read(stream: Any, keep: Callable[[str], None]) -> None:
        for line in stream:
            keep(line.rstrip("\n"))

    def wait_for(self, done: Callable[[list[str]], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done(self.printed):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                raise AssertionError(
                    f"node printed {self.printed}; stderr {self.errors}; "
                    f"exit status {self.process.poll()}"
                )
            try:
                self.printed.append(self.lines.get(timeout=min(remaining, 0.5)))
            except queue.Empty:
                pass

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.printed if line.startswith("{")]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # by its pid: only the process this test started
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        for reader in self._readers:
            reader.join(10)  # they end at the pipes' end, which came with the exit
        self.process.stdout.close()
        self.process.stderr.close()


@pytest.fixture()
def node_receiver(node_client: Path) -> Iterator[NodeReceiver]:
    receiver = NodeReceiver(node_client)
    try:
        listening = f"listening on http://127.0.0.1:{receiver.port}/"
        receiver.wait_for(lambda printed: listening in printed, EVENT_TIMEOUT)
        yield receiver
    finally:
        receiver.stop()


def count(events: list[dict[str, Any]], event_type: str) -> int:
    return sum(event["type"] == event_type for event in events)


def deliveries(server: ServerProcess) -> list[dict[str, Any]]:
    response = requests.get(f"{server.api}/webhooks/deliveries", headers=ADMIN, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


# Each event of the walk below, and how many of it: Ada leaves, Bob is in it when it ends.
EXPECTED = {
    "session.created": 1,
    "client.joined": 2,
    "document.changed": 1,
    "client.left": 2,
    "session.ended": 1,
}


@SQLITE_ONLY
def test_the_readme_node_receiver_verifies_and_receives_every_event(
    start_server, node_receiver: NodeReceiver, sio_clients
) -> None:
    server = start_server(
        WEBHOOK_URLS=node_receiver.url,
        WEBHOOK_SECRET=TEST_SECRET,
        WEBHOOK_DOCUMENT_DEBOUNCE_SECS="1",
    )
    session_id = create_session(server, title="Webhooks")
    ada = sio_clients(server.url, name="Ada")
    bob = sio_clients(server.url, name="Bob")
    for client in (ada, bob):
        assert client.call("join_session", {"session_id": session_id}, timeout=10)["ok"]
    op = {"type": "add_node", "node_id": "n1", "props": {"x": 1}}
    assert ada.call("operation", {"session_id": session_id, "op": op}, timeout=10)["ok"]
    assert ada.call("leave_session", {"session_id": session_id}, timeout=10)["ok"]
    # The document.changed goes out a debounce after the change, before the session ends.
    node_receiver.wait_for(lambda _: count(node_receiver.events(), "document.changed") == 1, 30)
    ended = requests.delete(f"{server.api}/sessions/{session_id}", headers=ADMIN, timeout=5)
    assert ended.status_code == 200, ended.text

    node_receiver.wait_for(
        lambda _: all(count(node_receiver.events(), kind) >= n for kind, n in EXPECTED.items()),
        EVENT_TIMEOUT,
    )
    received = node_receiver.events()
    assert {kind: count(received, kind) for kind in EXPECTED} == EXPECTED
    assert node_receiver.errors == []  # nothing the server sent was refused
    assert {event["data"]["session_id"] for event in received} == {session_id}
    by_type = {event["type"]: event for event in received}
    assert by_type["session.created"]["data"]["title"] == "Webhooks"
    assert by_type["document.changed"]["data"]["version"] == 1
    assert by_type["session.ended"]["data"]["reason"] == "ended_by_admin"
    left = {e["data"]["name"]: e["data"]["reason"] for e in received if e["type"] == "client.left"}
    assert left == {"Ada": "left", "Bob": "session_ended"}

    # Every event printed is a delivery the server recorded as delivered, under its id.
    wait_for(
        lambda: {d["status"] for d in deliveries(server)} == {"delivered"},
        EVENT_TIMEOUT,
        "the server did not record every delivery as delivered",
    )
    recorded = {d["id"]: d["type"] for d in deliveries(server)}
    assert recorded == {event["id"]: event["type"] for event in received}


def test_the_readme_node_receiver_handles_a_redelivery_once_and_refuses_forgeries(
    node_receiver: NodeReceiver,
) -> None:
    """Signed as the dispatcher signs (signed_headers): a webhook-id that comes again is
    acknowledged and not handled again; a body or signature the secret did not make is 400."""
    payload = outbox.encode(
        {"type": "webhook.test", "timestamp": "2026-01-01T00:00:00+00:00", "data": {"n": 1}}
    )
    first_id = outbox.new_delivery_id()

    def post(body: str, headers: dict[str, str]) -> int:
        return requests.post(
            node_receiver.url, data=body.encode(), headers=headers, timeout=10
        ).status_code

    assert post(payload, signed_headers(TEST_SECRET, first_id, payload)) == 204
    assert post(payload, signed_headers(TEST_SECRET, first_id, payload)) == 204  # again
    tampered = payload.replace('"n":1', '"n":2')
    assert post(tampered, signed_headers(TEST_SECRET, first_id, payload)) == 400
    assert post(payload, signed_headers(OTHER_SECRET, outbox.new_delivery_id(), payload)) == 400
    assert post(payload, {"Content-Type": "application/json"}) == 400
    last_id = outbox.new_delivery_id()
    assert post(payload, signed_headers(TEST_SECRET, last_id, payload)) == 204

    node_receiver.wait_for(lambda _: any(e["id"] == last_id for e in node_receiver.events()), 30)
    assert [event["id"] for event in node_receiver.events()] == [first_id, last_id]
    assert node_receiver.events()[0] == {"id": first_id, **json.loads(payload)}
    wait_for(lambda: len(node_receiver.errors) == 3, 10, "node did not report each refusal")
    assert all(line.startswith("refused: ") for line in node_receiver.errors)
