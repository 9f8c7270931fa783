"""Process-wide logging: plain text for people, one JSON object per line for log shippers,
and URLs with their secrets masked."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# Query parameters that carry a secret in database and queue URLs (`?password=...`).
SECRET_QUERY_KEYS = ("password", "passwd", "pwd")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str, fmt: str) -> None:
    """Called by the entry point only: an app factory must not reconfigure its host's logging."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler logs two lines per job run (a heartbeat every few seconds); our jobs log
    # what they did themselves, so its chatter is only wanted when debugging.
    logging.getLogger("apscheduler").setLevel(level if level == "DEBUG" else "WARNING")


def redacted_url(url: str | None) -> str:
    """A database or message-queue URL fit for a log line: its password masked, `none` when
    unset. A URL too odd to parse shows only its scheme, in case the secret is elsewhere."""
    if not url:
        return "none"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        return f"{scheme}://(unparsed, hidden)"
    secrets = {key: "hidden" for key in parsed.query if key.lower() in SECRET_QUERY_KEYS}
    if secrets:
        parsed = parsed.update_query_dict(secrets)
    return parsed.render_as_string(hide_password=True)
