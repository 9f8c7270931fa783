"""Per-connection database settings that SQLAlchemy URLs cannot express, the write lock, and
the database's clock.

pysqlite runs a SELECT outside any transaction and BEGINs (deferred) only before the first
INSERT/UPDATE, so "check, then write" is not one atomic step on SQLite: another process may
commit between the two. A unit of work that reads before it writes therefore starts with
`begin_write`, which issues `BEGIN IMMEDIATE` itself on the fresh connection (what SQLAlchemy's
pysqlite recipe does from a "begin" event; an engine event listener would put every statement
on SQLAlchemy's slower event-dispatching path): it holds the write lock from its first
statement. Every other transaction keeps pysqlite's own behaviour, so a read never holds the
write lock across a yield to the event loop (docs/stack-notes.md, trap 3).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, OperationalError

from .extensions import db


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; NORMAL is durable across process crashes in WAL
    # mode; foreign keys make ON DELETE CASCADE purge a session's rows as PostgreSQL does.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def begin_write() -> None:
    """Start the ORM session's next transaction as a writer that reads first.

    On SQLite it takes the database's write lock before the first read, waiting up to the busy
    timeout for another writer. On PostgreSQL this opens an ordinary transaction; the callers
    lock the rows they check with FOR UPDATE. A transaction still open is committed first, so
    the lock covers every read of the unit.
    """
    if db.session().in_transaction():
        db.session.commit()
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        # pysqlite has issued nothing on this connection yet; it sees the open transaction and
        # adds no BEGIN of its own before the writes, and COMMIT/ROLLBACK end it as usual.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def database_now() -> datetime:
    """The database server's time, timezone-aware UTC: the one clock every process shares, so
    a host whose own clock is off can neither look dead nor declare a live peer dead."""
    if db.engine.dialect.name == "sqlite":
        # SQLite reads the host's clock too, but there every process is on that one host.
        raw = db.session.scalar(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"))
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    return db.session.scalar(text("SELECT clock_timestamp()")).astimezone(UTC)


def is_database_unavailable(error: BaseException) -> bool:
    """The database could not be reached or kept busy past the timeout (not a bad query): the
    edges answer 503 / `service_unavailable`, which a client may retry."""
    if isinstance(error, OperationalError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def engine_options(url: str, pool_size: int, max_overflow: int) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # A short busy timeout: sqlite3 blocks the eventlet hub while it waits
        # (docs/stack-notes.md, trap 3).
        return {"connect_args": {"timeout": 5}}
    return {"pool_pre_ping": True, "pool_size": pool_size, "max_overflow": max_overflow}


def configure_engine(app: Flask) -> None:
    """Must run after db.init_app, once the app's URL is final."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _tune_sqlite):
            event.listen(engine, "connect", _tune_sqlite)
