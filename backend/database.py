"""Per-connection database settings that SQLAlchemy URLs cannot express."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event

from .extensions import db


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; NORMAL is durable across process crashes in WAL
    # mode; foreign keys make ON DELETE CASCADE purge a session's rows as PostgreSQL does.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # A short busy timeout: sqlite3 blocks the eventlet hub while it waits (STACK_NOTES trap 3).
        return {"connect_args": {"timeout": 5}}
    return {"pool_pre_ping": True}


def configure_engine(app: Flask) -> None:
    """Must run after db.init_app, once the app's URL is final."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _tune_sqlite):
            event.listen(engine, "connect", _tune_sqlite)
