"""Keyset cursors for every paginated listing: an opaque token naming the last row served.

A cursor is the (time, id) pair of the page's last row, so a listing ordered by that pair
never skips or repeats a row, however rows with the same time are split across pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

from .exceptions import InvalidCursor


def encode_cursor(moment: datetime, row_id: str) -> str:
    raw = json.dumps([moment.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (time, id) a cursor names, or InvalidCursor for anything this server did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, row_id = json.loads(raw)
        parsed = datetime.fromisoformat(moment)
        if parsed.tzinfo is None or not isinstance(row_id, str):
            raise ValueError("cursor without time zone or id")
        parsed = parsed.astimezone(UTC)
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor(details={"cursor": cursor}) from None
    return parsed, row_id


def after(cursor: str, time_column: Any, id_column: Any) -> ColumnElement[bool]:
    """The rows after the cursor's in a listing ordered by (time, id) descending."""
    moment, row_id = decode_cursor(cursor)
    return or_(time_column < moment, and_(time_column == moment, id_column < row_id))
