"""REST: the webhook outbox for admins: what was sent, what failed, and sending it again."""

from __future__ import annotations

from typing import Any

from ..access import ADMIN
from ..schemas import DeliveryListQuerySchema, DeliveryListSchema, DeliverySchema, ErrorSchema
from ..webhooks import outbox
from .blueprint import URL_PREFIX, ApiBlueprint

blp = ApiBlueprint("webhooks", __name__, url_prefix=URL_PREFIX, description="Webhooks")


@blp.route("/webhooks/deliveries")
@blp.requires(ADMIN)
@blp.arguments(DeliveryListQuerySchema, location="query")
@blp.response(200, DeliveryListSchema)
@blp.alt_response(400, schema=ErrorSchema, description="A cursor this server did not issue")
def list_deliveries(query: dict[str, Any]) -> dict[str, Any]:
    """Webhook deliveries, newest first: status, attempts, the last answer, the next try."""
    deliveries, next_cursor = outbox.list_deliveries(
        status=query.get("status"),
        event_type=query.get("type"),
        session_id=query.get("session_id"),
        limit=query["limit"],
        cursor=query.get("cursor"),
    )
    return {"deliveries": deliveries, "next_cursor": next_cursor}


@blp.route("/webhooks/deliveries/<delivery_id>/retry", methods=["POST"])
@blp.requires(ADMIN)
@blp.response(200, DeliverySchema)
@blp.alt_response(404, schema=ErrorSchema, description="No such delivery")
@blp.alt_response(409, schema=ErrorSchema, description="Already delivered")
def retry_delivery(delivery_id: str) -> Any:
    """Send a pending or failed delivery again now (one more attempt)."""
    return outbox.retry(delivery_id)
