"""Settings read from the environment, validated once at start-up.

Every variable in DESIGN section 7 is parsed here and nowhere else, so a typo in a deployment
stops the process with a message naming the variable instead of surfacing as a 500 later.
Every problem is collected before anything is raised: one start-up names them all, instead of
one per attempt.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

MIB = 1024 * 1024
DEV_ADMIN_TOKEN = "dev-admin-token"
DEV_SECRET_KEY = "dev-secret-key-not-for-production"
DEV_JOIN_TOKEN_SECRET = "dev-join-token-secret-not-for-production"
# Secrets production refuses outright: the development defaults, and what people leave in a
# copied .env.example or a tutorial's config. Compared case-insensitively.
PLACEHOLDER_SECRETS = frozenset(
    {
        DEV_SECRET_KEY,
        DEV_ADMIN_TOKEN,
        DEV_JOIN_TOKEN_SECRET,
        "change-me",
        "changeme",
        "change_me",
        "change-me-please",
        "change-this",
        "changethis",
        "replace-me",
        "replaceme",
        "secret",
        "password",
        "your-secret-key",
        "your-secret-here",
        "your-admin-token",
        "your-service-token",
        "your-join-token-secret",
        "insecure",
        "test",
        "todo",
        "xxx",
    }
)
SECRET_MIN_BYTES = 32
# Production checks each of these when set; the first three are also required there.
SECRET_SETTINGS = ("SECRET_KEY", "ADMIN_TOKEN", "JOIN_TOKEN_SECRET", "SERVICE_TOKEN")
AUTH_MODES = ("open", "token")
# DESIGN section 11; WEBHOOK_EVENTS may name any subset.
WEBHOOK_EVENT_TYPES = (
    "session.created",
    "session.ended",
    "client.joined",
    "client.left",
    "document.changed",
)


class ConfigError(ValueError):
    """One or more settings are missing or malformed; the message names every variable.

    `problems` holds one sentence per setting; the message joins them with "; ".
    """

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class _Reader:
    """Typed getters over an environment mapping. A bad value is recorded with its variable's
    name (and the default returned in its place), so reading carries on to the next one."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []
        self.invalid: set[str] = set()

    def reject(self, name: str, problem: str) -> None:
        self.problems.append(problem)
        self.invalid.add(name)

    def raw(self, name: str) -> str | None:
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def string(self, name: str, default: str | None) -> str | None:
        value = self.raw(name)
        return default if value is None else value

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value, 10)
        except ValueError:
            self.reject(name, f"{name} must be a whole number, got {value!r}")
            return default
        if number < minimum or (maximum is not None and number > maximum):
            bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            self.reject(name, f"{name} must be {bounds}, got {number}")
            return default
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        self.reject(name, f"{name} must be true or false, got {value!r}")
        return default

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() not in choices:
            self.reject(name, f"{name} must be one of {', '.join(choices)}, got {value!r}")
            return default
        return value.lower()


