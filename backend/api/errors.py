"""One JSON error shape for everything the REST API can answer, Flask's own errors included."""

from __future__ import annotations

import json
import logging
import re
from typing import Any, NoReturn

import flask
from flask import Flask, Response, jsonify
from marshmallow import ValidationError
from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from ..database import is_database_unavailable
from ..exceptions import DatabaseUnavailable, InvalidJSON, SessionHubError, ValidationFailed
from ..schemas import validation_details

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
        payload = core.parse_json(body)
        if not isinstance(payload, dict):
            raise InvalidJSON("The request body must be a JSON object.")
        return payload

    def load_json(self, req: flask.Request, schema: Any) -> Any:
        try:
            return super().load_json(req, schema)
        except RecursionError:
            raise InvalidJSON("The request body is nested too deeply.") from None

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


def domain_error_response(error: SessionHubError) -> tuple[Response, int, dict[str, str]]:
    return jsonify(error.to_dict()), error.status, error.headers


def http_error_response(error: HTTPException) -> Response:
    """Flask's own 404/405/413/... in our shape, keeping headers such as Allow."""
    response = error.get_response()
    code = {413: "payload_too_large"}.get(error.code or 500, _snake(error.name))
    response.data = json.dumps({"error": {"code": code, "message": error.description}})
    response.content_type = "application/json"
    return response


def unexpected_error_response(error: Exception) -> tuple[Response, int, dict[str, str]]:
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
