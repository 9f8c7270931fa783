"""Hand-framed Engine.IO 4 / Socket.IO 5 clients for e2e tests: the packets python-socketio will
not send (reserved event names, JSON it cannot parse, oversized polling bodies), peers that go
silent on purpose, and chunked HTTP request bodies."""

from __future__ import annotations

import http.client
import json
import re
import select
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import requests
import websocket

from tests.e2e.server import ServerProcess

TIMEOUT = 10.0
# Engine.IO packet types (one digit in front of every frame).
PING, PONG, MESSAGE = "2", "3", "4"
# Engine.IO 4 polling bodies join packets with the record separator.
SEPARATOR = "\x1e"
_ACK = re.compile(r"43(\d+)(\[.*)", re.DOTALL)


def event_packet(event: str, *args: Any, ack_id: int | None = None) -> str:
    """`42<id>["event", ...args]`; json.dumps writes a lone surrogate as its `\\udxxx` escape."""
    return f"42{'' if ack_id is None else ack_id}{json.dumps([event, *args])}"


class RawSocket:
    """One Socket.IO connection over a hand-driven WebSocket (websocket-client)."""

    def __init__(self, server: ServerProcess, auth: dict[str, Any] | None = None) -> None:
        url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(url, timeout=TIMEOUT)
        self.events: list[tuple[str, Any]] = []  # (event, first argument), in arrival order
        try:
            opening = self.ws.recv()
            assert opening.startswith("0{"), opening
            self.ws.send("40" + ("" if auth is None else json.dumps(auth)))
            # `40{"sid": ...}` when accepted, `44{"message": ..., "data": ...}` when refused.
            self.connect_reply = self._next_message(TIMEOUT)
        except BaseException:
            self.close()
            raise

    @property
    def refusal(self) -> dict[str, Any] | None:
        """The connect_error the server answered with, None if it accepted the connection."""
        if self.connect_reply.startswith("44"):
            return json.loads(self.connect_reply[2:])
        return None

    def send(self, packet: str) -> None:
        self.ws.send(packet)

    def call(self, event: str, *args: Any, ack_id: int, timeout: float = TIMEOUT) -> Any:
        self.send(event_packet(event, *args, ack_id=ack_id))
        return self.ack(ack_id, timeout)

    def ack(self, ack_id: int, timeout: float = TIMEOUT) -> Any:
        """The first argument of the ack `ack_id` (None for an empty ack)."""
        acks = self.acks([ack_id], timeout)
        if ack_id not in acks:
            raise AssertionError(f"no ack {ack_id} within {timeout}s")
        return acks[ack_id]

    def acks(self, ack_ids: Iterable[int], timeout: float = TIMEOUT) -> dict[int, Any]:
        """ack id -> first argument of its ack, for those of `ack_ids` answered within
        `timeout` (bounded: the server's pings alone must not keep it waiting). Events that
        arrive meanwhile go to `events`."""
        wanted, answered = set(ack_ids), {}
        deadline = _Deadline(timeout)
        while wanted - answered.keys():
            try:
                message = self._next_message(deadline.left())
            except NoAnswer:
                break
            match = _ACK.fullmatch(message)
            if match and int(match.group(1)) in wanted:
                args = json.loads(match.group(2))
                answered[int(match.group(1))] = args[0] if args else None
            elif message.startswith("42"):
                event, *args = json.loads(message[2:])
                self.events.append((event, args[0] if args else None))
        return answered

    def _next_message(self, timeout: float) -> str:
        """The next Engine.IO message frame (`4...`: a Socket.IO packet); pings are answered."""
        deadline = _Deadline(timeout)
        while True:
            self.ws.settimeout(deadline.left())
            try:
                frame = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                raise NoAnswer(f"nothing from the server within {timeout}s") from None
            if frame == PING:
                self.ws.send(PONG)
            elif frame.startswith(MESSAGE):
                return frame

    def next_frame(self) -> str:
        """The next Engine.IO frame as it is (for a caller that saw the socket readable)."""
        self.ws.settimeout(TIMEOUT)
        return self.ws.recv()

    def fileno(self) -> int:
        return self.ws.sock.fileno()

    def close(self) -> None:
        """Drop the TCP connection at once (the server may have closed its side already)."""
        if self.ws.sock is not None:
            try:
                self.ws.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.ws.close()


