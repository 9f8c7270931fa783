"""A session's shared document: its nodes and its operation log."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, func, select

from .extensions import db
from .models import DocumentNode, Operation


@dataclass(frozen=True)
class DocumentStats:
    node_count: int
    undo_available: bool
    redo_available: bool


def _has_op_in_state(session_id: str, state: str) -> bool:
    query = select(
        exists().where(
            Operation.session_id == session_id,
            Operation.kind == "op",
            Operation.state == state,
        )
    )
    return bool(db.session.scalar(query))


def document_stats(session_id: str) -> DocumentStats:
    """The numbers the seed's `/info` reports, read from the log so they survive restarts."""
    node_count = db.session.scalar(
        select(func.count()).select_from(DocumentNode).where(DocumentNode.session_id == session_id)
    )
    return DocumentStats(
        node_count=node_count or 0,
        undo_available=_has_op_in_state(session_id, "applied"),
        redo_available=_has_op_in_state(session_id, "undone"),
    )


def document_nodes(session_id: str) -> list[DocumentNode]:
    """Every node of the document, in a stable order so snapshots compare equal."""
    query = (
        select(DocumentNode)
        .where(DocumentNode.session_id == session_id)
        .order_by(DocumentNode.node_id)
    )
    return list(db.session.scalars(query))
