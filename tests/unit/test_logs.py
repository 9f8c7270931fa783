"""LOG_FORMAT=json writes one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from backend.logs import JsonFormatter, redacted_url


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


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://hub:s3cret@127.0.0.1:5432/sessionhub",
            "postgresql+psycopg://hub:***@127.0.0.1:5432/sessionhub",
        ),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("redis://127.0.0.1:6379/0?password=s3cret", "redis://127.0.0.1:6379/0?password=hidden"),
        ("sqlite:///sessionhub.db", "sqlite:///sessionhub.db"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        (None, "none"),
        ("", "none"),
    ],
)
def test_urls_in_logs_never_show_a_password(url: str | None, shown: str) -> None:
    assert redacted_url(url) == shown


def test_a_url_too_odd_to_parse_shows_only_its_scheme() -> None:
    assert redacted_url("redis://u:s3cret@127.0.0.1:port/0") == "redis://(unparsed, hidden)"
