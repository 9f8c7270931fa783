"""A real webhook receiver on a loopback port, for unit and e2e tests.

It verifies every request with `standardwebhooks.Webhook(secret).verify`, as the README tells
customers to, keeps what it received, and answers what the test scripts: a status per request
(200 by default), a Retry-After, a hang, or a closed port while `down`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook

# A whsec_ secret for tests only (24 random bytes, base64).
TEST_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Received:
    """One request as it arrived, and whether its signature verified."""

    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Script:
    """What the receiver answers: `answers` are used up in order, then `status` for good."""

    status: int = 200
    answers: list[int] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    hang_secs: float = 0.0


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A sender that gave up on a hanging answer closed the connection: expected here."""


class WebhookReceiver:
    """`with WebhookReceiver() as receiver:` serves on 127.0.0.1:`receiver.port`."""

    def __init__(self, secret: str = TEST_SECRET, path: str = "/hooks", port: int = 0) -> None:
        """`port`: a given one (a test may send to it while nothing listens, then start the
        receiver there), else a free one."""
        self.secret = secret
        self.path = path
        self.script = Script()
        self.received: list[Received] = []
        # (monotonic time, webhook-id) of each request as it arrives, before any scripted hang
        # (`received` has a request only once it is answered).
        self.arrivals: list[tuple[float, str | None]] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", port), self._handler())
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def __enter__(self) -> WebhookReceiver:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def verified(self) -> list[Received]:
        with self._lock:
            return [request for request in self.received if request.verified]

    def bodies(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The verified, acknowledged (2xx) bodies, optionally of one event type."""
        return [
            request.json
            for request in self.verified()
            if 200 <= request.status < 300
            and (event_type is None or request.json["type"] == event_type)
        ]

    def wait_for(self, predicate: Callable[[WebhookReceiver], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"the receiver did not get what was expected: {self.received}")
            time.sleep(0.05)

    def _answer(self) -> Script:
        with self._lock:
            script = self.script
            status = script.answers.pop(0) if script.answers else script.status
            return Script(status=status, headers=script.headers, hang_secs=script.hang_secs)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                with receiver._lock:
                    receiver.arrivals.append((time.monotonic(), self.headers.get("webhook-id")))
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {key.lower(): value for key, value in self.headers.items()}
                try:
                    Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except Exception:
                    verified = False
                answer = receiver._answer()
                if answer.hang_secs:
                    time.sleep(answer.hang_secs)
                with receiver._lock:
                    receiver.received.append(Received(headers, body, verified, answer.status))
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler
