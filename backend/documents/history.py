"""The undo history of a session's log: which changes undo and redo can still reach."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from ..models import Operation


def history(session_id: Any, states: tuple[str, ...]) -> Any:
    """The session's own changes (not undo or redo entries) in the given states; `session_id`
    is a value or a bindparam (statements built once and reused)."""
    return select(Operation).where(
        Operation.session_id == session_id, Operation.kind == "op", Operation.state.in_(states)
    )


def undo_window(session_id: Any, depth: int | None = None) -> Any:
    """The newest UNDO_DEPTH (or `depth`) changes that are applied or undone: how far back
    undo may go."""
    depth = depth if depth is not None else current_app.config["UNDO_DEPTH"]
    return (
        history(session_id, ("applied", "undone"))
        .order_by(Operation.version.desc())
        .limit(depth)
        .subquery()
    )


def undo_target(session_id: str) -> Any:
    """The query for the newest change undo can still revert: applied, within the window."""
    window = undo_window(session_id)
    versions = select(window.c.version).where(window.c.state == "applied")
    return (
        select(Operation)
        .where(Operation.session_id == session_id, Operation.version.in_(versions))
        .order_by(Operation.version.desc())
        .limit(1)
    )
