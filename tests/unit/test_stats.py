"""The metrics' SQL aggregates give the numbers the definitions (DESIGN section 4) give."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend import stats
from backend.extensions import db
from backend.models import CLEANED_REASONS, Membership, Session
from tests.conftest import ADMIN
from tests.helpers import create_session as create
from tests.helpers import join


def by_definition(now) -> dict:
    """What the metrics mean, computed row by row in Python as they once were."""
    sessions = list(db.session.scalars(select(Session)))
    ages = [(now - s.created_at).total_seconds() for s in sessions if s.is_active]
    return {
        "active_sessions": len(ages),
        "total_created": len(sessions),
        "total_cleaned": sum(s.end_reason in CLEANED_REASONS for s in sessions),
        "connected_clients": sum(m.left_at is None for m in db.session.scalars(select(Membership))),
        "oldest_session_age_seconds": max(ages) if ages else None,
        "newest_session_age_seconds": min(ages) if ages else None,
        "avg_session_age_seconds": sum(ages) / len(ages) if ages else None,
    }


def test_aggregates_match_the_definitions(make_app, connect_to, clock) -> None:
    app = make_app(SESSION_EMPTY_TIMEOUT_SECS=0)
    client = app.test_client()
    ids = []
    for micros in (0, 123_457, 999_999, 500_001, 7):  # ages that are not whole seconds
        clock.advance(seconds=37, microseconds=micros)
        ids.append(create(client))
    client.delete(f"/api/v1/sessions/{ids[0]}", headers=ADMIN)
    join(connect_to(app), ids[1])
    clock.advance(hours=30, microseconds=3)
    client.post("/api/v1/sessions/cleanup", json={"max_inactive_hours": 24}, headers=ADMIN)
    create(client)
    clock.advance(seconds=1, microseconds=654_321)
    with app.app_context():
        numbers = stats.session_metrics()
        expected = by_definition(clock.now())
    assert numbers["active_sessions"] == expected["active_sessions"] == 2
    assert numbers["total_cleaned"] == expected["total_cleaned"] == 3
    for key, value in expected.items():
        assert numbers[key] == pytest.approx(value, rel=1e-12, abs=1e-9), key
