"""The life of this server process as the database sees it: its instance row.

Memberships name the instance that holds their socket, so a crashed process's clients can be
found by its row; the row is written before the server accepts any connection.
"""

from __future__ import annotations

import logging

from flask import current_app

from . import clock
from .extensions import db
from .models import Instance

log = logging.getLogger(__name__)


def register_instance() -> Instance:
    """Record this process (id and stable name) as alive; call once, before serving."""
    now = clock.now()
    config = current_app.config
    instance = Instance(
        id=config["INSTANCE_ID"],
        name=config["INSTANCE_NAME"],
        started_at=now,
        heartbeat_at=now,
    )
    db.session.merge(instance)
    db.session.commit()
    log.info("instance registered id=%s name=%s", instance.id, instance.name)
    return instance
