"""Changing a document: operations, undo and redo, each one committed version of the log.

Every accepted change takes the next `sessions.version` in a conditional UPDATE that also locks
the session row (PostgreSQL) or the database (SQLite), so one session's writers queue up and
the versions form one total order, from any number of processes. The change, its inverse and
the node rows commit together before anyone is answered: an acknowledged operation is durable.

This is the hottest path of the server (every edit of every client), so it speaks SQLAlchemy
Core through the ORM session's connection: statements built once at import, no identity map
and no unit of work. Profiled under load, the ORM version of this module spent ~70% of the
server's CPU in SQLAlchemy's ORM machinery and ~2% in SQLite itself (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Connection, bindparam, delete, insert, select, update

from .. import activity, clock
from ..exceptions import InvalidOperation, NothingToRedo, NothingToUndo, SessionEnded
from ..extensions import db
from ..models import TTL_EXPIRED, DocumentNode, Operation, Session, is_past_ttl
from ..schemas import PROPS_MAX_BYTES, props_size
from ..webhooks import outbox
from .history import history, undo_target, undo_window

log = logging.getLogger(__name__)

_SESSIONS = Session.__table__
_NODES = DocumentNode.__table__
_OPERATIONS = Operation.__table__

# Claim the next version; the UPDATE holds the session's write lock until the commit.
_CLAIM_VERSION = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("claim_session"), _SESSIONS.c.is_active.is_(True))
    .values(version=_SESSIONS.c.version + 1, last_activity=bindparam("claim_now"))
    .returning(_SESSIONS.c.version, _SESSIONS.c.created_at, _SESSIONS.c.ttl_seconds)
)
# Only on the way to refusing a change: an ended session's reason, for the error's details.
_END_REASON = select(_SESSIONS.c.end_reason).where(_SESSIONS.c.id == bindparam("ended_session"))
_NODE_KEY = (_NODES.c.session_id == bindparam("key_session")) & (
    _NODES.c.node_id == bindparam("key_node")
)
_READ_NODE = select(_NODES.c.props).where(_NODE_KEY)
_ADD_NODE = insert(_NODES)
_SET_NODE = update(_NODES).where(_NODE_KEY).values(props=bindparam("new_props"))
_DELETE_NODE = delete(_NODES).where(_NODE_KEY)
_LOG_ENTRY = insert(_OPERATIONS)
# A new change clears redo: the undone changes can never be redone after it.
_DISCARD_REDO = (
    update(_OPERATIONS)
    .where(
        _OPERATIONS.c.session_id == bindparam("redo_session"),
        _OPERATIONS.c.kind == "op",
        _OPERATIONS.c.state == "undone",
    )
    .values(state="discarded")
)


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
    connection = db.session.connection()
    now = clock.now()
    version = _next_version(connection, session_id, now)
    inverse = _apply(connection, session_id, op)
    connection.execute(_DISCARD_REDO, {"redo_session": session_id})
    return _log(connection, session_id, version, "op", op, inverse, author, now)


def undo(session_id: str, author: Author) -> Applied:
    """Revert the newest change still applied, whoever made it, as a new version."""
    connection = db.session.connection()
    now = clock.now()
    version = _next_version(connection, session_id, now)
    target = connection.execute(_entries(undo_target(session_id))).first()
    if target is None:
        db.session.rollback()
        raise NothingToUndo(details={"session_id": session_id})
    _apply(connection, session_id, target.inverse)
    _set_state(connection, session_id, target.version, "undone")
    return _log(connection, session_id, version, "undo", target.inverse, target.op, author, now)


def redo(session_id: str, author: Author) -> Applied:
    """Re-apply the change undone most recently, as a new version."""
    connection = db.session.connection()
    now = clock.now()
    version = _next_version(connection, session_id, now)
    target = connection.execute(
        _entries(history(session_id, ("undone",)).order_by(Operation.version).limit(1))
    ).first()
    if target is None:
        db.session.rollback()
        raise NothingToRedo(details={"session_id": session_id})
    _apply(connection, session_id, target.op)
    _set_state(connection, session_id, target.version, "applied")
    return _log(connection, session_id, version, "redo", target.op, target.inverse, author, now)


def _entries(query: Any) -> Any:
    """The log columns undo and redo need, as plain rows rather than ORM objects."""
    return query.with_only_columns(_OPERATIONS.c.version, _OPERATIONS.c.op, _OPERATIONS.c.inverse)


def _set_state(connection: Connection, session_id: str, version: int, state: str) -> None:
    connection.execute(
        update(_OPERATIONS)
        .where(_OPERATIONS.c.session_id == session_id, _OPERATIONS.c.version == version)
        .values(state=state)
    )


def _next_version(connection: Connection, session_id: str, now: datetime) -> int:
    """Claim the session's next version, or refuse an ended (or expired) session."""
    claimed = connection.execute(
        _CLAIM_VERSION, {"claim_session": session_id, "claim_now": now}
    ).first()
    if claimed is None or is_past_ttl(claimed.created_at, claimed.ttl_seconds, now):
        reason = (
            TTL_EXPIRED
            if claimed is not None
            else connection.execute(_END_REASON, {"ended_session": session_id}).scalar()
        )
        db.session.rollback()
        raise SessionEnded.of(session_id, reason)
    return claimed.version


