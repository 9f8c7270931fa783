"""The REST edge of access control: each view declares the credential it needs, and an API
that has a route without one refuses to start.

`access.authorize` decides; this module only puts that question in front of every view and
into the OpenAPI spec (the bearer scheme on each protected operation, so Swagger UI's
"Authorize" button works).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from flask import Flask, request

from .. import access

View = TypeVar("View", bound=Callable[..., Any])

ACCESS_ATTRIBUTE = "_sessionhub_access"
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": (
        "ADMIN_TOKEN may call every route; SERVICE_TOKEN may list, read, create sessions and "
        "mint join tokens. With AUTH_MODE=open those service routes need no token."
    ),
}
# Routes under /api/v1 that are not ours to decorate: flask-smorest's spec and Swagger UI,
# and Swagger UI's files.
FRAMEWORK_PUBLIC_ENDPOINTS = frozenset(
    {"api-docs.openapi_json", "api-docs.openapi_swagger_ui", "swagger_assets.static"}
)
# Methods that never reach a view's credential check: OPTIONS is answered by Flask itself and
# HEAD runs the GET view (and its check).
UNCHECKED_METHODS = frozenset({"OPTIONS", "HEAD"})


def guarded(level: str, view: View) -> View:
    """`view`, checking the caller's credential for `level` before anything else (before the
    body is parsed, so an outsider learns nothing from validation errors)."""
    if level not in access.LEVELS:
        raise ValueError(f"unknown access level {level!r}")

    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        access.authorize(level, request.headers.get("Authorization"))
        return view(*args, **kwargs)

    setattr(checked, ACCESS_ATTRIBUTE, level)
    return checked  # type: ignore[return-value]


def route_levels(app: Flask, prefix: str) -> Iterator[tuple[str, str, str | None]]:
    """(rule, method, level) for every method of every route under `prefix`; level None when
    the view declares none."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(prefix):
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - UNCHECKED_METHODS):
            if rule.endpoint in FRAMEWORK_PUBLIC_ENDPOINTS:
                yield rule.rule, method, access.PUBLIC
                continue
            handler = getattr(getattr(view, "view_class", None), method.lower(), view)
            yield rule.rule, method, getattr(handler, ACCESS_ATTRIBUTE, None)


def require_every_route_decided(app: Flask, prefix: str) -> None:
    """Refuse to build an API in which some route has no declared credential: forgetting one
    must fail at start-up, not open the route to everyone."""
    undecided = [
        f"{method} {rule}" for rule, method, level in route_levels(app, prefix) if level is None
    ]
    if undecided:
        raise RuntimeError(f"routes without a declared credential: {', '.join(undecided)}")
