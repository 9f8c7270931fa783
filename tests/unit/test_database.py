"""The schema comes from our migrations and matches the models, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import select
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


def test_begin_write_holds_sqlites_write_lock_before_the_first_read(app: Flask) -> None:
    """Another process cannot commit between a unit's check and its write."""
    import sqlite3

    from backend.database import begin_write

    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL locks rows with FOR UPDATE instead")
        path = db.engine.url.database
        begin_write()
        db.session.execute(select(Session.id)).all()  # the "check"
        other = sqlite3.connect(path, timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("DELETE FROM sessions")
        finally:
            other.close()
        db.session.rollback()
        other = sqlite3.connect(path, timeout=0)  # released with the transaction
        other.execute("DELETE FROM sessions")
        other.commit()
        other.close()


def test_pool_settings_reach_postgresql_engines_only() -> None:
    from backend.database import engine_options

    assert engine_options("postgresql+psycopg://db/x", 7, 3) == {
        "pool_pre_ping": True,
        "pool_size": 7,
        "max_overflow": 3,
    }
    assert "pool_size" not in engine_options("sqlite:///x.db", 7, 3)


def test_database_now_is_aware_utc_and_current(app: Flask) -> None:
    from backend.database import database_now

    with app.app_context():
        moment = database_now()
    assert moment.tzinfo == UTC
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 30
