"""One JSON error shape for everything the REST API can answer, Flask's own errors included."""

from __future__ import annotations

import json
import logging
import re
from typing import Any, NoReturn

import flask
from flask import Flask, Response, current_app, request
from marshmallow import ValidationError
from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from ..database import is_database_unavailable
from ..exceptions import (
    DatabaseUnavailable,
    InvalidJSON,
    SessionHubError,
    ValidationFailed,
    error_json,
)
from ..schemas import undecodable_json_reason, validation_details

log = logging.getLogger(__name__)


class StrictJSONParser(FlaskParser):
    """webargs parser that turns every bad body into our domain errors.

    webargs quietly treats a body with the wrong content type as absent and lets a JSON array
    reach the schema; both are `invalid_json` here, and validation errors keep their fields.
    """

    def _raw_load_json(self, req: flask.Request) -> Any:
        body = req.get_data(cache=True)
        if not body.strip():
            return core.missing
        if not req.is_json:
            raise InvalidJSON(details={"content_type": req.mimetype or None})
        try:
            payload = core.parse_json(body)
        except json.JSONDecodeError:
            raise  # webargs answers it through _handle_invalid_json_error
        except (ValueError, RecursionError) as error:
            # Numbers past Python's 4,300-digit limit, nesting past the recursion limit.
            raise InvalidJSON(undecodable_json_reason(error, "The request body")) from None
        if not isinstance(payload, dict):
            raise InvalidJSON("The request body must be a JSON object.")
        return payload

    def _handle_invalid_json_error(
        self, error: Exception, req: flask.Request, *args: Any, **kwargs: Any
    ) -> NoReturn:
        raise InvalidJSON("The request body is not valid JSON.", details={"reason": str(error)})

    def handle_error(
        self, error: ValidationError, req: flask.Request, schema: Any, **kwargs: Any
    ) -> NoReturn:
        raise validation_failed(error.messages)


def validation_failed(messages: Any) -> ValidationFailed:
    """webargs nests messages by location ({"json": {...}}); one body per request, so merge."""
    merged: dict[str, Any] = {}
    for location_messages in (messages or {}).values():
        if isinstance(location_messages, dict):
            merged.update(location_messages)
        else:
            merged.setdefault("_schema", []).extend(location_messages)
    details, summary = validation_details(merged)
    return ValidationFailed(f"Invalid request: {summary}", details=details)


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def domain_error_response(error: SessionHubError) -> Response:
    return Response(
        error.to_json(), error.status, headers=error.headers, mimetype="application/json"
    )


def http_error_response(error: HTTPException) -> Response:
    """Flask's own 404/405/413/... in our shape, keeping headers such as Allow."""
    response = error.get_response()
    status = error.code or 500
    code = {413: "payload_too_large"}.get(status, _snake(error.name))
    response.set_data(error_json(code, error.description or error.name, _details(error)))
    response.content_type = "application/json"
    return response


def _details(error: HTTPException) -> dict[str, Any]:
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        return {"allowed_methods": sorted(error.valid_methods)}
    if isinstance(error, NotFound):
        return {"path": request.path}
    if isinstance(error, RequestEntityTooLarge):
        return {"max_bytes": current_app.config["MAX_CONTENT_LENGTH"]}
    return {}


def unexpected_error_response(error: Exception) -> Response:
    if is_database_unavailable(error):
        # One line, not a traceback per request: an outage would flood the log otherwise.
        log.warning("database unavailable: %s", error.__class__.__name__)
        return domain_error_response(DatabaseUnavailable())
    log.exception("unhandled error", exc_info=error)
    return domain_error_response(SessionHubError())


def register_error_handlers(app: Flask) -> None:
    """Registered after flask-smorest's own, so ours win for every HTTPException."""
    app.register_error_handler(SessionHubError, domain_error_response)
    app.register_error_handler(HTTPException, http_error_response)
    app.register_error_handler(Exception, unexpected_error_response)
