"""Admin-only REST actions that act on many sessions at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .. import lifecycle
from ..access import ADMIN
from ..schemas import CleanupResultSchema, CleanupSchema
from .blueprint import URL_PREFIX, ApiBlueprint

blp = ApiBlueprint("admin", __name__, url_prefix=URL_PREFIX, description="Admin actions")


@blp.route("/sessions/cleanup", methods=["POST"])
@blp.requires(ADMIN)
@blp.arguments(CleanupSchema, required=False)
@blp.response(200, CleanupResultSchema)
def cleanup_sessions(body: dict[str, Any]) -> dict[str, Any]:
    """Sweep now: end sessions idle longer than `max_inactive_hours` (default
    SESSION_TIMEOUT_SECS), past their TTL or never joined; `dry_run` only lists them.

    An idle session with clients, or a pinned one, is never removed.
    """
    hours = body.get("max_inactive_hours")
    result = lifecycle.sweep(
        max_inactive=timedelta(hours=hours) if hours is not None else None,
        dry_run=body["dry_run"],
        trigger="admin",
        idle_reason="admin_cleanup",
    )
    removed = sorted(result.ended)
    return {"removed_sessions": removed, "count": len(removed), "dry_run": result.dry_run}
