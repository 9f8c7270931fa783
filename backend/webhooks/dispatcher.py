"""Sending the outbox: claim due rows, post them signed, record what the receiver said.

Every serving process runs one dispatcher as a background task, never inside a socket handler,
so a slow or dead receiver delays no client. A claim moves the rows' `next_attempt_at` past the
send's timeout (a lease) in its own short transaction, with `FOR UPDATE SKIP LOCKED` on
PostgreSQL, so two processes never send the same row at once; a process killed mid-send leaves
its rows to be claimed again when the lease runs out (delivery is at least once, and receivers
dedupe on `webhook-id`). SQLite's BEGIN IMMEDIATE makes the claim just as exclusive.

A 2xx marks the row delivered; 410 Gone fails it at once; anything else (another status, a
timeout, a refused connection) schedules the next attempt on DESIGN section 11's jittered
backoff, or at the receiver's Retry-After, until WEBHOOK_MAX_ATTEMPTS fail it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import Flask, current_app
from sqlalchemy import select, update
from standardwebhooks import Webhook

from .. import clock
from ..database import begin_write
from ..extensions import db
from ..models import Session
from ..telemetry import WEBHOOK_DELIVERIES
from ..version import VERSION
from . import events
from .outbox import DELIVERED, DELIVERIES, FAILED, PENDING, encode

log = logging.getLogger(__name__)

EXTENSION_KEY = "sessionhub.webhooks.dispatcher"
USER_AGENT = f"SessionHub-Webhooks/{VERSION}"
# Seconds after attempt 1, 2, ... before the next one (DESIGN section 11); the last repeats.
BACKOFF_SECS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
JITTER = 0.2  # each wait is drawn from +-20% of the schedule's, so retries do not stampede
RETRY_AFTER_MAX_SECS = 24 * 3600
LEASE_MARGIN_SECS = 30  # a claimed row stays claimed this long past the send's timeout
CLAIM_BATCH = 20
POLL_SECS = 1.0
ERROR_BODY_CHARS = 200


@dataclass(frozen=True)
class Claimed:
    """A row this process holds the lease of, as it will be sent."""

    id: str
    event_type: str
    endpoint: str
    payload: str
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: the HTTP status if any, and the error to record."""

    status: int | None
    error: str | None
    retry_after: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signed_headers(secret: str, delivery_id: str, payload: str) -> dict[str, str]:
    """The Standard Webhooks headers. The timestamp is the wall clock at sending, not the
    app's clock: receivers refuse signatures more than five minutes from their own time."""
    now = datetime.fromtimestamp(int(time.time()), UTC)
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(delivery_id, now, payload),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


def post(endpoint: str, secret: str, delivery_id: str, payload: str, timeout: float) -> Outcome:
    """One signed POST; never raises for what the network or the receiver does."""
    headers = signed_headers(secret, delivery_id, payload)
    try:
        with requests.post(
            endpoint,
            data=payload.encode(),
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            if 200 <= response.status_code < 300:
                return Outcome(response.status_code, None)
            text = response.raw.read(ERROR_BODY_CHARS, decode_content=True) or b""
            error = f"HTTP {response.status_code}: {text.decode(errors='replace')}".strip()
            return Outcome(response.status_code, error[:500], _retry_after(response))
    except requests.Timeout:
        return Outcome(None, f"no answer within {timeout:g} s")
    except requests.RequestException as error:
        return Outcome(None, f"{type(error).__name__}: {error}"[:500])


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date), within [1 s, 24 h]."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 1.0), RETRY_AFTER_MAX_SECS)


