"""One flush a short window after the first of a burst of changes: what presence coalescing
and disconnect batching share. Imports nothing of ours."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class FlushWindow:
    """`open()` asks for `flush` to run `window_secs` from now, in a background task; asks while
    one is pending add nothing. The pending mark is cleared just before `flush` runs, so a change
    that arrives during a flush gets a window of its own (at worst an empty flush)."""

    def __init__(
        self,
        window_secs: float,
        start_task: Callable[[Callable[[], None]], Any],
        sleep: Callable[[float], None],
        flush: Callable[[], None],
    ) -> None:
        self.window_secs = window_secs
        self._start_task = start_task
        self._sleep = sleep
        self._flush = flush
        self._lock = threading.Lock()  # green under eventlet's monkey patching
        self._pending = False

    def open(self) -> None:
        with self._lock:
            if self._pending:
                return
            self._pending = True
        self._start_task(self._run)

    def _run(self) -> None:
        self._sleep(self.window_secs)
        with self._lock:
            self._pending = False
        self._flush()