def _log(
    connection: Connection,
    session_id: str,
    version: int,
    kind: str,
    op: dict[str, Any],
    inverse: dict[str, Any],
    author: Author,
    now: datetime,
) -> Applied:
    connection.execute(
        _LOG_ENTRY,
        {
            "session_id": session_id,
            "version": version,
            "kind": kind,
            "state": "applied",
            "op": op,
            "inverse": inverse,
            "client_id": author.client_id,
            "client_name": author.name,
            "created_at": now,
        },
    )
    _compact(connection, session_id, version)
    outbox.note_document_change(session_id, now)
    db.session.commit()
    activity.recorder().written(session_id, now)  # only once it is really written
    log.debug("document session=%s version=%s %s %s", session_id, version, kind, op["type"])
    return Applied(session_id=session_id, version=version, op=op, author=author)


def _apply(connection: Connection, session_id: str, op: dict[str, Any]) -> dict[str, Any]:
    """Change the node rows and return the operation that undoes the change."""
    node_id = op["node_id"]
    key = {"key_session": session_id, "key_node": node_id}
    stored = connection.execute(_READ_NODE, key).first()
    kind = op["type"]
    if kind == "add_node":
        if stored is not None:
            _refuse(session_id, "node_exists", node_id)
        props = {key: value for key, value in (op.get("props") or {}).items() if value is not None}
        _check_size(session_id, node_id, props)
        connection.execute(
            _ADD_NODE, {"session_id": session_id, "node_id": node_id, "props": props}
        )
        return {"type": "delete_node", "node_id": node_id}
    if stored is None:
        _refuse(session_id, "node_not_found", node_id)
    before = dict(stored.props)
    if kind == "delete_node":
        connection.execute(_DELETE_NODE, key)
        return {"type": "add_node", "node_id": node_id, "props": before}
    # update_node: a shallow merge where null removes a property (RFC 7396 at one level).
    merged = {**before, **op["props"]}
    merged = {key: value for key, value in merged.items() if value is not None}
    _check_size(session_id, node_id, merged)
    connection.execute(_SET_NODE, {**key, "new_props": merged})
    restore = {key: before.get(key) for key in op["props"]}
    return {"type": "update_node", "node_id": node_id, "props": restore}


def _refuse(session_id: str, reason: str, node_id: str) -> None:
    db.session.rollback()
    raise InvalidOperation(details={"reason": reason, "node_id": node_id, "session_id": session_id})


def _check_size(session_id: str, node_id: str, props: dict[str, Any]) -> None:
    if props_size(props) > PROPS_MAX_BYTES:
        _refuse(session_id, "props_too_large", node_id)


def compaction_interval(oplog_max: int) -> int:
    """Versions between two compactions of a session's log: a tenth of OPLOG_MAX, so the log
    holds at most OPLOG_MAX + OPLOG_MAX // 10 entries and a busy session pays for the
    compacting DELETE once per hundred operations rather than on every one."""
    return max(1, oplog_max // 10)


def _compact(connection: Connection, session_id: str, version: int) -> None:
    """Keep about OPLOG_MAX entries, but never the changes undo can still reach."""
    oplog_max = current_app.config["OPLOG_MAX"]
    cut = version - oplog_max
    if cut < 1 or version % compaction_interval(oplog_max):
        return
    window = undo_window(session_id)
    connection.execute(
        delete(_OPERATIONS)
        .where(_OPERATIONS.c.session_id == session_id, _OPERATIONS.c.version <= cut)
        .where(_OPERATIONS.c.version.not_in(select(window.c.version)))
    )