class PingAnswerer:
    """Keeps many idle raw sockets alive on one thread by answering the server's pings, until
    `fall_silent()`: then they stay connected and answer nothing, as peers whose processes
    froze at one moment do (not one of them reads a byte again)."""

    def __init__(self) -> None:
        self._sockets: list[RawSocket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def add(self, raw: RawSocket) -> None:
        """Hand over a socket the caller no longer reads itself."""
        with self._lock:
            self._sockets.append(raw)

    def fall_silent(self, last_packet: str) -> None:
        """Silence every socket so that the server's ping deadlines for all of them fall due
        at the same moment, wherever each peer was in its ping cycle:

        hold each socket's next ping and answer them all at once (engine.io then pings them
        all again one interval later, together); wait for that ping on every socket and leave
        it unanswered, sending `last_packet` instead as each peer's last act. The connections
        stay open and their read timeouts fresh, so engine.io's ping check finds them all
        overdue together."""
        self.stop()
        self._await_pings()
        for raw in self._sockets:
            raw.send(PONG)
        self._await_pings()
        for raw in self._sockets:
            raw.send(last_packet)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive()

    def _await_pings(self) -> None:
        """Read every socket until each has received a ping; answer none (bounded)."""
        waiting = set(self._sockets)
        deadline = _Deadline(TIMEOUT)
        while waiting:
            readable, _, _ = select.select(list(waiting), [], [], deadline.left())
            for raw in readable:
                if raw.next_frame() == PING:
                    waiting.discard(raw)

    def _run(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                sockets = list(self._sockets)
            if not sockets:
                self._stopped.wait(0.05)
                continue
            readable, _, _ = select.select(sockets, [], [], 0.05)
            for raw in readable:
                try:
                    if raw.next_frame() == PING:
                        raw.send(PONG)
                except (websocket.WebSocketException, OSError):
                    # The server closed it: nothing left to keep alive; the test's counts say
                    # what that means.
                    with self._lock:
                        self._sockets.remove(raw)


class PollingSocket:
    """A Socket.IO connection over hand-driven Engine.IO long-polling requests."""

    def __init__(self, server: ServerProcess) -> None:
        self.base = f"{server.url}/socket.io/?EIO=4&transport=polling"
        self.http = requests.Session()
        try:
            opening = self.http.get(self.base, timeout=TIMEOUT)
            assert opening.status_code == 200 and opening.text.startswith("0{"), opening.text
            self.sid = json.loads(opening.text[1:])["sid"]
            accepted = self.post(b"40", TIMEOUT)
            assert accepted.status_code == 200, accepted.text
            # The connect answer; after it no GET is outstanding.
            packets = self.http.get(self.url, timeout=TIMEOUT).text.split(SEPARATOR)
            assert any(packet.startswith("40{") for packet in packets), packets
        except BaseException:
            self.close()
            raise

    @property
    def url(self) -> str:
        return f"{self.base}&sid={self.sid}"

    def post(self, body: bytes, timeout: float) -> requests.Response:
        return self.http.post(self.url, data=body, timeout=timeout)

    def close(self) -> None:
        self.http.close()


def post_chunked(
    server: ServerProcess, path: str, chunks: Iterable[bytes], headers: dict[str, str]
) -> tuple[int, bytes]:
    """POST `chunks` with `Transfer-Encoding: chunked` and no Content-Length; (status, body).

    The body is sent from a second thread while this one reads the answer, so a server that
    answers (413) before the body ends, and then closes, is still heard."""
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", "Connection: close"]
    lines += ["Content-Type: application/json", "Transfer-Encoding: chunked"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    sender = threading.Thread(target=_send_chunks, args=(connection, head, chunks), daemon=True)
    sender.start()
    response = http.client.HTTPResponse(connection)
    try:
        response.begin()
        return response.status, response.read()
    finally:
        response.close()
        try:
            connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sender.join(TIMEOUT)
        connection.close()


def _send_chunks(connection: socket.socket, head: bytes, chunks: Iterable[bytes]) -> None:
    try:
        connection.sendall(head)
        for chunk in chunks:
            connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        connection.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server answered and closed before the body ended: the answer is what counts


def repeated(chunk: bytes, total: int) -> Iterator[bytes]:
    """`total` bytes as chunks of `chunk` (the last one cut short)."""
    while total > 0:
        yield chunk[:total]
        total -= len(chunk)


class NoAnswer(AssertionError):
    """The server sent nothing we waited for before the deadline."""


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; NoAnswer once there are none."""
        remaining = self._end - time.monotonic()
        if remaining <= 0:
            raise NoAnswer("the deadline passed")
        return remaining
