"""marshmallow schemas for every REST body and response."""

from __future__ import annotations

from typing import Any

from flask import current_app
from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates,
    validates_schema,
)

from ..models import EDITOR, END_REASONS, NAME_MAX, ROLES, USER_ID_MAX
from .fields import BodySchema, StrictBoolean, StrictInteger, StrictNumber, StrictString

# --- request bodies -------------------------------------------------------------------------


class SessionCreateSchema(BodySchema):
    project_id = StrictString(
        required=True, not_blank=True, validate=validate.Length(min=1, max=128)
    )
    title = StrictString(load_default=None, allow_none=True, validate=validate.Length(max=200))
    ttl_seconds = StrictInteger(
        load_default=None, allow_none=True, validate=validate.Range(min=1, max=366 * 86400)
    )


class JoinTokenRequestSchema(BodySchema):
    """What POST /sessions/<id>/tokens signs; the roles and limits are the token claims'."""

    name = StrictString(required=True, not_blank=True, validate=validate.Length(max=NAME_MAX))
    user_id = StrictString(
        load_default=None,
        allow_none=True,
        not_blank=True,
        validate=validate.Length(max=USER_ID_MAX),
    )
    role = StrictString(load_default=EDITOR, validate=validate.OneOf(ROLES))
    ttl_seconds = StrictInteger(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1),
        metadata={
            "description": "Seconds the token is valid: 3600, or the maximum if that is less; "
            "at most JOIN_TOKEN_MAX_TTL_SECS (this spec's `maximum`)."
        },
    )

    @validates("ttl_seconds")
    def within_the_maximum(self, value: int | None, **kwargs: Any) -> None:
        longest = current_app.config["JOIN_TOKEN_MAX_TTL_SECS"]
        if value is not None and value > longest:
            raise ValidationError(f"Must be at most {longest} (JOIN_TOKEN_MAX_TTL_SECS).")


class JoinTokenSchema(Schema):
    token = fields.String()
    expires_at = fields.AwareDateTime()
    session_id = fields.String()
    role = fields.String()


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
        validate=validate.Range(min=0, min_inclusive=False, max=MAX_INACTIVE_HOURS),
        # apispec drops min_inclusive; without this the spec would allow 0.
        metadata={"exclusiveMinimum": True},
    )
    dry_run = StrictBoolean(load_default=False)


CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"  # what encode_cursor writes: unpadded base64url


class SessionListQuerySchema(Schema):
    """Query strings are always text, so limit is parsed from a string (but not "1.5").

    Unknown query parameters are ignored, as caches and proxies add their own.
    """

    class Meta:
        unknown = EXCLUDE

    status = fields.String(
        load_default="active", validate=validate.OneOf(("active", "ended", "all"))
    )
    project_id = StrictString(not_blank=True, validate=validate.Length(min=1, max=128))
    limit = fields.Integer(strict=False, load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(
        validate=validate.Length(min=1, max=512),
        metadata={
            "pattern": CURSOR_PATTERN,
            "description": "Opaque: pass back a `next_cursor` from an earlier page; any other "
            "value is refused with 400 `invalid_cursor`.",
        },
    )


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
    # Dumped only, so a validator would never run; the enum is for the OpenAPI spec.
    end_reason = fields.String(allow_none=True, metadata={"enum": [*END_REASONS, None]})


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
    # The user's id in the customer's app, from the join token (null without one).
    user_id = fields.String(allow_none=True)
    role = fields.String()


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
    webhooks = fields.Nested(
        "WebhookNumbersSchema",
        metadata={"description": "Deliveries by status; all 0 while WEBHOOK_URLS is empty."},
    )


class HealthSchema(Schema):
    status = fields.String()
    database = fields.String()
    scheduler = fields.String(
        metadata={"description": "running, stopped (dead: 503) or disabled (no scheduler)"}
    )
    sweep = fields.String(metadata={"description": "on, or off with SESSION_CLEANUP_INTERVAL=0"})
    instance_id = fields.String()
    instance_name = fields.String()


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict(required=True, metadata={"description": "Empty when there is none."})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)
