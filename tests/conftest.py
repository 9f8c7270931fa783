"""Fixtures shared by unit and e2e tests: a migrated database per backend, apps, clients, clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, delete

from backend import create_app
from backend.clock import FrozenClock
from backend.extensions import db
from tests.databases import postgres_admin_url, postgres_database, sqlite_database
from tests.webhook_receiver import TEST_SECRET, WebhookReceiver

BACKENDS = ["sqlite", "postgresql"]
ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


# What some tests need and the machine may lack: (service, a phrase every skip reason for it
# contains, what to do). The first match wins, so a Redis-backed nginx test counts as Redis.
OPTIONAL_SERVICES = (
    ("PostgreSQL", "TEST_DATABASE_URL", "set TEST_DATABASE_URL"),
    ("Redis", "TEST_REDIS_URL", "set TEST_REDIS_URL"),
    ("JavaScript client", "needs node and npm", "put node and npm on PATH"),
    ("nginx", "need nginx", "install nginx (apt-get install nginx-light)"),
    ("Browser", "need Chromium", "install Debian's chromium (apt-get install chromium)"),
)


def pytest_report_header(config: pytest.Config) -> list[str]:
    if postgres_admin_url():
        return ["PostgreSQL tests: on (TEST_DATABASE_URL is set)"]
    return ["PostgreSQL tests: skipped (set TEST_DATABASE_URL to run them)"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per missing service at the end of the run, without `-rs`."""
    for line in missing_service_lines(terminalreporter.stats.get("skipped", [])):
        terminalreporter.write_line(line)


def missing_service_lines(skipped: list[pytest.TestReport]) -> list[str]:
    counts = dict.fromkeys(OPTIONAL_SERVICES, 0)
    for report in skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        for service in OPTIONAL_SERVICES:
            if service[1] in reason:
                counts[service] += 1
                break
    return [
        f"{name} tests skipped: {remedy} ({count} skipped)"
        for (name, _, remedy), count in counts.items()
        if count
    ]


def app_overrides(database_url: str, **extra: object) -> dict[str, object]:
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        # Each app is its own "process": sharing a name would make one reclaim the other.
        "INSTANCE_NAME": f"test-{uuid.uuid4().hex[:8]}",
        "SESSION_CLEANUP_INTERVAL": 0,
        # In-process tests check counts and presence right after a change; the batcher and the
        # coalescer (their own tests, and every e2e server) act a moment later.
        "DISCONNECT_BATCH_MS": 0,
        "PRESENCE_COALESCE_MS": 0,
        **extra,
    }


@contextmanager
def migrated_database(kind: str, directory: Path) -> Iterator[str]:
    """A new database of `kind`, migrated with our Alembic scripts (never create_all)."""
    if kind == "sqlite":
        context = sqlite_database(directory)
    else:
        admin_url = postgres_admin_url()
        if admin_url is None:
            pytest.skip("PostgreSQL tests need TEST_DATABASE_URL")
        context = postgres_database(admin_url)
    with context as url:
        migrator = create_app("testing", app_overrides(url))
        with migrator.app_context():
            upgrade()
            db.engine.dispose()
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database per backend for all unit tests; `make_app` empties it after each test."""
    with migrated_database(request.param, tmp_path_factory.mktemp(request.param)) as url:
        yield url


@pytest.fixture()
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture()
def make_app(database_url: str, clock: FrozenClock) -> Iterator:
    """Builds apps on the shared test database and empties every table afterwards."""
    apps: list[Flask] = []

    def build(own_clock: FrozenClock | None = None, **overrides: object) -> Flask:
        """`own_clock` gives this app a clock of its own (a host whose time is off)."""
        app = create_app(
            "testing", app_overrides(database_url, **overrides), clock=own_clock or clock
        )
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    if apps:
        _empty_every_table(database_url)


def _empty_every_table(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(delete(table))
    finally:
        engine.dispose()


@pytest.fixture()
def app(make_app) -> Flask:
    return make_app()


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def connect_to() -> Iterator:
    """Opens Flask-SocketIO test clients to an app, registering the app's instance first."""
    from backend import instances
    from backend.extensions import socketio

    opened = []
    registered: set[int] = set()

    def open_client(app: Flask, auth: object = None, **kwargs: object):
        if id(app) not in registered:
            with app.app_context():
                instances.start()
            registered.add(id(app))
        socket = socketio.test_client(app, auth=auth, **kwargs)
        opened.append(socket)
        return socket

    yield open_client
    for socket in opened:
        if socket.is_connected():
            socket.disconnect()


@pytest.fixture()
def connect(app: Flask, connect_to) -> object:
    """Opens test clients to the default `app`: `connect({"name": "Ada"})`."""
    return lambda auth=None, **kwargs: connect_to(app, auth, **kwargs)


@pytest.fixture()
def receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver on a loopback port, verifying every signature."""
    with WebhookReceiver() as running:
        yield running


@pytest.fixture()
def hooked(make_app, receiver: WebhookReceiver) -> Flask:
    """An app sending every webhook event to `receiver`."""
    return make_app(WEBHOOK_URLS=[receiver.url], WEBHOOK_SECRET=TEST_SECRET)
