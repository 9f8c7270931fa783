"""Database tables (DESIGN section 3): the only source of truth for sessions and counts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    String,
    TypeDecorator,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db

# The reason the TTL rule gives: the sweep records it, and refusals name it before the sweep.
TTL_EXPIRED = "ttl_expired"
END_REASONS = (
    "idle_timeout",
    "never_joined",
    TTL_EXPIRED,
    "ended_by_admin",
    "admin_cleanup",
    "server_shutdown",
)
# Reasons counted by `total_cleaned`: the ones where the server, not a person, ended the session
# for being unused, plus an admin's explicit sweep.
CLEANED_REASONS = ("idle_timeout", "never_joined", TTL_EXPIRED, "admin_cleanup")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on every backend.

    SQLite has no time zones and hands back naive values; storing naive UTC there and tagging
    it on the way out keeps comparisons and ISO output identical to PostgreSQL.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def ttl_deadline(created_at: datetime, ttl_seconds: int | None) -> datetime | None:
    return None if ttl_seconds is None else created_at + timedelta(seconds=ttl_seconds)


def is_past_ttl(created_at: datetime, ttl_seconds: int | None, now: datetime) -> bool:
    """The TTL rule (DESIGN section 6), the one place it is written: at or past the deadline."""
    deadline = ttl_deadline(created_at, ttl_seconds)
    return deadline is not None and now >= deadline


def new_uuid() -> str:
    return str(uuid.uuid4())


def parse_session_id(session_id: object) -> str | None:
    """The canonical id, or None unless this is a UUID4 written the way we issue them.

    uuid.UUID(..., version=4) would overwrite the version bits rather than check them, and
    UUID() also accepts braces, URNs and bare hex: none of those may reach a session.
    """
    if not isinstance(session_id, str):
        return None
    try:
        parsed = uuid.UUID(session_id)
    except ValueError:
        return None
    canonical = str(parsed)
    if parsed.version != 4 or canonical != session_id.lower():
        return None
    return canonical


class Session(db.Model):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(128), index=True)
    title: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_activity: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(32))
    active_clients: Mapped[int] = mapped_column(default=0)
    peak_clients: Mapped[int] = mapped_column(default=0)
    first_joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ttl_seconds: Mapped[int | None] = mapped_column()
    version: Mapped[int] = mapped_column(default=0)
    pinned: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        # is_active leads, so this also serves every "active sessions" filter of the sweep.
        # The list query: filter by status, order by (last_activity, id) for the keyset cursor.
        Index("ix_sessions_status_activity", "is_active", "last_activity", "id"),
        Index("ix_sessions_project_status_activity", "project_id", "is_active", "last_activity"),
        # The retention purge scans ended sessions by age.
        Index("ix_sessions_ended_at", "ended_at"),
        # The metrics read the active sessions' count and ages from this index alone: oldest
        # and newest are seeks, the rest one pass over narrow entries, never a table row.
        Index("ix_sessions_status_created", "is_active", "created_at"),
        # The sweep's never-joined rule reads only sessions nobody ever joined. Partial, so the
        # metrics' planner cannot prefer it, and ending a joined session never touches it.
        Index(
            "ix_sessions_never_joined",
            "is_active",
            "created_at",
            sqlite_where=text("first_joined_at IS NULL"),
            postgresql_where=text("first_joined_at IS NULL"),
        ),
        # total_cleaned counts by end reason without reading every retained row.
        Index("ix_sessions_end_reason", "end_reason"),
        # The TTL rule reads the sessions that have one; is_active is left out so ending a
        # session (every sweep's write) never has to rewrite this entry.
        Index("ix_sessions_ttl", "ttl_seconds"),
    )

    @property
    def expires_at(self) -> datetime | None:
        return ttl_deadline(self.created_at, self.ttl_seconds)

    def is_expired(self, now: datetime) -> bool:
        """Past its TTL: refused even before the sweep has ended it (DESIGN section 5)."""
        return is_past_ttl(self.created_at, self.ttl_seconds, now)

    def has_ended(self, now: datetime) -> bool:
        """Ended, or past its TTL: joins and edits get `session_ended` either way."""
        return not self.is_active or self.is_expired(now)

    def end_reason_at(self, now: datetime) -> str | None:
        """Why it has ended by `now`: the recorded reason, or `ttl_expired` past its TTL before
        the sweep has ended it; None while it is active."""
        if not self.is_active:
            return self.end_reason
        return TTL_EXPIRED if self.is_expired(now) else None

    def duration_seconds(self, now: datetime) -> float:
        end = self.ended_at or now
        return max(0.0, (end - self.created_at).total_seconds())


class Instance(db.Model):
    """A running server process; a stale heartbeat is how a crashed worker is found.

    Heartbeat times are the database's clock, never the process's. `alive_since` is when this
    process's current unbroken run of heartbeats began: one that just came back from a gap (a
    database outage, a stall) judges no peer until it has been alive a whole dead-after window.
    `host` and `pid` tell a process's own earlier life from another live process of that name.
    """

    __tablename__ = "instances"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), index=True)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    alive_since: Mapped[datetime] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# Join token roles (DESIGN section 10): a viewer reads and is present, an editor also writes.
EDITOR, VIEWER = "editor", "viewer"
ROLES = (EDITOR, VIEWER)
NAME_MAX = 64  # a member's display name
USER_ID_MAX = 128  # the user's id in the customer's app


class Membership(db.Model):
    """One socket in one session; open rows (left_at IS NULL) are the client count."""

    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    sid: Mapped[str] = mapped_column(String(64), index=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    instance_id: Mapped[str | None] = mapped_column(
        ForeignKey("instances.id", ondelete="SET NULL"), index=True
    )
    client_name: Mapped[str | None] = mapped_column(String(NAME_MAX))
    device_id: Mapped[str | None] = mapped_column(String(36))
    # From the join token: the app's user id (never a socket id) and what the member may do.
    user_id: Mapped[str | None] = mapped_column(String(USER_ID_MAX))
    role: Mapped[str] = mapped_column(String(16), default=EDITOR, server_default=EDITOR)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    left_reason: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        Index("ix_memberships_session_open", "session_id", "left_at"),
        # connected_clients counts open rows (left_at IS NULL) without scanning the ledger.
        Index("ix_memberships_left_at", "left_at"),
    )


class DocumentNode(db.Model):
    __tablename__ = "document_nodes"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    props: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Operation(db.Model):
    """One entry of a session's document log, in a total order by (session_id, version).

    `kind` is `op` for a client's change and `undo`/`redo` for history moves; `state` of an
    `op` row is `applied`, `undone` (on the redo stack) or `discarded` (a newer op cleared it).
    """

    __tablename__ = "operations"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(8), default="op")
    state: Mapped[str] = mapped_column(String(10), default="applied")
    op: Mapped[dict[str, Any]] = mapped_column(JSON)
    inverse: Mapped[dict[str, Any]] = mapped_column(JSON)
    client_id: Mapped[str | None] = mapped_column(String(36))
    client_name: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_operations_history", "session_id", "kind", "state", "version"),)


class SweepSlot(db.Model):
    """A claim on one scheduler interval: the first process to insert the slot sweeps it, so N
    processes sweep once per interval, not N times."""

    __tablename__ = "sweep_slots"

    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    instance_id: Mapped[str] = mapped_column(String(36))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SweepRun(db.Model):
    """The outcome of each sweep, kept in the database so every process reports the same."""

    __tablename__ = "sweep_runs"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    trigger: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    duration_ms: Mapped[float] = mapped_column()
    ended_count: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(500))


DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookDelivery(db.Model):
    """One event for one endpoint: the transactional outbox (DESIGN section 11).

    Written in the transaction of the change it reports, so an event exists exactly when its
    change committed; the dispatcher sends it from here, at least once. `id` is the
    `webhook-id` receivers dedupe on. No foreign key to sessions: a delivery outlives the
    session's purge, and `session_id` is only there to filter by.
    """

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(32))
    session_id: Mapped[str | None] = mapped_column(String(36), index=True)
    endpoint: Mapped[str] = mapped_column(String(2048))
    # The JSON body as sent and signed; null for document.changed until its first send, which
    # fills in the version current then.
    payload: Mapped[str | None] = mapped_column(db.Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        # The dispatcher's claim: due pending rows, oldest due first.
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        # The admin listing's order and cursor.
        Index("ix_webhook_deliveries_created", "created_at", "id"),
        # The retention purge of delivered rows.
        Index("ix_webhook_deliveries_delivered", "status", "delivered_at"),
    )
