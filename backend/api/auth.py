"""Bearer-token check for admin endpoints."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request

from ..exceptions import Forbidden, Unauthorized

View = TypeVar("View", bound=Callable[..., Any])

BEARER_SCHEME = {"type": "http", "scheme": "bearer"}


def check_admin_token(header: str | None, expected: str | None) -> None:
    """401 when no bearer token is given, 403 when it is wrong; compared in constant time."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    if not expected or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Forbidden()


def admin_required(view: View) -> View:
    """Checks the token before the body is parsed, so an outsider learns nothing from errors."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        check_admin_token(request.headers.get("Authorization"), current_app.config["ADMIN_TOKEN"])
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]
