"""A session's shared document: its nodes, its operation log, undo/redo and catch-up."""

from .reading import DocumentStats, catch_up, document_nodes, document_stats, snapshot
from .writing import Applied, Author, apply_operation, redo, undo

__all__ = [
    "Applied",
    "Author",
    "DocumentStats",
    "apply_operation",
    "catch_up",
    "document_nodes",
    "document_stats",
    "redo",
    "snapshot",
    "undo",
]
