"""Strict marshmallow fields and the error summary shared by REST bodies and socket payloads.

marshmallow is lenient by default ("yes" is a boolean, "5" an integer, NaN a number); these
fields make the API mean what its documentation says.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from typing import Any

from flask import current_app
from marshmallow import RAISE, Schema, ValidationError, fields

from ..models import parse_session_id


class StrictBoolean(fields.Boolean):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


# Every integer we store is a 64-bit column; a larger one would fail inside the driver.
INT64_MAX = 2**63 - 1


class StrictInteger(fields.Integer):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("Must be a whole number.")
        if not -INT64_MAX <= value <= INT64_MAX:
            raise ValidationError(f"Must be between {-INT64_MAX} and {INT64_MAX}.")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictNumber(fields.Float):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValidationError("Must be a finite number.")
        try:
            number = float(value)  # an integer past float's range overflows here
        except OverflowError:
            raise ValidationError("Must be a finite number.") from None
        if not math.isfinite(number):
            raise ValidationError("Must be a finite number.")
        return number


def storable_text_problem(value: str) -> str | None:
    """Why the databases cannot store this text, or None: PostgreSQL refuses NUL, and a lone
    surrogate ("\\ud800", valid in JSON and in a Python str) is not UTF-8 at all."""
    if "\x00" in value:
        return "Must not contain NUL characters."
    try:
        value.encode()
    except UnicodeEncodeError:
        return "Must be valid Unicode text (no lone surrogates)."
    return None


# OpenAPI patterns saying what StrictString refuses, so the spec is as strict as the server:
# no NUL anywhere, and (for required text that is trimmed) something besides white space.
TEXT_PATTERN = r"^[^\x00]*$"
# White space as Python's str.strip() and JavaScript's \s see it, together, spelled out: the two
# disagree (\x1c-\x1f and \x85 for Python, \ufeff for JavaScript), and a value the spec calls
# blank must be one the server refuses, and the other way round.
BLANK_CHARACTERS = (
    r"\t\n\x0b\x0c\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
NOT_BLANK_TEXT_PATTERN = rf"^[^\x00]*[^\x00{BLANK_CHARACTERS}][^\x00]*$"
_BLANK = re.compile(rf"[{BLANK_CHARACTERS}]*")


class StrictString(fields.String):
    """A string, trimmed unless `strip=False` (ids are taken as given), that every database
    can store (`storable_text_problem`). `not_blank` refuses what trims to nothing."""

    def __init__(
        self, *args: Any, strip: bool = True, not_blank: bool = False, **kwargs: Any
    ) -> None:
        metadata = dict(kwargs.pop("metadata", None) or {})
        metadata.setdefault("pattern", NOT_BLANK_TEXT_PATTERN if not_blank else TEXT_PATTERN)
        super().__init__(*args, metadata=metadata, **kwargs)
        self.strip = strip
        self.not_blank = not_blank

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Must be a string.")
        problem = storable_text_problem(value)
        if problem:
            raise ValidationError(problem)
        if self.not_blank and _BLANK.fullmatch(value):
            raise ValidationError("Must not be blank.")
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
# How deep objects and arrays may nest in client JSON that we store and send on. python-socketio
# walks outgoing data recursively, so a document nested ~1,000 deep could be stored but never
# sent again: every later join to its session would fail.
MAX_JSON_DEPTH = 32


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if objects and arrays nest deeper than `limit` (a bare object is depth 1).

    Iterative, so it cannot itself hit the recursion limit on hostile input."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def props_size(props: dict[str, Any]) -> int:
    """Bytes of the props as compact UTF-8 JSON; raises ValueError for NaN or Infinity, and
    UnicodeEncodeError (a ValueError) for a lone surrogate."""
    encoded = json.dumps(props, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return len(encoded.encode())


def check_bounded_json(value: Any, max_bytes: int) -> None:
    """Raise ValidationError unless `value` is JSON we can store and send on: at most
    MAX_JSON_DEPTH deep and `max_bytes` once serialised, with no NaN, Infinity or lone
    surrogate."""
    if json_depth_exceeds(value):
        raise ValidationError(f"Must nest at most {MAX_JSON_DEPTH} levels deep.")
    try:
        size = props_size(value)
    except UnicodeEncodeError:
        raise ValidationError("Must be valid Unicode text (no lone surrogates).") from None
    except (ValueError, TypeError):
        raise ValidationError("Must hold only JSON values (no NaN or Infinity).") from None
    if size > max_bytes:
        raise ValidationError(f"Must be at most {max_bytes} bytes as JSON.")


class PropsField(fields.Dict):
    """A JSON object of node properties, at most PROPS_MAX_BYTES once serialised and at most
    MAX_JSON_DEPTH deep."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict:
        if not isinstance(value, dict):
            raise ValidationError("Must be an object.")
        check_bounded_json(value, PROPS_MAX_BYTES)
        return value


class EphemeralJsonField(fields.Raw):
    """Ephemeral state or a signal's data (DESIGN section 12): any JSON value (an object, or
    null, with `objects_only`), at most EPHEMERAL_MAX_BYTES once serialised."""

    def __init__(self, *args: Any, objects_only: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.objects_only = objects_only

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if self.objects_only and value is not None and not isinstance(value, dict):
            raise ValidationError("Must be an object or null.")
        check_bounded_json(value, current_app.config["EPHEMERAL_MAX_BYTES"])
        return value


def undecodable_json_reason(error: BaseException, what: str) -> str:
    """Why the JSON decoder refused `what` (a body, a payload), without echoing it back."""
    if isinstance(error, RecursionError):
        return f"{what} is nested too deeply to decode."
    # Python refuses integers over 4,300 digits; Engine.IO's own decoder over 100.
    if "integer string conversion" in str(error) or "Integer is too large" in str(error):
        return f"{what} holds a number too long to decode."
    return f"{what} is not valid JSON."


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
