"""Turns socket handlers into ack-answering functions: validate, run, answer; never raise."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from marshmallow import Schema, ValidationError

from ..database import is_database_unavailable
from ..exceptions import DatabaseUnavailable, InvalidPayload, SessionHubError
from ..extensions import db
from ..schemas import validation_details

log = logging.getLogger(__name__)

Handler = Callable[[Any, dict[str, Any]], dict[str, Any]]


def failure(error: SessionHubError) -> dict[str, Any]:
    """The one shape of a refused event's ack: `{"ok": false, "error": {...}}`."""
    return {"ok": False, **error.to_dict()}


def _validate(schema: Schema, data: Any, extra: tuple[Any, ...]) -> dict[str, Any]:
    if extra:
        raise InvalidPayload("Send one payload object per event.")
    if not isinstance(data, dict):
        raise InvalidPayload("The payload must be an object.")
    try:
        return schema.load(data)
    except ValidationError as error:
        details, summary = validation_details(error.normalized_messages())
        raise InvalidPayload(f"Invalid payload: {summary}", details=details) from None


def acknowledge(schema_class: type[Schema]) -> Callable[[Handler], Callable[..., dict[str, Any]]]:
    """Validate the payload with `schema_class`, then answer the handler's dict as an ok ack.

    `data=None, *extra`: python-socketio passes no argument for `emit(event)`, several for
    `emit(event, a, b)`; neither may raise a TypeError inside the server.
    """
    schema = schema_class()

    def decorate(handler: Handler) -> Callable[..., dict[str, Any]]:
        @functools.wraps(handler)
        def answer(self: Any, data: Any = None, *extra: Any) -> dict[str, Any]:
            try:
                return {"ok": True, **handler(self, _validate(schema, data, extra))}
            except SessionHubError as error:
                db.session.rollback()
                return failure(error)
            except Exception as error:
                db.session.rollback()
                if is_database_unavailable(error):
                    # One line, not a traceback per event: an outage would flood the log.
                    log.warning(
                        "socket event %s: database unavailable (%s)",
                        handler.__name__,
                        error.__class__.__name__,
                    )
                    return failure(DatabaseUnavailable())
                log.exception("socket event %s failed", handler.__name__)
                return failure(SessionHubError())

        return answer

    return decorate
