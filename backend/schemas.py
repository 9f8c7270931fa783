"""marshmallow schemas for every REST body and response.

marshmallow is lenient by default ("yes" is a boolean, "5" an integer, NaN a number); the strict
fields below make the API mean what its documentation says.
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from .models import END_REASONS, parse_session_id


class StrictBoolean(fields.Boolean):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


class StrictInteger(fields.Integer):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("Must be a whole number.")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictNumber(fields.Float):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(value)
        ):
            raise ValidationError("Must be a finite number.")
        return float(value)


class StrictString(fields.String):
    """A string, trimmed unless `strip=False` (ids are taken as given); NUL is refused because
    PostgreSQL cannot store it and SQLite can."""

    def __init__(self, *args: Any, strip: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.strip = strip

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Must be a string.")
        if "\x00" in value:
            raise ValidationError("Must not contain NUL characters.")
        return value.strip() if self.strip else value


class BodySchema(Schema):
    """Bodies reject unknown fields, so a typo is an error and not a silent no-op."""

    class Meta:
        unknown = RAISE


# --- request bodies -------------------------------------------------------------------------


class SessionCreateSchema(BodySchema):
    project_id = StrictString(required=True, validate=validate.Length(min=1, max=128))
    title = StrictString(load_default=None, allow_none=True, validate=validate.Length(max=200))
    ttl_seconds = StrictInteger(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=366 * 86400)
    )


class SessionUpdateSchema(BodySchema):
    title = StrictString(allow_none=True, validate=validate.Length(max=200))
    pinned = StrictBoolean()
    ttl_seconds = StrictInteger(allow_none=True, validate=validate.Range(min=1, max=366 * 86400))

    @validates_schema
    def require_a_change(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise ValidationError("Give at least one of title, pinned, ttl_seconds.", "_schema")


MAX_INACTIVE_HOURS = 100 * 366 * 24


class CleanupSchema(BodySchema):
    # The upper bound keeps `now - timedelta(hours=...)` inside datetime's range.
    max_inactive_hours = StrictNumber(
        validate=validate.Range(min=0, min_inclusive=False, max=MAX_INACTIVE_HOURS)
    )
    dry_run = StrictBoolean(load_default=False)


class SessionListQuerySchema(Schema):
    """Query strings are always text, so limit is parsed from a string (but not "1.5").

    Unknown query parameters are ignored, as caches and proxies add their own.
    """

    class Meta:
        unknown = EXCLUDE

    status = fields.String(
        load_default="active", validate=validate.OneOf(("active", "ended", "all"))
    )
    project_id = fields.String(validate=validate.Length(min=1, max=128))
    limit = fields.Integer(strict=False, load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(validate=validate.Length(min=1, max=512))


# --- responses -------------------------------------------------------------------------------


class SessionSummarySchema(Schema):
    session_id = fields.String(attribute="id")
    project_id = fields.String()
    title = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    last_activity = fields.AwareDateTime()
    active_clients = fields.Integer()
    is_active = fields.Boolean()
    pinned = fields.Boolean()
    ttl_seconds = fields.Integer(allow_none=True)
    ended_at = fields.AwareDateTime(allow_none=True)
    end_reason = fields.String(allow_none=True, validate=validate.OneOf(END_REASONS))


class SessionDetailSchema(SessionSummarySchema):
    """A summary plus the numbers that cost a query each, so the list stays cheap."""

    peak_clients = fields.Integer()
    first_joined_at = fields.AwareDateTime(allow_none=True)
    version = fields.Integer()
    node_count = fields.Integer()
    undo_available = fields.Boolean()
    redo_available = fields.Boolean()
    duration_seconds = fields.Float()
    expires_at = fields.AwareDateTime(allow_none=True)


class SessionListSchema(Schema):
    sessions = fields.List(fields.Nested(SessionSummarySchema))
    next_cursor = fields.String(allow_none=True)


class InfoMetadataSchema(Schema):
    created_at = fields.AwareDateTime()
    last_activity = fields.AwareDateTime()
    active_clients = fields.Integer()


class SessionInfoSchema(Schema):
    """The customer's original `/info` contract, field for field."""

    session_id = fields.String()
    metadata = fields.Nested(InfoMetadataSchema)
    project_id = fields.String()
    node_count = fields.Integer()
    undo_available = fields.Boolean()
    redo_available = fields.Boolean()


class ClientSchema(Schema):
    client_id = fields.String()
    name = fields.String(attribute="client_name", allow_none=True)
    joined_at = fields.AwareDateTime()


class ClientListSchema(Schema):
    session_id = fields.String()
    active_clients = fields.Integer()
    clients = fields.List(fields.Nested(ClientSchema))


class NodeSchema(Schema):
    node_id = fields.String()
    props = fields.Dict()


class DocumentSchema(Schema):
    version = fields.Integer()
    nodes = fields.List(fields.Nested(NodeSchema))