class Dispatcher:
    """The sending loop of one process; `dispatch_due` is one round, for tests and the CLI."""

    def __init__(
        self,
        app: Flask,
        sleep: Callable[[float], Any] = time.sleep,
        rng: random.Random | None = None,
        send: Callable[..., Outcome] = post,
        spawn: Callable[..., Any] | None = None,
    ) -> None:
        """`sleep` and `spawn` (start a task running f(*args), with a `join()`) are the async
        mode's: socketio.sleep and socketio.start_background_task in a server."""
        self.app = app
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.send = send
        self.spawn = spawn or _start_thread
        self.stopping = False
        # Endpoints with a lane still sending: their next rows wait for it.
        self.busy: set[str] = set()

    def run(self) -> None:
        """Until `stop`: start sending what is due, then wait a second when nothing new was."""
        shown = ", ".join(endpoint_for_logs(url) for url in self.app.config["WEBHOOK_URLS"])
        log.info("webhook dispatcher started: %s", shown)
        while not self.stopping:
            started = 0
            with self.app.app_context():
                try:
                    started = self.dispatch_due(wait=False)
                except Exception:
                    log.exception("webhook dispatcher round failed")
                    db.session.rollback()
                finally:
                    db.session.remove()
            if not started and not self.stopping:
                self.sleep(POLL_SECS)
        log.info("webhook dispatcher stopped")

    def stop(self) -> None:
        """Start no more sends; rows claimed and not sent are sent again once their lease runs
        out, by whichever process claims them."""
        self.stopping = True

    def dispatch_due(self, wait: bool = True) -> int:
        """Claim the rows due now for every endpoint not already being sent to, and send them:
        each endpoint's rows one after another in a lane of its own, the lanes side by side,
        so a hanging receiver holds up only its own deliveries. `wait`: return once every lane
        is done (tests, the CLI) rather than at once (the loop). How many rows were claimed."""
        claimed = claim_due(clock.now(), skip_endpoints=set(self.busy))
        lanes: dict[str, list[Claimed]] = {}
        for row in claimed:
            lanes.setdefault(row.endpoint, []).append(row)
        tasks = []
        for endpoint, rows in lanes.items():
            self.busy.add(endpoint)
            tasks.append(self.spawn(self._send_lane_in_context, endpoint, rows))
        if wait:
            for task in tasks:
                task.join()
        return len(claimed)

    def _send_lane_in_context(self, endpoint: str, rows: list[Claimed]) -> None:
        try:
            with self.app.app_context():
                try:
                    self._send_lane(rows)
                except Exception:
                    log.exception("webhook deliveries to %s failed", endpoint_for_logs(endpoint))
                    db.session.rollback()
                finally:
                    db.session.remove()
        finally:
            self.busy.discard(endpoint)

    def _send_lane(self, rows: list[Claimed]) -> None:
        config = current_app.config
        for row in rows:
            if self.stopping:
                return
            outcome = self.send(
                row.endpoint,
                config["WEBHOOK_SECRET"],
                row.id,
                row.payload,
                config["WEBHOOK_TIMEOUT_SECS"],
            )
            self.record(row, outcome)

    def record(self, row: Claimed, outcome: Outcome) -> None:
        now = clock.now()
        attempts = row.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_status": outcome.status,
            "last_error": outcome.error,
        }
        if outcome.delivered:
            values.update(status=DELIVERED, delivered_at=now, next_attempt_at=None)
            result = "delivered"
        elif outcome.status == 410 or attempts >= current_app.config["WEBHOOK_MAX_ATTEMPTS"]:
            values.update(status=FAILED, next_attempt_at=None)
            result = "failed"
        else:
            values["next_attempt_at"] = now + timedelta(seconds=self.wait(attempts, outcome))
            result = "retry"
        # Still pending: had this lease run out and another process delivered the row in the
        # meantime, its outcome stands.
        db.session.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == row.id, DELIVERIES.c.status == PENDING)
            .values(**values)
        )
        db.session.commit()
        WEBHOOK_DELIVERIES.labels(event=row.event_type, outcome=result).inc()
        log_at = logging.INFO if result == "delivered" else logging.WARNING
        log.log(
            log_at,
            "webhook %s %s to %s: %s (attempt %d%s)",
            row.id,
            row.event_type,
            endpoint_for_logs(row.endpoint),
            result,
            attempts,
            f", {outcome.error}" if outcome.error else "",
        )

    def wait(self, attempts: int, outcome: Outcome) -> float:
        """Seconds until the next attempt: the receiver's Retry-After, else the schedule's
        wait after this many attempts, jittered."""
        if outcome.retry_after is not None:
            return outcome.retry_after
        base = BACKOFF_SECS[min(attempts, len(BACKOFF_SECS)) - 1]
        return base * self.rng.uniform(1 - JITTER, 1 + JITTER)


def endpoint_for_logs(url: str) -> str:
    """The endpoint without what may be a credential (user info, query, fragment)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _start_thread(target: Callable[..., Any], *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def claim_due(now: datetime, skip_endpoints: set[str] | None = None) -> list[Claimed]:
    """Lease up to CLAIM_BATCH due rows to this process and return them, bodies filled in;
    none for `skip_endpoints` (this process is still sending to them).

    A cheap read first: most rounds find nothing due and take no write lock at all.
    """
    due = (DELIVERIES.c.status == PENDING) & (DELIVERIES.c.next_attempt_at <= now)
    if skip_endpoints:
        due = due & DELIVERIES.c.endpoint.not_in(skip_endpoints)
    if db.session.execute(select(DELIVERIES.c.id).where(due).limit(1)).first() is None:
        db.session.rollback()
        return []
    begin_write()
    query = select(DELIVERIES).where(due).order_by(DELIVERIES.c.next_attempt_at)
    query = query.limit(CLAIM_BATCH)
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = db.session.execute(query).all()
    timeout = current_app.config["WEBHOOK_TIMEOUT_SECS"]
    claimed = []
    place: dict[str, int] = {}
    for row in rows:
        # Each endpoint's rows go one after another: the n-th may wait n timeouts for its turn.
        place[row.endpoint] = place.get(row.endpoint, 0) + 1
        lease = now + timedelta(seconds=place[row.endpoint] * timeout + LEASE_MARGIN_SECS)
        values: dict[str, Any] = {"next_attempt_at": lease}
        if row.payload is None:  # document.changed: the version current at its first send
            values["payload"] = _document_changed_body(row.session_id, now)
        db.session.execute(update(DELIVERIES).where(DELIVERIES.c.id == row.id).values(**values))
        payload = values.get("payload", row.payload)
        claimed.append(Claimed(row.id, row.event_type, row.endpoint, payload, row.attempts))
    db.session.commit()
    return claimed


def _document_changed_body(session_id: str, now: datetime) -> str:
    row = db.session.execute(
        select(Session.project_id, Session.version).where(Session.id == session_id)
    ).first()
    project_id, version = row if row is not None else (None, None)  # purged since
    data = events.document_changed(session_id, project_id, version)
    return encode(events.body(events.DOCUMENT_CHANGED, now, data))
