"""Domain errors with a stable code and an HTTP status; the edges turn them into JSON or acks."""

from __future__ import annotations

import json
from typing import Any


class SessionHubError(Exception):
    """Base of every error a client may see; `code` is part of the public contract."""

    code = "internal_error"
    status = 500
    default_message = "Internal server error."
    headers: dict[str, str] = {}

    def __init__(
        self,
        message: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details or {}
        self.headers = {**type(self).headers, **(headers or {})}
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """`details` is always there (empty when there is nothing to add), so clients can
        read it without checking."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def to_json(self) -> str:
        return error_json(self.code, self.message, self.details)


def error_json(code: str, message: str, details: dict[str, Any] | None = None) -> str:
    """The one encoding of every error body, ours and the framework's: compact JSON."""
    error = {"code": code, "message": message, "details": details or {}}
    return json.dumps({"error": error}, separators=(",", ":"))


class InvalidJSON(SessionHubError):
    code = "invalid_json"
    status = 400
    default_message = "The request body must be a JSON object sent as application/json."


class InvalidCursor(SessionHubError):
    code = "invalid_cursor"
    status = 400
    default_message = "The cursor is not one this server issued."


class Unauthorized(SessionHubError):
    """No credential where one is needed (a REST bearer token, a join token)."""

    code = "unauthorized"
    status = 401
    default_message = "This needs a credential: 'Authorization: Bearer <token>'."
    headers = {"WWW-Authenticate": 'Bearer realm="sessionhub"'}


class Forbidden(SessionHubError):
    """A credential that does not grant this (details.reason says why, for join tokens)."""

    code = "forbidden"
    status = 403
    default_message = "The credential does not allow this."


class NotConfigured(SessionHubError):
    code = "not_configured"
    status = 501
    default_message = "This server is not configured for that."


class MalformedBody(SessionHubError):
    code = "malformed_body"
    status = 400
    default_message = "The request body is not framed correctly (broken chunked encoding)."


class PayloadTooLarge(SessionHubError):
    code = "payload_too_large"
    status = 413
    default_message = "The request body is too large."


class SessionNotFound(SessionHubError):
    code = "session_not_found"
    status = 404
    default_message = "No session has that id."


class SessionEnded(SessionHubError):
    code = "session_ended"
    status = 409
    default_message = "The session has ended."

    @classmethod
    def of(cls, session_id: str, end_reason: str | None) -> SessionEnded:
        """The refusal names why the session ended, so a client that missed `session_ended`
        (it joined late, or was away) can say so without another request."""
        return cls(details={"session_id": session_id, "end_reason": end_reason})


class ValidationFailed(SessionHubError):
    code = "validation_error"
    status = 422
    default_message = "The request is not valid."


class SessionLimitReached(SessionHubError):
    code = "session_limit_reached"
    status = 429
    default_message = "The maximum number of active sessions is reached."


class InvalidPayload(SessionHubError):
    """A Socket.IO event's payload failed validation (REST uses ValidationFailed)."""

    code = "invalid_payload"
    status = 422
    default_message = "The event payload is not valid."


class SessionFull(SessionHubError):
    code = "session_full"
    status = 409
    default_message = "The session has as many clients as it allows."


class NotJoined(SessionHubError):
    code = "not_joined"
    status = 409
    default_message = "This connection has not joined that session."


class RateLimited(SessionHubError):
    code = "rate_limited"
    status = 429
    default_message = "Too many events; slow down."


class DatabaseUnavailable(SessionHubError):
    """The database did not answer (an outage, a restart): nothing changed; retry shortly."""

    code = "service_unavailable"
    status = 503
    default_message = "The database is unavailable; nothing changed. Retry shortly."
    headers = {"Retry-After": "1"}


class NotConnected(SessionHubError):
    code = "not_connected"
    status = 400
    default_message = "Connect before sending events."


class UnknownEvent(SessionHubError):
    code = "unknown_event"
    status = 400
    default_message = "There is no such event."


class InvalidOperation(SessionHubError):
    """A document change that does not fit the document (details.reason says why)."""

    code = "invalid_operation"
    status = 409
    default_message = "The operation does not apply to the document as it is."


class NothingToUndo(SessionHubError):
    code = "nothing_to_undo"
    status = 409
    default_message = "There is no change left to undo."


class NothingToRedo(SessionHubError):
    code = "nothing_to_redo"
    status = 409
    default_message = "There is no undone change to redo."


class DeliveryNotFound(SessionHubError):
    code = "delivery_not_found"
    status = 404
    default_message = "No webhook delivery has that id."


class AlreadyDelivered(SessionHubError):
    code = "already_delivered"
    status = 409
    default_message = "That delivery was acknowledged by its receiver; it is not sent again."


class InstanceNameTaken(RuntimeError):
    """Start-up refusal, not a client error: a live process already holds this INSTANCE_NAME,
    and sharing it would let one process reclaim the other's clients."""