class CleanupResultSchema(Schema):
    removed_sessions = fields.List(fields.String())
    count = fields.Integer()
    dry_run = fields.Boolean()


class SweeperSchema(Schema):
    last_run_at = fields.AwareDateTime(allow_none=True)
    next_run_at = fields.AwareDateTime(allow_none=True)
    last_duration_ms = fields.Float(allow_none=True)
    last_ended = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    runs = fields.Integer()


class SessionMetricsSchema(Schema):
    active_sessions = fields.Integer()
    total_created = fields.Integer()
    total_cleaned = fields.Integer()
    connected_clients = fields.Integer()
    oldest_session_age_seconds = fields.Float(allow_none=True)
    newest_session_age_seconds = fields.Float(allow_none=True)
    avg_session_age_seconds = fields.Float(allow_none=True)
    sweeper = fields.Nested(SweeperSchema)


class HealthSchema(Schema):
    status = fields.String()
    database = fields.String()
    scheduler = fields.String()
    instance_id = fields.String()
    instance_name = fields.String()


class ErrorBodySchema(Schema):
    code = fields.String()
    message = fields.String()
    details = fields.Dict()


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema)


# --- Socket.IO payloads --------------------------------------------------------------------


class SessionIdField(StrictString):
    """A session id must be a UUID string; anything else is an invalid payload, not a lookup."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        canonical = parse_session_id(super()._deserialize(value, attr, data, **kwargs))
        if canonical is None:
            raise ValidationError("Must be a session id (a UUID4).")
        return canonical


class ConnectAuthSchema(BodySchema):
    name = StrictString(load_default=None, allow_none=True, validate=validate.Length(max=64))
    device_id = fields.UUID(load_default=None, allow_none=True)


class JoinSessionSchema(BodySchema):
    session_id = SessionIdField(required=True)
    name = StrictString(load_default=None, allow_none=True, validate=validate.Length(max=64))
    # The version the client already holds: the ack then carries only what came after it.
    since_version = StrictInteger(
        load_default=None, allow_none=True, validate=validate.Range(min=0)
    )


class LeaveSessionSchema(BodySchema):
    session_id = SessionIdField(required=True)


class HistorySchema(BodySchema):
    """`undo` and `redo` name only the session: the history is the session's, not the client's."""

    session_id = SessionIdField(required=True)


PROPS_MAX_BYTES = 64 * 1024
OPERATION_TYPES = ("add_node", "update_node", "delete_node")


def props_size(props: dict[str, Any]) -> int:
    """Bytes of the props as compact UTF-8 JSON; raises ValueError for NaN or Infinity."""
    encoded = json.dumps(props, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return len(encoded.encode())


class PropsField(fields.Dict):
    """A JSON object of node properties, at most PROPS_MAX_BYTES once serialised."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict:
        if not isinstance(value, dict):
            raise ValidationError("Must be an object.")
        try:
            size = props_size(value)
        except (ValueError, TypeError):
            raise ValidationError("Must hold only JSON values (no NaN or Infinity).") from None
        if size > PROPS_MAX_BYTES:
            raise ValidationError(f"Must be at most {PROPS_MAX_BYTES} bytes as JSON.")
        return value


class DocumentOpSchema(BodySchema):
    type = fields.String(required=True, validate=validate.OneOf(OPERATION_TYPES))
    node_id = StrictString(required=True, strip=False, validate=validate.Length(min=1, max=128))
    props = PropsField()

    @validates_schema
    def props_fit_the_type(self, data: dict[str, Any], **kwargs: Any) -> None:
        kind = data.get("type")
        if kind == "update_node" and not data.get("props"):
            raise ValidationError("update_node needs a non-empty props object.", "props")
        if kind == "delete_node" and "props" in data:
            raise ValidationError("delete_node takes no props.", "props")


class OperationEventSchema(BodySchema):
    session_id = SessionIdField(required=True)
    op = fields.Nested(DocumentOpSchema, required=True)


# --- validation errors, described once for REST and sockets ----------------------------------

UNKNOWN_FIELD = "Unknown field."


def validation_details(messages: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """marshmallow's messages as `{fields, unknown_fields}` details plus a one-line summary."""
    fields_: dict[str, Any] = {}
    unknown: list[str] = []
    for name, problems in messages.items():
        if problems == [UNKNOWN_FIELD]:
            unknown.append(name)
        else:
            fields_[name] = problems
    details: dict[str, Any] = {}
    if fields_:
        details["fields"] = fields_
    if unknown:
        details["unknown_fields"] = sorted(unknown)
    summary = [f"unknown field {name!r}" for name in sorted(unknown)]
    summary += [f"{name}: {_flatten(problems)}" for name, problems in sorted(fields_.items())]
    return details, "; ".join(summary)


def _flatten(problems: Any) -> str:
    if isinstance(problems, dict):
        return " ".join(f"{key}: {_flatten(value)}" for key, value in problems.items())
    if isinstance(problems, list):
        return " ".join(_flatten(item) for item in problems)
    return str(problems)
