"""Per-connection token bucket: a client may send `rate` events a second, bursting to `burst`."""

from __future__ import annotations

from datetime import datetime


class TokenBucket:
    def __init__(self, rate: float, burst: float, now: datetime) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now
        self.refusals_in_a_row = 0

    def take(self, now: datetime) -> bool:
        elapsed = max(0.0, (now - self.updated).total_seconds())
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.refusals_in_a_row = 0
            return True
        self.refusals_in_a_row += 1
        return False

    @property
    def flooding(self) -> bool:
        """Still sending after a whole burst's worth of refusals: not a client that listens."""
        return self.refusals_in_a_row >= self.burst