class Config:
    """Defaults shared by every profile; subclasses change only what differs."""

    NAME = "base"
    DEBUG = False
    TESTING = False
    DEFAULT_SECRET_KEY: str | None = None
    DEFAULT_ADMIN_TOKEN: str | None = None
    DEFAULT_JOIN_TOKEN_SECRET: str | None = None
    # Production runs open only when AUTH_MODE=open is set (and warns).
    DEFAULT_AUTH_MODE = "open"
    # Relative SQLite paths are resolved by Flask-SQLAlchemy inside the app's instance/ folder.
    DEFAULT_DATABASE_URL = "sqlite:///sessionhub.db"
    DEFAULT_CORS: str | None = None  # None: same origin only
    DEFAULT_LOG_LEVEL = "INFO"
    DEFAULT_ASYNC_MODE = "eventlet"
    # The /demo/ board lets anyone who reaches the server create sessions from a browser.
    DEFAULT_WEB_DEMO = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> dict[str, Any]:
        """Return the Flask config mapping for this profile, or raise ConfigError naming every
        setting that is missing or invalid."""
        env = _Reader(environ)
        settings = cls.read(env)
        problems = cls.secret_problems(settings) + env.problems
        problems += _consistency_problems(settings, env.invalid)
        if problems:
            raise ConfigError(problems)
        _warn_about_risky_values(settings)
        cls.warn(settings)
        return settings

    @classmethod
    def read(cls, env: _Reader) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "APP_CONFIG": cls.NAME,
            "DEBUG": cls.DEBUG,
            "TESTING": cls.TESTING,
            "SECRET_KEY": env.string("SECRET_KEY", cls.DEFAULT_SECRET_KEY),
            "ADMIN_TOKEN": env.string("ADMIN_TOKEN", cls.DEFAULT_ADMIN_TOKEN),
            "SERVICE_TOKEN": env.string("SERVICE_TOKEN", None),
            "AUTH_MODE": env.choice("AUTH_MODE", cls.DEFAULT_AUTH_MODE, AUTH_MODES),
            "JOIN_TOKEN_SECRET": env.string("JOIN_TOKEN_SECRET", cls.DEFAULT_JOIN_TOKEN_SECRET),
            "SQLALCHEMY_DATABASE_URI": env.string("DATABASE_URL", cls.DEFAULT_DATABASE_URL),
            "SOCKETIO_MESSAGE_QUEUE": env.string("SOCKETIO_MESSAGE_QUEUE", None),
            # Processes on one queue channel form one cluster; separate clusters sharing a
            # Redis server need separate channels.
            "SOCKETIO_CHANNEL": env.string("SOCKETIO_CHANNEL", "sessionhub"),
            "CORS_ALLOWED_ORIGINS": _origins(env.string("CORS_ALLOWED_ORIGINS", cls.DEFAULT_CORS)),
            "LOG_LEVEL": env.choice(
                "LOG_LEVEL", cls.DEFAULT_LOG_LEVEL.lower(), _LOG_LEVELS
            ).upper(),
            "LOG_FORMAT": env.choice("LOG_FORMAT", "text", ("text", "json")),
            "HOST": env.string("HOST", "127.0.0.1"),
            "PORT": env.integer("PORT", 5000, minimum=0, maximum=65535),
            "ASYNC_MODE": env.choice(
                "ASYNC_MODE", cls.DEFAULT_ASYNC_MODE, ("eventlet", "gevent", "threading")
            ),
            "INSTANCE_NAME": env.string("INSTANCE_NAME", None),
            "END_SESSIONS_ON_SHUTDOWN": env.boolean("END_SESSIONS_ON_SHUTDOWN", False),
            # permessage-deflate costs each socket a 256 KiB zlib state and every frame a
            # compression; off, as in the Node Socket.IO server (docs/benchmarks.md).
            "WEBSOCKET_COMPRESSION": env.boolean("WEBSOCKET_COMPRESSION", False),
            "WEB_DEMO": env.boolean("WEB_DEMO", cls.DEFAULT_WEB_DEMO),
        }
        settings.update(_webhook_settings(env))
        for name, (default, minimum) in _INTEGER_SETTINGS.items():
            settings[name] = env.integer(name, default, minimum=minimum)
        settings["MAX_CONTENT_LENGTH"] = settings["MAX_PAYLOAD_BYTES"]
        return settings

    @classmethod
    def secret_problems(cls, settings: Mapping[str, Any]) -> list[str]:
        """Profiles that face users override this to refuse weak or missing secrets."""
        return []

    @classmethod
    def warn(cls, settings: Mapping[str, Any]) -> None:
        """Profiles override this to log values that work but are risky for them."""


class DevelopmentConfig(Config):
    NAME = "development"
    DEFAULT_SECRET_KEY = DEV_SECRET_KEY
    DEFAULT_ADMIN_TOKEN = DEV_ADMIN_TOKEN
    DEFAULT_JOIN_TOKEN_SECRET = DEV_JOIN_TOKEN_SECRET
    DEFAULT_CORS = "*"
    DEFAULT_LOG_LEVEL = "INFO"
    DEFAULT_WEB_DEMO = True


class TestingConfig(DevelopmentConfig):
    NAME = "testing"
    TESTING = True
    DEFAULT_DATABASE_URL = "sqlite:///:memory:"
    DEFAULT_LOG_LEVEL = "WARNING"
    # In-process tests use real threads; only app.py monkey-patches (docs/stack-notes.md, "Tests").
    DEFAULT_ASYNC_MODE = "threading"


class ProductionConfig(Config):
    NAME = "production"
    DEFAULT_AUTH_MODE = "token"

    @classmethod
    def secret_problems(cls, settings: Mapping[str, Any]) -> list[str]:
        required = {"SECRET_KEY", "ADMIN_TOKEN"}
        if settings["AUTH_MODE"] == "token":
            required.add("JOIN_TOKEN_SECRET")
        problems = []
        for name in SECRET_SETTINGS:
            value = settings[name]
            if not value:
                if name in required:
                    when = " and AUTH_MODE=token" if name == "JOIN_TOKEN_SECRET" else ""
                    problems.append(f"{name} must be set when APP_CONFIG=production{when}")
            elif value.lower() in PLACEHOLDER_SECRETS:
                problems.append(
                    f"{name} is a placeholder or development value; set a random one in "
                    "production (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
                )
            elif len(value.encode()) < SECRET_MIN_BYTES:
                problems.append(
                    f"{name} must be at least {SECRET_MIN_BYTES} bytes in production, got "
                    f"{len(value.encode())}"
                )
        return problems

    @classmethod
    def warn(cls, settings: Mapping[str, Any]) -> None:
        _warn_if_idle_timeout_too_short(settings)
        if settings["AUTH_MODE"] == "open":
            log.warning(
                "AUTH_MODE=open in production: anyone who can reach the server may list, join "
                "and edit every session"
            )


