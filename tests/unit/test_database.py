"""The schema comes from our migrations and matches the models, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy.exc import StatementError

from backend.extensions import db
from backend.models import Session


def test_migrations_match_the_models(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_timestamps_come_back_timezone_aware_utc(app: Flask) -> None:
    moment = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    with app.app_context():
        db.session.add(
            Session(
                id="6f1c1f0e-6c0b-4d53-9a53-1d3c7d3a0b11",
                project_id="p",
                created_at=moment,
                last_activity=moment,
            )
        )
        db.session.commit()
        db.session.expunge_all()
        stored = db.session.get(Session, "6f1c1f0e-6c0b-4d53-9a53-1d3c7d3a0b11")
        assert stored.created_at == moment
        assert stored.created_at.tzinfo == UTC
        assert stored.created_at.isoformat() == "2026-03-01T10:30:15.123456+00:00"


def test_naive_timestamps_are_refused(app: Flask) -> None:

    with app.app_context():
        db.session.add(
            Session(
                project_id="p", created_at=datetime(2026, 1, 1), last_activity=datetime(2026, 1, 1)
            )
        )
        with pytest.raises(StatementError, match="naive"):
            db.session.commit()
        db.session.rollback()
