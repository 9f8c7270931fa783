"""Admin-only REST actions that act on many sessions at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app

from .. import registry
from ..schemas import CleanupResultSchema, CleanupSchema, ErrorSchema
from .auth import admin_required
from .blueprint import URL_PREFIX, ApiBlueprint

blp = ApiBlueprint("admin", __name__, url_prefix=URL_PREFIX, description="Admin actions")


@blp.route("/sessions/cleanup", methods=["POST"])
@admin_required
@blp.arguments(CleanupSchema, required=False)
@blp.response(200, CleanupResultSchema)
@blp.alt_response(401, schema=ErrorSchema, description="No bearer token")
@blp.alt_response(403, schema=ErrorSchema, description="Wrong bearer token")
@blp.doc(security=[{"bearerAuth": []}])
def cleanup_sessions(body: dict[str, Any]) -> dict[str, Any]:
    """End every session idle for longer than `max_inactive_hours`; `dry_run` only lists them.

    Sessions with clients or pinned sessions are never removed.
    """
    if "max_inactive_hours" in body:
        max_inactive = timedelta(hours=body["max_inactive_hours"])
    else:
        max_inactive = timedelta(seconds=current_app.config["SESSION_TIMEOUT_SECS"])
    removed = registry.cleanup(max_inactive, dry_run=body["dry_run"], trigger="admin")
    return {"removed_sessions": removed, "count": len(removed), "dry_run": body["dry_run"]}
