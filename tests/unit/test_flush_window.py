"""One flush per window, however many changes ask for it; a change during a flush gets its own."""

from __future__ import annotations

from backend.flush_window import FlushWindow
from tests.helpers import ManualTasks


def test_a_burst_asks_for_one_flush_and_a_later_change_for_another() -> None:
    tasks, flushed = ManualTasks(), []
    window = FlushWindow(0.05, tasks.start, tasks.sleep, lambda: flushed.append(len(flushed)))
    for _ in range(3):
        window.open()
    assert len(tasks.started) == 1 and flushed == []
    tasks.run_all()
    assert tasks.slept == [0.05] and flushed == [0]
    window.open()
    assert len(tasks.started) == 1
    tasks.run_all()
    assert flushed == [0, 1]


def test_a_change_during_the_flush_opens_the_next_window() -> None:
    tasks = ManualTasks()
    window: FlushWindow

    def flush() -> None:
        window.open()  # arrives while this flush runs

    window = FlushWindow(0.05, tasks.start, tasks.sleep, flush)
    window.open()
    tasks.run_all()
    assert len(tasks.started) == 1  # not lost: a window of its own
