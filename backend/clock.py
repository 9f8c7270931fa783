"""The one source of "now", so tests move time instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app

EXTENSION_KEY = "sessionhub.clock"


class Clock:
    """Wall-clock time, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock(Clock):
    """A clock that only moves when a test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0, **kwargs: float) -> datetime:
        self._now += timedelta(seconds=seconds, **kwargs)
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware datetime")
        self._now = moment


def now() -> datetime:
    """The current app's time; every service asks here, never datetime.now()."""
    return current_app.extensions[EXTENSION_KEY].now()
