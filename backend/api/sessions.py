"""REST resources for sessions: list, create, inspect, update and end."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from .. import documents, presence, registry
from ..access import ADMIN, SERVICE
from ..schemas import (
    ClientListSchema,
    DocumentSchema,
    ErrorSchema,
    SessionCreateSchema,
    SessionDetailSchema,
    SessionInfoSchema,
    SessionListQuerySchema,
    SessionListSchema,
    SessionUpdateSchema,
)
from .blueprint import URL_PREFIX, ApiBlueprint

blp = ApiBlueprint(
    "sessions", __name__, url_prefix=URL_PREFIX, description="Collaborative sessions"
)
RETRY_AFTER_HEADER = {
    "description": "Seconds to wait: SESSION_CLEANUP_INTERVAL, or 60 with the sweep off",
    "schema": {"type": "integer"},
}


@blp.route("/sessions")
class Sessions(MethodView):
    @blp.requires(SERVICE)
    @blp.arguments(SessionListQuerySchema, location="query")
    @blp.response(200, SessionListSchema)
    @blp.alt_response(400, schema=ErrorSchema, description="A cursor this server did not issue")
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List sessions, newest activity first, a page at a time."""
        sessions, next_cursor = registry.list_sessions(**query)
        return {"sessions": sessions, "next_cursor": next_cursor}

    @blp.requires(SERVICE)
    @blp.arguments(SessionCreateSchema)
    @blp.response(201, SessionDetailSchema)
    @blp.alt_response(
        429,
        schema=ErrorSchema,
        description="Too many active sessions",
        headers={"Retry-After": RETRY_AFTER_HEADER},
    )
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Create a session."""
        session = registry.create_session(**body)
        location = url_for("sessions.Session", session_id=session.id)
        return registry.session_detail(session), {"Location": location}


@blp.route("/sessions/<session_id:session_id>", endpoint="Session")
class SessionResource(MethodView):
    @blp.requires(SERVICE)
    @blp.response(200, SessionDetailSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such session")
    def get(self, session_id: str) -> dict[str, Any]:
        """One session with its document numbers and lifetime."""
        return registry.session_detail(registry.get_session(session_id))

    @blp.requires(ADMIN)
    @blp.arguments(SessionUpdateSchema)
    @blp.response(200, SessionDetailSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="The session has ended")
    def patch(self, changes: dict[str, Any], session_id: str) -> dict[str, Any]:
        """Change a session's title, pin (exempt from the idle sweep) or TTL. Admin only."""
        return registry.session_detail(registry.update_session(session_id, changes))

    @blp.requires(ADMIN)
    @blp.response(200, SessionDetailSchema)
    def delete(self, session_id: str) -> dict[str, Any]:
        """End a session now; its clients are told. Ending it again changes nothing. Admin only."""
        session = registry.end_session(session_id, "ended_by_admin")
        return registry.session_detail(session)


@blp.route("/sessions/<session_id:session_id>/info")
@blp.requires(SERVICE)
@blp.response(200, SessionInfoSchema)
@blp.alt_response(404, schema=ErrorSchema, description="No such session")
def session_info(session_id: str) -> dict[str, Any]:
    """The original `/info` contract, kept field for field for existing clients."""
    detail = registry.session_detail(registry.get_session(session_id))
    return {
        "session_id": detail["id"],
        "metadata": {key: detail[key] for key in ("created_at", "last_activity", "active_clients")},
        "project_id": detail["project_id"],
        **{key: detail[key] for key in ("node_count", "undo_available", "redo_available")},
    }


@blp.route("/sessions/<session_id:session_id>/clients")
@blp.requires(SERVICE)
@blp.response(200, ClientListSchema)
@blp.alt_response(404, schema=ErrorSchema, description="No such session")
def session_clients(session_id: str) -> dict[str, Any]:
    """Who is in the session now: names and join times, never socket ids."""
    session = registry.get_session(session_id)
    memberships = presence.members(session.id)
    return {"session_id": session.id, "active_clients": len(memberships), "clients": memberships}


@blp.route("/sessions/<session_id:session_id>/document")
@blp.requires(SERVICE)
@blp.response(200, DocumentSchema)
@blp.alt_response(404, schema=ErrorSchema, description="No such session")
def session_document(session_id: str) -> dict[str, Any]:
    """A snapshot of the shared document at its current version."""
    return documents.snapshot(registry.get_session(session_id).id)
