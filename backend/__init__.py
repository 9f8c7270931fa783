"""create_app: the one place that wires every part of SessionHub together."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from config import default_instance_name, load_config

from . import activity
from . import clock as clock_module
from .api import register_api
from .database import configure_engine, engine_options
from .extensions import db, migrate, socketio
from .realtime import SessionNamespace

MIGRATIONS_DIR = str(Path(__file__).with_name("migrations"))


def create_app(
    config_name: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    clock: clock_module.Clock | None = None,
) -> Flask:
    """Build an app from the environment (`APP_CONFIG`), plus test overrides and clock."""
    app = Flask(__name__, static_folder=None)
    app.config.from_mapping(load_config(config_name))
    if overrides:
        app.config.from_mapping(overrides)
    app.config["INSTANCE_ID"] = str(uuid.uuid4())
    app.config["INSTANCE_NAME"] = app.config["INSTANCE_NAME"] or default_instance_name(
        app.config["PORT"]
    )
    app.extensions[clock_module.EXTENSION_KEY] = clock or clock_module.Clock()

    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )
    db.init_app(app)
    configure_engine(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    _init_socketio(app)
    app.extensions[activity.EXTENSION_KEY] = activity.ActivityRecorder(
        app.config["ACTIVITY_FLUSH_SECS"]
    )
    register_api(app)
    return app


def _init_socketio(app: Flask) -> None:
    config = app.config
    socketio.init_app(
        app,
        async_mode=config["ASYNC_MODE"],
        message_queue=config["SOCKETIO_MESSAGE_QUEUE"],
        cors_allowed_origins=config["CORS_ALLOWED_ORIGINS"],
        ping_interval=config["SOCKETIO_PING_INTERVAL"],
        ping_timeout=config["SOCKETIO_PING_TIMEOUT"],
        max_http_buffer_size=config["MAX_PAYLOAD_BYTES"],
    )
    # Registered on every app's fresh server: @socketio.on handlers would vanish on the second
    # create_app (STACK_NOTES trap 4).
    socketio.on_namespace(SessionNamespace())
