"""Departures closed in batches: many sockets that go at once cost one transaction, and each
room hears one `presence` listing everyone who left it.

When 2,000 clients drop together (a network blip, a deploy, a closed laptop lid at a
conference), closing each membership in its own transaction cost a few milliseconds apiece,
and counts took seconds to reach 0 while every other client of the process waited. Here a
disconnect only queues its socket; one green thread closes what queued up during a short
window (DISCONNECT_BATCH_MS) in batches of at most BATCH_SIZE sockets, yielding to the event
loop between them. The queue is in memory only: should the process die with departures still
queued, their memberships are reclaimed with the instance, like every other membership it held.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from flask import Flask

from .. import presence
from ..extensions import db
from ..flush_window import FlushWindow

log = logging.getLogger(__name__)

BATCH_SIZE = 500  # sockets per transaction; SQLite binds each one as a parameter


class DepartureBatcher:
    """Queues (socket, reason) departures and closes them from one background task."""

    def __init__(
        self,
        app: Flask,
        window_secs: float,
        start_task: Callable[[Callable[[], None]], Any],
        sleep: Callable[[float], None],
    ) -> None:
        self.app = app
        self._sleep = sleep
        self._window = FlushWindow(window_secs, start_task, sleep, self.flush)
        self._lock = threading.Lock()  # green under eventlet's monkey patching
        self._pending: dict[str, str] = {}
        self._closing: set[str] = set()  # taken from the queue, not yet closed

    def add(self, sid: str, reason: str) -> None:
        """Queue one socket's departure; the first one of a window starts the flush."""
        with self._lock:
            self._pending[sid] = reason
        self._window.open()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def unclosed_sids(self) -> set[str]:
        """Sockets gone whose memberships this batcher has yet to close: the heartbeat's
        orphan check must leave them to it (their reason is known here, not there)."""
        with self._lock:
            return set(self._pending) | self._closing

    def flush(self) -> None:
        """Close everything queued so far, batch by batch, then announce it room by room."""
        with self._lock:
            queued, self._pending = self._pending, {}
            self._closing |= set(queued)
        try:
            self._close_all(queued)
        finally:
            with self._lock:
                self._closing -= set(queued)

    def _close_all(self, queued: dict[str, str]) -> None:
        by_reason: dict[str, list[str]] = defaultdict(list)
        for sid, reason in queued.items():
            by_reason[reason].append(sid)
        for reason, sids in by_reason.items():
            for start in range(0, len(sids), BATCH_SIZE):
                self._close(sids[start : start + BATCH_SIZE], reason)
                self._sleep(0)  # let every other client have the event loop between batches

    def _close(self, sids: list[str], reason: str) -> None:
        with self.app.app_context():
            try:
                changes = presence.disconnect_many(sids, reason)
            except Exception:
                # Usually the database is unreachable. The memberships stay open and are
                # reclaimed with this instance (heartbeat or restart).
                log.exception("could not close the memberships of %d departed sockets", len(sids))
                db.session.rollback()
                return
            finally:
                db.session.remove()
            for change in changes:
                try:
                    presence.announce(change)
                except Exception:
                    log.exception(
                        "could not announce departures from session=%s", change.session.id
                    )
