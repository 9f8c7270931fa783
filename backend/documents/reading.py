"""Reading a document: snapshots, catch-up after a reconnect, and the numbers /info shows."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Row, bindparam, exists, func, select

from ..extensions import db
from ..models import DocumentNode, Operation, Session
from .history import history, undo_window
from .writing import Author


@dataclass(frozen=True)
class DocumentStats:
    node_count: int
    undo_available: bool
    redo_available: bool


_VERSION_FOR_READING = (
    select(Session.version)
    .where(Session.id == bindparam("read_session"))
    .with_for_update(read=True)
)


def _lock_for_reading(session_id: str) -> int:
    """Share-lock the session row (PostgreSQL) so the version and what we read agree."""
    return (
        db.session.connection().execute(_VERSION_FOR_READING, {"read_session": session_id}).scalar()
        or 0
    )


def snapshot(session_id: str) -> dict[str, Any]:
    """The whole document at one version: `{version, nodes: [{node_id, props}]}`."""
    version = _lock_for_reading(session_id)
    nodes = document_nodes(session_id)
    db.session.commit()
    return {"version": version, "nodes": [{"node_id": n.node_id, "props": n.props} for n in nodes]}


def catch_up(session_id: str, since_version: int | None) -> dict[str, Any]:
    """What a (re)joining client needs: the operations after `since_version` if the log still
    holds every one of them, else a full snapshot."""
    if since_version is None:
        return {"document": snapshot(session_id)}
    version = _lock_for_reading(session_id)
    if since_version <= version:
        entries = list(
            db.session.scalars(
                select(Operation)
                .where(Operation.session_id == session_id, Operation.version > since_version)
                .order_by(Operation.version)
            )
        )
        if len(entries) == version - since_version:
            db.session.commit()
            return {"ops": [_entry(entry) for entry in entries]}
    db.session.rollback()
    return {"document": snapshot(session_id)}


def _entry(entry: Operation) -> dict[str, Any]:
    author = Author(entry.client_id, entry.client_name)
    return {"version": entry.version, "op": entry.op, "client": author.as_dict()}


def document_stats(session_id: str) -> DocumentStats:
    """The numbers the seed's `/info` reports, read from the log so they survive restarts: one
    round trip, since every join's ack carries them."""
    statement = _stats_statement(current_app.config["UNDO_DEPTH"])
    row = db.session.connection().execute(statement, {"stats_session": session_id}).one()
    return DocumentStats(
        node_count=row[0] or 0, undo_available=bool(row[1]), redo_available=bool(row[2])
    )


@functools.lru_cache(maxsize=16)
def _stats_statement(depth: int) -> Any:
    """Built once per undo depth: building it per call (subquery, EXISTS, cache key) took more
    CPU than running it, and every join runs it."""
    session_id = bindparam("stats_session")
    window = undo_window(session_id, depth)
    node_count = (
        select(func.count())
        .select_from(DocumentNode)
        .where(DocumentNode.session_id == session_id)
        .scalar_subquery()
    )
    undo_available = exists().where(window.c.state == "applied")
    redo_available = history(session_id, ("undone",)).exists()
    return select(node_count, undo_available, redo_available)


_NODES = DocumentNode.__table__
_SESSION_NODES = select(_NODES.c.node_id, _NODES.c.props).where(
    _NODES.c.session_id == bindparam("nodes_of")
)


def document_nodes(session_id: str) -> list[Row[Any]]:
    """Every node of the document as `(node_id, props)` rows ordered by node_id, by code
    point: sorted here, since the database's collation (locale-dependent on PostgreSQL) would
    differ between backends. Plain rows, not ORM objects: every join reads the whole document."""
    rows = db.session.connection().execute(_SESSION_NODES, {"nodes_of": session_id})
    return sorted(rows, key=lambda node: node.node_id)
