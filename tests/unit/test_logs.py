"""LOG_FORMAT=json writes one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys

from backend.logs import JsonFormatter


def test_json_lines_carry_level_logger_message_and_exception() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord(
        "backend.registry", logging.INFO, __file__, 1, "ended %s", ("x",), None
    )
    line = json.loads(formatter.format(record))
    assert line["level"] == "INFO"
    assert line["logger"] == "backend.registry"
    assert line["message"] == "ended x"
    assert line["time"].endswith("+00:00")
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(formatter.format(failed))["exception"]
