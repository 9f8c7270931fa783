"""create_app: the one place that wires every part of SessionHub together."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy.exc import OperationalError, ProgrammingError

from config import ConfigError, default_instance_name, load_config

from . import activity, broadcast, ephemeral, instances, presence
from . import clock as clock_module
from .api import register_api
from .cli import ConfigurationFailed, sessions_cli, webhooks_cli
from .database import configure_engine, engine_options
from .extensions import SCHEDULER_KEY, db, migrate, socketio
from .http_sessions import NoCookieSession
from .jobs import LifecycleScheduler
from .loop_lag import LagProbe
from .realtime import DepartureBatcher, GuardedPacket, SessionNamespace
from .request_bodies import BoundedRequestBodies
from .telemetry import SOCKET_CONNECTIONS
from .web import register_web
from .webhooks.dispatcher import EXTENSION_KEY as DISPATCHER_KEY
from .webhooks.dispatcher import Dispatcher

log = logging.getLogger(__name__)

MIGRATIONS_DIR = str(Path(__file__).with_name("migrations"))


def create_app(
    config_name: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    clock: clock_module.Clock | None = None,
) -> Flask:
    """Build an app from the environment (`APP_CONFIG`), plus test overrides and clock.

    A serving process (not TESTING, not a `flask` CLI command) also registers itself as an
    instance, reclaims crashed ones and starts its scheduler, once, here.
    """
    _refuse_flask_run()
    app = Flask(__name__, static_folder=None)
    app.session_interface = NoCookieSession()
    app.config.from_mapping(_load_settings(config_name))
    if overrides:
        app.config.from_mapping(overrides)
    app.config["INSTANCE_ID"] = str(uuid.uuid4())
    app.config["INSTANCE_NAME"] = app.config["INSTANCE_NAME"] or default_instance_name(
        app.config["PORT"]
    )
    app.extensions[clock_module.EXTENSION_KEY] = clock or clock_module.Clock()
    app.extensions[activity.EXTENSION_KEY] = activity.ActivityRecorder(
        app.config["ACTIVITY_FLUSH_SECS"]
    )

    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS",
        engine_options(
            app.config["SQLALCHEMY_DATABASE_URI"],
            app.config["DATABASE_POOL_SIZE"],
            app.config["DATABASE_MAX_OVERFLOW"],
        ),
    )
    ephemeral.init_app(app)
    db.init_app(app)
    configure_engine(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    namespace = _init_socketio(app)
    # Outermost, so Engine.IO's polling requests get the same limit as the REST API.
    app.wsgi_app = BoundedRequestBodies(app.wsgi_app, app.config["MAX_PAYLOAD_BYTES"])
    register_api(app)
    register_web(app)
    app.cli.add_command(sessions_cli)
    app.cli.add_command(webhooks_cli)
    if _is_serving(app):
        _start_background_work(app, namespace)
    return app


def _load_settings(config_name: str | None) -> dict[str, Any]:
    """The settings; under a `flask` command a bad one is a one-line error, not a traceback
    (`python app.py` prints the same line itself)."""
    try:
        return load_config(config_name)
    except ConfigError as error:
        if _in_cli():
            raise ConfigurationFailed(str(error)) from None
        raise


def _init_socketio(app: Flask) -> SessionNamespace:
    config = app.config
    socketio.init_app(
        app,
        # A `flask` command serves nothing: threading spares it eventlet (and its notice).
        async_mode="threading" if _in_cli() else config["ASYNC_MODE"],
        message_queue=config["SOCKETIO_MESSAGE_QUEUE"],
        channel=config["SOCKETIO_CHANNEL"],
        cors_allowed_origins=config["CORS_ALLOWED_ORIGINS"],
        ping_interval=config["SOCKETIO_PING_INTERVAL"],
        ping_timeout=config["SOCKETIO_PING_TIMEOUT"],
        max_http_buffer_size=config["MAX_PAYLOAD_BYTES"],
        # Undecodable JSON becomes an event the namespace refuses with an error ack.
        serializer=GuardedPacket,
    )
    if config["PRESENCE_COALESCE_MS"]:
        app.extensions[broadcast.COALESCER_KEY] = broadcast.PresenceCoalescer(
            config["PRESENCE_COALESCE_MS"] / 1000,
            socketio.start_background_task,
            socketio.sleep,
            read_counts=functools.partial(_active_counts, app),
        )
    window_ms = config["DISCONNECT_BATCH_MS"]
    departures = (
        DepartureBatcher(app, window_ms / 1000, socketio.start_background_task, socketio.sleep)
        if window_ms
        else None
    )
    # Registered on every app's fresh server: @socketio.on handlers would vanish on the second
    # create_app (docs/stack-notes.md, trap 4).
    namespace = SessionNamespace(departures=departures)
    socketio.on_namespace(namespace)
    return namespace


def _active_counts(app: Flask, session_ids: list[str]) -> dict[str, int]:
    """Committed client counts for the presence coalescer, which flushes outside any context."""
    with app.app_context():
        try:
            return presence.active_counts(session_ids)
        finally:
            db.session.remove()


def _in_cli() -> bool:
    return click.get_current_context(silent=True) is not None


def _refuse_flask_run() -> None:
    """`flask run` would serve sockets from a process that registered no instance (a CLI
    process starts no background work), so every join would fail; say so instead."""
    context = click.get_current_context(silent=True)
    if context is not None and context.info_name == "run":
        raise click.UsageError(
            "`flask run` does not serve SessionHub (no instance registration, no scheduler, "
            "no eventlet). Use `make run` or `python app.py`."
        )


def _is_serving(app: Flask) -> bool:
    """Tests drive jobs by hand; `flask db upgrade` and `flask sessions` must not start any."""
    return not app.config["TESTING"] and not _in_cli()


def _start_background_work(app: Flask, namespace: SessionNamespace) -> None:
    with app.app_context():
        try:
            instances.start()
        except (OperationalError, ProgrammingError) as error:
            raise RuntimeError(
                "the database is not ready (run `flask --app backend:create_app db upgrade`, "
                f"or `make run`, first): {error.orig}"
            ) from error
        finally:
            db.session.remove()
    scheduler = LifecycleScheduler(app, namespace.disconnect_all, namespace.live_sids)
    app.extensions[SCHEDULER_KEY] = scheduler
    scheduler.start()
    SOCKET_CONNECTIONS.set_function(lambda: len(namespace.connections))
    probe = LagProbe(socketio.sleep, app.config["EVENT_LOOP_LAG_WARN_MS"] / 1000)
    socketio.start_background_task(probe.run)
    if app.config["WEBHOOK_URLS"]:
        dispatcher = Dispatcher(app, socketio.sleep, spawn=socketio.start_background_task)
        app.extensions[DISPATCHER_KEY] = dispatcher
        socketio.start_background_task(dispatcher.run)


# Long enough for queued `presence`/`session_ended` packets to leave before the process exits.
SHUTDOWN_FLUSH_SECS = 0.5


def shutdown_process(app: Flask) -> None:
    """Graceful stop (SIGTERM/SIGINT): the scheduler and the webhook dispatcher first, so no
    job races the shutdown, then this instance's memberships and row (instances.shutdown),
    then a moment for the last messages to reach clients. Sockets are not disconnected one by
    one: a server-side disconnect tells Socket.IO clients not to reconnect, while the closed
    connection of an exiting process makes them reconnect to whichever process serves next."""
    scheduler = app.extensions.get(SCHEDULER_KEY)
    if scheduler is not None:
        scheduler.shutdown()
    dispatcher = app.extensions.get(DISPATCHER_KEY)
    if dispatcher is not None:
        dispatcher.stop()
    with app.app_context():
        try:
            instances.shutdown(end_sessions=app.config["END_SESSIONS_ON_SHUTDOWN"])
        finally:
            db.session.remove()
    socketio.sleep(SHUTDOWN_FLUSH_SECS)
