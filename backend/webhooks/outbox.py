"""The webhook outbox: the one owner of `webhook_deliveries`.

Services call `record` (and `note_document_change`) inside the transaction of the change the
event reports, before they commit: the event row and the change commit together or not at
all, so a crash can neither lose an event nor report one that did not happen. One row per
endpoint, each with its own id (the `webhook-id`). With WEBHOOK_URLS empty, or an event left
out of WEBHOOK_EVENTS, nothing is written and nothing is queried.

Everything else about the rows is here too: the admin listing and retry, the numbers for
metrics, and the retention purge. Sending is the dispatcher's.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, insert, select

from .. import clock, cursors
from ..exceptions import AlreadyDelivered, DeliveryNotFound
from ..extensions import db
from ..models import WebhookDelivery
from . import events

log = logging.getLogger(__name__)

DELIVERIES = WebhookDelivery.__table__
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
DEBOUNCE_KEY = "sessionhub.webhooks.document_debounce"


def enabled(event_type: str) -> bool:
    config = current_app.config
    return bool(config["WEBHOOK_URLS"]) and event_type in config["WEBHOOK_EVENTS"]


DELIVERY_ID = re.compile(r"msg_[0-9a-f]{32}")


def new_delivery_id() -> str:
    """`msg_` and 32 hex digits: unique per row, and what receivers dedupe on."""
    return f"msg_{uuid.uuid4().hex}"


def record(
    event_type: str,
    data: dict[str, Any] | None,
    now: datetime,
    session_id: str | None,
    due: datetime | None = None,
) -> None:
    """Queue `event_type` for every endpoint in the caller's open transaction; the caller
    commits. `due` delays the first attempt (document.changed's debounce); `data` None leaves
    the body to be made at the first send."""
    if not enabled(event_type):
        return
    payload = None if data is None else encode(events.body(event_type, now, data))
    rows = [
        {
            "id": new_delivery_id(),
            "event_type": event_type,
            "session_id": session_id,
            "endpoint": endpoint,
            "payload": payload,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": due or now,
            "created_at": now,
        }
        for endpoint in current_app.config["WEBHOOK_URLS"]
    ]
    db.session.connection().execute(insert(DELIVERIES), rows)


def encode(body: dict[str, Any]) -> str:
    """The exact bytes that are signed and sent, fixed once, so every retry of a delivery
    sends the same body under the same webhook-id."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


# --- document.changed: debounced per session -------------------------------------------------


# A document.changed whose body is still to be made: a later change is covered by it. Once a
# dispatcher has claimed it (and filled in the version), the next change needs a row of its own.
_UNSENT_DOCUMENT_CHANGE = select(DELIVERIES.c.next_attempt_at).where(
    DELIVERIES.c.event_type == events.DOCUMENT_CHANGED,
    DELIVERIES.c.status == PENDING,
    DELIVERIES.c.payload.is_(None),
)
# Sessions this process remembers a pending document.changed for, at most; past it, the ones
# whose row is due are forgotten (they are asked about again at their next change).
DEBOUNCE_MEMORY = 10_000


def note_document_change(session_id: str, now: datetime) -> None:
    """A change committed in the caller's transaction: make sure one document.changed is
    pending for this session, due WEBHOOK_DOCUMENT_DEBOUNCE_SECS from the first change it
    covers. Its body is made at its first send, with the version current then.

    Each process remembers until when a row it knows of is pending, so a burst of edits costs
    one query per session per debounce window, not one per edit.
    """
    if not enabled(events.DOCUMENT_CHANGED):
        return
    known: dict[str, datetime] = current_app.extensions.setdefault(DEBOUNCE_KEY, {})
    if known.get(session_id, now) > now:
        return
    if len(known) >= DEBOUNCE_MEMORY:
        for stale in [key for key, due in known.items() if due <= now]:
            del known[stale]
    pending = (
        db.session.connection()
        .execute(_UNSENT_DOCUMENT_CHANGE.where(DELIVERIES.c.session_id == session_id).limit(1))
        .scalar()
    )
    if pending is not None:
        known[session_id] = pending
        return
    due = now + timedelta(seconds=current_app.config["WEBHOOK_DOCUMENT_DEBOUNCE_SECS"])
    record(events.DOCUMENT_CHANGED, None, now, session_id, due=due)
    known[session_id] = due


# --- admin: listing and retrying -------------------------------------------------------------


def list_deliveries(
    status: str | None = None,
    event_type: str | None = None,
    session_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[WebhookDelivery], str | None]:
    """One page of deliveries, newest first, filtered; the cursor names the last row."""
    query = select(WebhookDelivery)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if event_type is not None:
        query = query.where(WebhookDelivery.event_type == event_type)
    if session_id is not None:
        query = query.where(WebhookDelivery.session_id == session_id)
    if cursor is not None:
        query = query.where(cursors.after(cursor, WebhookDelivery.created_at, WebhookDelivery.id))
    query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    rows = list(db.session.scalars(query.limit(limit + 1)))
    page, more = rows[:limit], len(rows) > limit
    last = page[-1] if more else None
    return page, cursors.encode_cursor(last.created_at, last.id) if last else None


def get_delivery(delivery_id: str) -> WebhookDelivery:
    """The delivery with that id; anything not shaped like one of ours is simply not found
    (and never reaches the database, which may refuse its bytes)."""
    if not DELIVERY_ID.fullmatch(delivery_id):
        raise DeliveryNotFound(details={"delivery_id": delivery_id})
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise DeliveryNotFound(details={"delivery_id": delivery_id})
    return delivery


def retry(delivery_id: str) -> WebhookDelivery:
    """Send a pending or failed delivery again now: one more attempt, and if it fails, the
    usual schedule (a failed row past WEBHOOK_MAX_ATTEMPTS is failed again at once)."""
    delivery = get_delivery(delivery_id)
    if delivery.status == DELIVERED:
        raise AlreadyDelivered(details={"delivery_id": delivery.id})
    delivery.status = PENDING
    delivery.next_attempt_at = clock.now()
    db.session.commit()
    log.info("webhook delivery %s queued again by an admin", delivery.id)
    return delivery


# --- numbers and retention -------------------------------------------------------------------


def numbers(now: datetime) -> dict[str, Any]:
    """Deliveries by status and the age of the oldest pending one, for metrics."""
    counts = dict(
        db.session.execute(
            select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
        ).all()
    )
    oldest = db.session.scalar(
        select(func.min(WebhookDelivery.created_at)).where(WebhookDelivery.status == PENDING)
    )
    return {
        "pending": counts.get(PENDING, 0),
        "delivered": counts.get(DELIVERED, 0),
        "failed": counts.get(FAILED, 0),
        "oldest_pending_age_seconds": (
            round((now - oldest).total_seconds(), 3) if oldest is not None else None
        ),
    }


def purge_delivered(now: datetime) -> int:
    """Delete deliveries acknowledged more than WEBHOOK_RETENTION_DAYS ago (0 keeps them);
    failed ones stay until an admin has seen them. The caller commits."""
    days = current_app.config["WEBHOOK_RETENTION_DAYS"]
    if not days:
        return 0
    cutoff = now - timedelta(days=days)
    return db.session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.status == DELIVERED, WebhookDelivery.delivered_at <= cutoff)
        .execution_options(synchronize_session=False)
    ).rowcount