# name -> (default, minimum); DESIGN section 7 gives the defaults and what 0 means.
_INTEGER_SETTINGS: dict[str, tuple[int, int]] = {
    "SESSION_TIMEOUT_SECS": (86400, 1),
    "SESSION_CLEANUP_INTERVAL": (300, 0),
    "SESSION_MAX_CONCURRENT": (100, 0),
    # Anyone may create sessions: without this, 100 creations nobody joins would hold every
    # slot of SESSION_MAX_CONCURRENT for a whole SESSION_TIMEOUT_SECS.
    "SESSION_EMPTY_TIMEOUT_SECS": (900, 0),
    "SESSION_MAX_CLIENTS": (0, 0),
    "SESSION_RETENTION_DAYS": (30, 0),
    "SOCKETIO_PING_INTERVAL": (25, 1),
    "SOCKETIO_PING_TIMEOUT": (20, 1),
    "ACTIVITY_FLUSH_SECS": (5, 0),
    "SOCKET_RATE_LIMIT": (50, 1),
    "UNDO_DEPTH": (100, 1),
    "OPLOG_MAX": (1000, 1),
    "MAX_CONNECTIONS": (10000, 1),
    "INSTANCE_HEARTBEAT_SECS": (10, 1),
    "INSTANCE_DEAD_AFTER_SECS": (60, 2),
    "MAX_PAYLOAD_BYTES": (MIB, 1024),
    # Presence diffs per room are gathered this long and sent as one; 0 = each change at once.
    "PRESENCE_COALESCE_MS": (50, 0),
    # Disconnects arriving within this window are closed in one transaction; 0 = each at once.
    "DISCONNECT_BATCH_MS": (20, 0),
    # A wake-up of the event-loop lag probe this late is logged as a stall; 0 = never logged.
    "EVENT_LOOP_LAG_WARN_MS": (100, 0),
    # PostgreSQL only: each worker's connection pool (SQLite opens what it needs).
    "DATABASE_POOL_SIZE": (10, 1),
    "DATABASE_MAX_OVERFLOW": (20, 0),
    # The longest join token POST /sessions/<id>/tokens will mint.
    "JOIN_TOKEN_MAX_TTL_SECS": (86400, 1),
    # Ephemeral state and signals (DESIGN section 12): the largest, as JSON.
    "EPHEMERAL_MAX_BYTES": (4096, 64),
    # Webhooks (DESIGN section 11).
    "WEBHOOK_TIMEOUT_SECS": (10, 1),
    "WEBHOOK_MAX_ATTEMPTS": (8, 1),
    "WEBHOOK_RETENTION_DAYS": (7, 0),
    "WEBHOOK_DOCUMENT_DEBOUNCE_SECS": (5, 0),
}

_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

PROFILES: dict[str, type[Config]] = {
    profile.NAME: profile for profile in (DevelopmentConfig, TestingConfig, ProductionConfig)
}


