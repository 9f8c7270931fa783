"""Changing a document: operations, undo and redo, each one committed version of the log.

Every accepted change takes the next `sessions.version` in a conditional UPDATE that also locks
the session row (PostgreSQL) or the database (SQLite), so one session's writers queue up and
the versions form one total order, from any number of processes. The change, its inverse and
the node rows commit together before anyone is answered: an acknowledged operation is durable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import delete, select, update

from .. import activity, clock
from ..exceptions import InvalidOperation, NothingToRedo, NothingToUndo, SessionEnded
from ..extensions import db
from ..models import DocumentNode, Operation, Session, is_past_ttl
from ..schemas import PROPS_MAX_BYTES, props_size
from .history import history, undo_target, undo_window

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Author:
    """Who made a change, as other clients are told: the membership's opaque id and name."""

    client_id: str | None = None
    name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "name": self.name}


@dataclass(frozen=True)
class Applied:
    """One new entry of the log: what changed at which version, and who did it."""

    session_id: str
    version: int
    op: dict[str, Any]
    author: Author


def apply_operation(session_id: str, op: dict[str, Any], author: Author) -> Applied:
    """Apply a client's add/update/delete as the next version; a new change clears redo."""
    version = _next_version(session_id)
    inverse = _apply(session_id, op)
    db.session.execute(
        update(Operation)
        .where(Operation.session_id == session_id, Operation.kind == "op")
        .where(Operation.state == "undone")
        .values(state="discarded")
        .execution_options(synchronize_session=False)
    )
    return _log(session_id, version, "op", op, inverse, author)


def undo(session_id: str, author: Author) -> Applied:
    """Revert the newest change still applied, whoever made it, as a new version."""
    version = _next_version(session_id)
    target = undo_target(session_id)
    if target is None:
        db.session.rollback()
        raise NothingToUndo(details={"session_id": session_id})
    _apply(session_id, target.inverse)
    target.state = "undone"
    return _log(session_id, version, "undo", target.inverse, target.op, author)


def redo(session_id: str, author: Author) -> Applied:
    """Re-apply the change undone most recently, as a new version."""
    version = _next_version(session_id)
    target = db.session.scalars(
        history(session_id, ("undone",)).order_by(Operation.version).limit(1)
    ).first()
    if target is None:
        db.session.rollback()
        raise NothingToRedo(details={"session_id": session_id})
    _apply(session_id, target.op)
    target.state = "applied"
    return _log(session_id, version, "redo", target.op, target.inverse, author)


def _next_version(session_id: str) -> int:
    """Claim the session's next version; the UPDATE holds the session's write lock to commit."""
    now = clock.now()
    claimed = db.session.execute(
        update(Session)
        .where(Session.id == session_id, Session.is_active.is_(True))
        .values(version=Session.version + 1, last_activity=now)
        .returning(Session.version, Session.created_at, Session.ttl_seconds)
        .execution_options(synchronize_session=False)
    ).first()
    if claimed is None or is_past_ttl(claimed.created_at, claimed.ttl_seconds, now):
        db.session.rollback()
        raise SessionEnded(details={"session_id": session_id})
    return claimed.version


def _log(
    session_id: str,
    version: int,
    kind: str,
    op: dict[str, Any],
    inverse: dict[str, Any],
    author: Author,
) -> Applied:
    db.session.add(
        Operation(
            session_id=session_id,
            version=version,
            kind=kind,
            state="applied",
            op=op,
            inverse=inverse,
            client_id=author.client_id,
            client_name=author.name,
            created_at=clock.now(),
        )
    )
    db.session.flush()
    _compact(session_id, version)
    db.session.commit()
    activity.recorder().written(session_id, clock.now())  # only once it is really written
    log.debug("document session=%s version=%s %s %s", session_id, version, kind, op["type"])
    return Applied(session_id=session_id, version=version, op=op, author=author)


def _apply(session_id: str, op: dict[str, Any]) -> dict[str, Any]:
    """Change the node rows and return the operation that undoes the change."""
    node_id = op["node_id"]
    node = db.session.get(DocumentNode, (session_id, node_id), populate_existing=True)
    kind = op["type"]
    if kind == "add_node":
        if node is not None:
            _refuse(session_id, "node_exists", node_id)
        props = {key: value for key, value in (op.get("props") or {}).items() if value is not None}
        _check_size(session_id, node_id, props)
        db.session.add(DocumentNode(session_id=session_id, node_id=node_id, props=props))
        return {"type": "delete_node", "node_id": node_id}
    if node is None:
        _refuse(session_id, "node_not_found", node_id)
    if kind == "delete_node":
        db.session.delete(node)
        return {"type": "add_node", "node_id": node_id, "props": dict(node.props)}
    # update_node: a shallow merge where null removes a property (RFC 7396 at one level).
    before = dict(node.props)
    merged = {**before, **op["props"]}
    merged = {key: value for key, value in merged.items() if value is not None}
    _check_size(session_id, node_id, merged)
    node.props = merged
    restore = {key: before.get(key) for key in op["props"]}
    return {"type": "update_node", "node_id": node_id, "props": restore}


def _refuse(session_id: str, reason: str, node_id: str) -> None:
    db.session.rollback()
    raise InvalidOperation(details={"reason": reason, "node_id": node_id, "session_id": session_id})


def _check_size(session_id: str, node_id: str, props: dict[str, Any]) -> None:
    if props_size(props) > PROPS_MAX_BYTES:
        _refuse(session_id, "props_too_large", node_id)


def _compact(session_id: str, version: int) -> None:
    """Keep at most OPLOG_MAX entries, but never the changes undo can still reach."""
    cut = version - current_app.config["OPLOG_MAX"]
    if cut < 1:
        return
    window = undo_window(session_id)
    db.session.execute(
        delete(Operation)
        .where(Operation.session_id == session_id, Operation.version <= cut)
        .where(Operation.version.not_in(select(window.c.version)))
        .execution_options(synchronize_session=False)
    )
