"""marshmallow schemas for the webhook admin routes."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from config import WEBHOOK_EVENT_TYPES

from ..models import DELIVERY_STATUSES
from .fields import StrictString
from .rest import CURSOR_PATTERN


class DeliveryListQuerySchema(Schema):
    """As for sessions: unknown query parameters are ignored; limit parsed from the text."""

    class Meta:
        unknown = EXCLUDE

    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))
    type = fields.String(validate=validate.OneOf(WEBHOOK_EVENT_TYPES), data_key="type")
    session_id = StrictString(not_blank=True, validate=validate.Length(min=1, max=36))
    limit = fields.Integer(strict=False, load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(
        validate=validate.Length(min=1, max=512),
        metadata={
            "pattern": CURSOR_PATTERN,
            "description": "Opaque: pass back a `next_cursor` from an earlier page.",
        },
    )


class DeliverySchema(Schema):
    id = fields.String(metadata={"description": "The webhook-id receivers dedupe on."})
    type = fields.String(attribute="event_type")
    session_id = fields.String(allow_none=True)
    endpoint = fields.String()
    status = fields.String(metadata={"description": "pending, delivered or failed"})
    attempts = fields.Integer()
    next_attempt_at = fields.AwareDateTime(allow_none=True)
    last_status = fields.Integer(allow_none=True, metadata={"description": "Last HTTP status"})
    last_error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    delivered_at = fields.AwareDateTime(allow_none=True)


class DeliveryListSchema(Schema):
    deliveries = fields.List(fields.Nested(DeliverySchema))
    next_cursor = fields.String(allow_none=True)


class WebhookNumbersSchema(Schema):
    pending = fields.Integer()
    delivered = fields.Integer()
    failed = fields.Integer()
    oldest_pending_age_seconds = fields.Float(allow_none=True)
