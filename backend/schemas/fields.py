"""Strict marshmallow fields and the error summary shared by REST bodies and socket payloads.

marshmallow is lenient by default ("yes" is a boolean, "5" an integer, NaN a number); these
fields make the API mean what its documentation says.
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

from ..models import parse_session_id


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


class SessionIdField(StrictString):
    """A session id must be a UUID string; anything else is an invalid payload, not a lookup."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        canonical = parse_session_id(super()._deserialize(value, attr, data, **kwargs))
        if canonical is None:
            raise ValidationError("Must be a session id (a UUID4).")
        return canonical


PROPS_MAX_BYTES = 64 * 1024


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
