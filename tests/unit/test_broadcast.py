"""The hand-built client views sent to rooms are exactly what the REST schema documents."""

from __future__ import annotations

from datetime import UTC, datetime

from backend import broadcast
from backend.models import Membership
from backend.schemas import ClientSchema


def test_client_views_match_the_client_schema() -> None:
    members = [
        Membership(client_id="c1", client_name="Ada", joined_at=datetime(2026, 1, 2, tzinfo=UTC)),
        Membership(
            client_id="c2",
            client_name=None,
            joined_at=datetime(2026, 12, 2, 20, 1, 2, 345678, tzinfo=UTC),
        ),
    ]
    assert broadcast.clients(members) == ClientSchema(many=True).dump(members)
    assert broadcast.clients([]) == []
