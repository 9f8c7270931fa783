"""Coalesced activity writes: a busy session updates `last_activity` at most once per window.

Joins, leaves and document operations write `last_activity` in their own transactions; every
other event only marks the session as used, and writing that on each event would turn a busy
room into a write storm. The per-process memory of the last write is a throttle, not state:
losing it (a restart) costs one extra write.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import update

from . import clock
from .extensions import db
from .models import Session

EXTENSION_KEY = "sessionhub.activity"
_FORGET_AFTER = 10_000  # entries kept before stale ones are dropped


class ActivityRecorder:
    def __init__(self, flush_seconds: int) -> None:
        self.window = timedelta(seconds=flush_seconds)
        self._written: dict[str, datetime] = {}

    def written(self, session_id: str, moment: datetime) -> None:
        """Another transaction already wrote `last_activity` for this session."""
        self._written[session_id] = moment

    def record(self, session_ids: list[str]) -> list[str]:
        """Note activity in these sessions; returns the ids that were written now."""
        now = clock.now()
        due = [sid for sid in session_ids if self._is_due(sid, now)]
        if not due:
            return []
        db.session.execute(
            update(Session)
            .where(Session.id.in_(due), Session.is_active.is_(True), Session.last_activity < now)
            .values(last_activity=now)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        for session_id in due:
            self._written[session_id] = now
        self._forget_stale(now)
        return due

    def _is_due(self, session_id: str, now: datetime) -> bool:
        last = self._written.get(session_id)
        return last is None or now - last >= self.window

    def _forget_stale(self, now: datetime) -> None:
        if len(self._written) > _FORGET_AFTER:
            self._written = {k: v for k, v in self._written.items() if now - v < self.window}


def recorder() -> ActivityRecorder:
    return current_app.extensions[EXTENSION_KEY]
