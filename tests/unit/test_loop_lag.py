"""The event-loop lag probe measures how late it wakes, exports it, and names long stalls."""

from __future__ import annotations

import logging
import time

import pytest

from backend.loop_lag import LagProbe
from backend.telemetry import PROCESS_REGISTRY


def _observations() -> float:
    return PROCESS_REGISTRY.get_sample_value("sessionhub_event_loop_lag_seconds_count") or 0.0


def _slow_bucket() -> float:
    return (
        PROCESS_REGISTRY.get_sample_value(
            "sessionhub_event_loop_lag_seconds_bucket", {"le": "0.05"}
        )
        or 0.0
    )


def test_a_late_wake_up_is_recorded_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A sleep that returns 80 ms late stands for a stall of the loop: it lands above the
    50 ms bucket and is logged with its length."""
    probe = LagProbe(sleep=lambda secs: time.sleep(secs + 0.08), warn_after_secs=0.05)
    count, within_50ms = _observations(), _slow_bucket()
    with caplog.at_level(logging.WARNING, logger="backend.loop_lag"):
        lag = probe.measure_once()
    assert lag >= 0.08
    assert _observations() == count + 1
    assert _slow_bucket() == within_50ms  # not counted as 50 ms or less
    assert "event loop stalled" in caplog.text
    assert f"{lag * 1000:.1f} ms" in caplog.text


def test_a_punctual_wake_up_is_recorded_but_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    probe = LagProbe(sleep=lambda secs: None, warn_after_secs=0.05)
    count = _observations()
    with caplog.at_level(logging.WARNING, logger="backend.loop_lag"):
        assert probe.measure_once() == 0.0  # returning early is no lag
    assert _observations() == count + 1
    assert caplog.text == ""


def test_zero_never_logs(caplog: pytest.LogCaptureFixture) -> None:
    probe = LagProbe(sleep=lambda secs: time.sleep(secs + 0.02), warn_after_secs=0)
    with caplog.at_level(logging.WARNING, logger="backend.loop_lag"):
        probe.measure_once()
    assert caplog.text == ""