def load_config(
    name: str | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Pick the profile (argument, else APP_CONFIG, else development) and read it."""
    environ = os.environ if environ is None else environ
    chosen = (name or environ.get("APP_CONFIG") or "development").strip().lower()
    profile = PROFILES.get(chosen)
    if profile is None:
        problems = [f"APP_CONFIG must be one of {', '.join(PROFILES)}, got {chosen!r}"]
        try:  # the other settings are still worth checking, with the profile-neutral rules
            Config.from_env(environ)
        except ConfigError as error:
            problems += error.problems
        raise ConfigError(problems)
    return profile.from_env(environ)


def default_instance_name(port: int) -> str:
    """A name stable across restarts of the same process slot (DESIGN section 6)."""
    return f"{socket.gethostname()}:{port}"


def _webhook_settings(env: _Reader) -> dict[str, Any]:
    """WEBHOOK_URLS (comma-separated http(s) URLs; none = webhooks off), the `whsec_` secret
    they are signed with (required with any URL), and which events to send."""
    urls = [url.strip() for url in (env.string("WEBHOOK_URLS", None) or "").split(",")]
    urls = [url for url in urls if url]
    for url in urls:
        parsed = urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            env.reject("WEBHOOK_URLS", f"WEBHOOK_URLS must be http(s) URLs, got {url!r}")
    secret = env.string("WEBHOOK_SECRET", None)
    if secret is not None and not _is_webhook_secret(secret):
        env.reject(
            "WEBHOOK_SECRET",
            "WEBHOOK_SECRET must be whsec_ followed by base64 of 24 to 64 random bytes "
            '(python -c \'import base64, secrets; print("whsec_" + '
            "base64.b64encode(secrets.token_bytes(32)).decode())')",
        )
    elif urls and secret is None:
        env.reject("WEBHOOK_SECRET", "WEBHOOK_SECRET must be set when WEBHOOK_URLS is")
    events = env.string("WEBHOOK_EVENTS", None)
    chosen = [event.strip() for event in (events or "").split(",") if event.strip()]
    unknown = sorted(set(chosen) - set(WEBHOOK_EVENT_TYPES))
    if unknown:
        env.reject(
            "WEBHOOK_EVENTS",
            f"WEBHOOK_EVENTS must name events among {', '.join(WEBHOOK_EVENT_TYPES)}, got "
            f"{', '.join(unknown)}",
        )
    return {
        "WEBHOOK_URLS": urls,
        "WEBHOOK_SECRET": secret,
        "WEBHOOK_EVENTS": tuple(chosen) if chosen and not unknown else WEBHOOK_EVENT_TYPES,
    }


def _is_webhook_secret(value: str) -> bool:
    if not value.startswith("whsec_"):
        return False
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return 24 <= len(key) <= 64


def _origins(value: str | None) -> str | list[str] | None:
    if value is None or value == "*":
        return value
    return [origin.strip() for origin in value.split(",") if origin.strip()]


def _consistency_problems(settings: Mapping[str, Any], invalid: set[str]) -> list[str]:
    """Rules across settings, each checked only when its settings parsed (a rule over a
    default that stands in for a rejected value would only add noise)."""
    problems = []
    dead_after = settings["INSTANCE_DEAD_AFTER_SECS"]
    heartbeat = settings["INSTANCE_HEARTBEAT_SECS"]
    if not {"INSTANCE_DEAD_AFTER_SECS", "INSTANCE_HEARTBEAT_SECS"} & invalid:
        if dead_after <= heartbeat:
            problems.append(
                f"INSTANCE_DEAD_AFTER_SECS must exceed INSTANCE_HEARTBEAT_SECS ({dead_after} <= "
                f"{heartbeat})"
            )
    if not {"OPLOG_MAX", "UNDO_DEPTH"} & invalid:
        if settings["OPLOG_MAX"] < settings["UNDO_DEPTH"]:
            problems.append(
                f"OPLOG_MAX must be at least UNDO_DEPTH ({settings['OPLOG_MAX']} < "
                f"{settings['UNDO_DEPTH']})"
            )
    admin, service = settings["ADMIN_TOKEN"], settings["SERVICE_TOKEN"]
    if service and admin and service == admin:
        problems.append("SERVICE_TOKEN must differ from ADMIN_TOKEN (it grants less)")
    url = settings["SQLALCHEMY_DATABASE_URI"]
    if "://" not in url:
        problems.append(f"DATABASE_URL must be a SQLAlchemy URL, got {url!r}")
    return problems


def _warn_about_risky_values(settings: Mapping[str, Any]) -> None:
    if settings["INSTANCE_DEAD_AFTER_SECS"] < 3 * settings["INSTANCE_HEARTBEAT_SECS"]:
        # A gap of up to two beats goes unnoticed (instances.heartbeat); a peer cut off by it
        # could then look dead to a process that came back one beat sooner.
        log.warning(
            "INSTANCE_DEAD_AFTER_SECS=%s is less than three heartbeats (%s s): a short database "
            "outage could make live processes look dead",
            settings["INSTANCE_DEAD_AFTER_SECS"],
            3 * settings["INSTANCE_HEARTBEAT_SECS"],
        )


def _warn_if_idle_timeout_too_short(settings: Mapping[str, Any]) -> None:
    reconnect_window = (
        settings["SOCKETIO_PING_INTERVAL"]
        + settings["SOCKETIO_PING_TIMEOUT"]
        + settings["SESSION_CLEANUP_INTERVAL"]
    )
    if settings["SESSION_TIMEOUT_SECS"] <= reconnect_window:
        log.warning(
            "SESSION_TIMEOUT_SECS=%s is not longer than ping interval + ping timeout + sweep "
            "interval (%s s): a reconnecting client could find its session ended",
            settings["SESSION_TIMEOUT_SECS"],
            reconnect_window,
        )
