"""Seeds a migrated SQLite file with many sessions at once, before any server opens it.

Bulk INSERTs through sqlite3 take about a second for 100,000 rows, where the ORM would take
minutes. The mix is shaped like a long-running deployment: most sessions ended long ago (every
end reason, spread over the retention window), a minority active, memberships as a closed
ledger, and exactly `idle` active sessions that the sweep must end: no clients, not pinned, last
activity older than the cleanup's `max_inactive_hours`. Every other active session is safe
from every sweep rule, so the sweep's count is known in advance.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backend.models import END_REASONS

ACTIVE_SHARE = 0.3
PROJECTS = 200
_SESSION_COLUMNS = (
    "id, project_id, title, created_at, last_activity, is_active, ended_at, end_reason, "
    "active_clients, peak_clients, first_joined_at, ttl_seconds, version, pinned"
)
_MEMBERSHIP_COLUMNS = (
    "client_id, sid, session_id, instance_id, client_name, device_id, joined_at, left_at, "
    "left_reason"
)


@dataclass(frozen=True)
class Seeded:
    sessions: int
    active: int
    idle: int
    memberships: int
    active_ids: list[str]


def _stamp(moment: datetime) -> str:
    """SQLAlchemy's storage format for naive UTC datetimes on SQLite."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _active_row(rng: random.Random, now: datetime, idle: bool, pinned: bool) -> tuple:
    if idle or pinned:
        last = now - timedelta(hours=rng.uniform(2, 72))
    else:  # recent enough to stay far from a one-hour cutoff for the whole benchmark
        last = now - timedelta(minutes=rng.uniform(0, 30))
    created = last - timedelta(hours=rng.uniform(0, 48))
    joined = created + (last - created) / 2
    ttl = 10 * 365 * 86400 if rng.random() < 0.01 else None
    return (str(uuid.uuid4()), f"project-{rng.randrange(PROJECTS)}", "bench", _stamp(created),
            _stamp(last), 1, None, None, 0, rng.randint(1, 8), _stamp(joined), ttl,
            rng.randint(0, 500), int(pinned))  # fmt: skip


def _ended_row(rng: random.Random, now: datetime) -> tuple:
    ended = now - timedelta(days=rng.uniform(0, 20))
    created = ended - timedelta(hours=rng.uniform(0.1, 72))
    last = created + (ended - created) * rng.random()
    joined = None if rng.random() < 0.2 else _stamp(created + (last - created) / 2)
    return (str(uuid.uuid4()), f"project-{rng.randrange(PROJECTS)}", None, _stamp(created),
            _stamp(last), 0, _stamp(ended), rng.choice(END_REASONS), 0, rng.randint(0, 8),
            joined, None, rng.randint(0, 500), 0)  # fmt: skip


def _memberships(rng: random.Random, session: tuple) -> list[tuple]:
    """A closed ledger: 1-3 past joins between the session's creation and last activity."""
    created = datetime.fromisoformat(session[3]).replace(tzinfo=UTC)
    last = datetime.fromisoformat(session[4]).replace(tzinfo=UTC)
    rows = []
    for _ in range(rng.randint(1, 3)):
        joined = created + (last - created) * rng.random()
        rows.append((str(uuid.uuid4()), uuid.uuid4().hex[:20], session[0], None, "bench",
                     None, _stamp(joined), _stamp(last), "left"))  # fmt: skip
    return rows


def seed(path: str, total: int, idle: int, seed_value: int = 1) -> Seeded:
    """Insert `total` sessions into the SQLite file at `path`, `idle` of them sweepable."""
    rng = random.Random(seed_value)
    now = datetime.now(UTC)
    active = max(int(total * ACTIVE_SHARE), idle + 1)
    rows = [
        _active_row(rng, now, idle=i < idle, pinned=i >= idle and i % 50 == 49)
        for i in range(active)
    ]
    rows += [_ended_row(rng, now) for _ in range(total - active)]
    rng.shuffle(rows)
    ledger = [m for row in rows if rng.random() < 0.2 for m in _memberships(rng, row)]
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.executemany(
                f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES ({', '.join('?' * 14)})", rows
            )
            connection.executemany(
                f"INSERT INTO memberships ({_MEMBERSHIP_COLUMNS}) VALUES ({', '.join('?' * 9)})",
                ledger,
            )
    finally:
        connection.close()
    active_ids = [row[0] for row in rows if row[5] == 1]
    return Seeded(total, active, idle, len(ledger), active_ids)
