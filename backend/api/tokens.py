"""REST: mint join tokens, so the customer's backend can let its users into a session."""

from __future__ import annotations

from typing import Any

from .. import access
from ..schemas import ErrorSchema, JoinTokenRequestSchema, JoinTokenSchema
from .blueprint import URL_PREFIX, ApiBlueprint

blp = ApiBlueprint("tokens", __name__, url_prefix=URL_PREFIX, description="Join tokens")


@blp.route("/sessions/<session_id:session_id>/tokens", methods=["POST"])
@blp.requires(access.SERVICE)
@blp.arguments(JoinTokenRequestSchema)
@blp.response(201, JoinTokenSchema)
@blp.alt_response(404, schema=ErrorSchema, description="No such session")
@blp.alt_response(409, schema=ErrorSchema, description="The session has ended")
def mint_join_token(body: dict[str, Any], session_id: str) -> dict[str, Any]:
    """Sign a join token for one session: the client sends it as `join_session {session_id,
    token}` and enters under the token's name, user id and role."""
    return access.mint_for_session(session_id, **body)
