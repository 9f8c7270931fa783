"""marshmallow schemas for Socket.IO payloads: connect auth and every client event."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from ..models import NAME_MAX, ROLES, USER_ID_MAX
from .fields import (
    BodySchema,
    EphemeralJsonField,
    PropsField,
    SessionIdField,
    StrictInteger,
    StrictString,
)

OPERATION_TYPES = ("add_node", "update_node", "delete_node")


class ConnectAuthSchema(BodySchema):
    name = StrictString(load_default=None, allow_none=True, validate=validate.Length(max=64))
    device_id = fields.UUID(load_default=None, allow_none=True)


# A JWT's three base64url parts; far longer than any token we mint or a customer needs.
JOIN_TOKEN_MAX_CHARS = 4096


class JoinSessionSchema(BodySchema):
    session_id = SessionIdField(required=True)
    # With a token the name is the token's; this one then counts for nothing.
    name = StrictString(load_default=None, allow_none=True, validate=validate.Length(max=64))
    token = StrictString(
        load_default=None,
        allow_none=True,
        strip=False,
        validate=validate.Length(min=1, max=JOIN_TOKEN_MAX_CHARS),
    )
    # The version the client already holds: the ack then carries only what came after it.
    since_version = StrictInteger(
        load_default=None, allow_none=True, validate=validate.Range(min=0)
    )


class JoinClaimsSchema(Schema):
    """A join token's own claims (PyJWT checks the registered ones), under the same text rules
    as a name sent in a payload, so a token cannot carry in what a payload may not."""

    class Meta:
        unknown = EXCLUDE

    session_id = StrictString(required=True, strip=False)
    role = StrictString(required=True, validate=validate.OneOf(ROLES))
    name = StrictString(required=True, not_blank=True, validate=validate.Length(max=NAME_MAX))
    sub = StrictString(not_blank=True, validate=validate.Length(max=USER_ID_MAX))


class LeaveSessionSchema(BodySchema):
    session_id = SessionIdField(required=True)


class HistorySchema(BodySchema):
    """`undo` and `redo` name only the session: the history is the session's, not the client's."""

    session_id = SessionIdField(required=True)


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


class SetStateSchema(BodySchema):
    """This member's ephemeral state (a cursor, a selection, a drag preview): null clears it."""

    session_id = SessionIdField(required=True)
    state = EphemeralJsonField(required=True, allow_none=True, objects_only=True)


class SignalSchema(BodySchema):
    """A one-off message to the rest of the room, never stored."""

    session_id = SessionIdField(required=True)
    event = StrictString(required=True, not_blank=True, validate=validate.Length(max=64))
    data = EphemeralJsonField(load_default=None, allow_none=True)
