"""Ephemeral state (DESIGN section 12): each member's live cursor, selection or drag preview.

Never in the database and never a document version: it lives as long as the membership. With
a Redis message queue (several processes) the states live in Redis, one hash per session under
the cluster's channel, so a join on any process gets everyone's; otherwise in this process's
memory. A membership that closes, however it closes (leave, disconnect, a dead process's
reclaim), has its state cleared by `presence.announce`, and an ended session's hash is dropped.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Protocol

import redis
from flask import Flask, current_app

log = logging.getLogger(__name__)

EXTENSION_KEY = "sessionhub.ephemeral"
# A crashed cluster leaves its hashes behind; they expire this long after their last change.
REDIS_TTL_SECS = 24 * 3600


class StateStore(Protocol):
    def put(self, session_id: str, client_id: str, state: dict[str, Any] | None) -> None: ...

    def all(self, session_id: str) -> dict[str, Any]: ...

    def clear(self, session_id: str, client_ids: list[str]) -> list[str]: ...

    def drop(self, session_id: str) -> None: ...


class LocalStates:
    """One process's states: enough when it is the only one serving."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, dict[str, Any]] = {}

    def put(self, session_id: str, client_id: str, state: dict[str, Any] | None) -> None:
        with self._lock:
            if state is None:
                self.clear_locked(session_id, [client_id])
            else:
                self._states.setdefault(session_id, {})[client_id] = state

    def all(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._states.get(session_id, {}))

    def clear(self, session_id: str, client_ids: list[str]) -> list[str]:
        with self._lock:
            return self.clear_locked(session_id, client_ids)

    def clear_locked(self, session_id: str, client_ids: list[str]) -> list[str]:
        states = self._states.get(session_id, {})
        cleared = [client_id for client_id in client_ids if states.pop(client_id, None)]
        if not states:
            self._states.pop(session_id, None)
        return cleared

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._states.pop(session_id, None)


class RedisStates:
    """The cluster's states in Redis: `<channel>:states:<session id>`, client id -> JSON."""

    def __init__(self, url: str, channel: str) -> None:
        self.redis = redis.Redis.from_url(url)
        self.prefix = f"{channel}:states:"

    def put(self, session_id: str, client_id: str, state: dict[str, Any] | None) -> None:
        key = self.prefix + session_id
        if state is None:
            self.redis.hdel(key, client_id)
            return
        with self.redis.pipeline() as pipe:
            pipe.hset(key, client_id, json.dumps(state, separators=(",", ":")))
            pipe.expire(key, REDIS_TTL_SECS)
            pipe.execute()

    def all(self, session_id: str) -> dict[str, Any]:
        raw = self.redis.hgetall(self.prefix + session_id)
        return {client_id.decode(): json.loads(state) for client_id, state in raw.items()}

    def clear(self, session_id: str, client_ids: list[str]) -> list[str]:
        if not client_ids:
            return []
        key = self.prefix + session_id
        present = self.redis.hmget(key, client_ids)
        cleared = [client_id for client_id, state in zip(client_ids, present, strict=True) if state]
        if cleared:
            self.redis.hdel(key, *cleared)
        return cleared

    def drop(self, session_id: str) -> None:
        self.redis.delete(self.prefix + session_id)


def init_app(app: Flask) -> None:
    queue = app.config["SOCKETIO_MESSAGE_QUEUE"] or ""
    if queue.startswith(("redis://", "rediss://", "unix://")):
        app.extensions[EXTENSION_KEY] = RedisStates(queue, app.config["SOCKETIO_CHANNEL"])
    else:
        app.extensions[EXTENSION_KEY] = LocalStates()


def states() -> StateStore:
    return current_app.extensions[EXTENSION_KEY]


def forget_members(session_id: str, client_ids: list[str]) -> list[str]:
    """Clear these members' states (they left); those that had one. Best effort: Redis being
    unreachable must not fail the leave that calls this (their hash expires in the end)."""
    try:
        return states().clear(session_id, client_ids)
    except redis.RedisError as error:
        log.warning("could not clear ephemeral states of session=%s: %s", session_id, error)
        return []


def forget_session(session_id: str) -> None:
    """Drop an ended session's states; best effort, as `forget_members`."""
    try:
        states().drop(session_id)
    except redis.RedisError as error:
        log.warning("could not drop ephemeral states of session=%s: %s", session_id, error)
