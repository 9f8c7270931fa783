"""Configuration: every variable parsed and validated, with the variable named on failure."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from dotenv import dotenv_values

from config import (
    DEV_ADMIN_TOKEN,
    DEV_JOIN_TOKEN_SECRET,
    DEV_SECRET_KEY,
    ConfigError,
    load_config,
)
from tests.entry_points import ROOT, run

# Secrets production accepts: 32 bytes or more, none a placeholder.
PRODUCTION = {
    "SECRET_KEY": "k" * 32,
    "ADMIN_TOKEN": "a" * 32,
    "JOIN_TOKEN_SECRET": "j" * 32,
}


def test_development_defaults_need_no_setup() -> None:
    settings = load_config("development", {})
    assert settings["ADMIN_TOKEN"] == DEV_ADMIN_TOKEN
    assert settings["SQLALCHEMY_DATABASE_URI"] == "sqlite:///sessionhub.db"
    assert settings["SESSION_TIMEOUT_SECS"] == 86400
    assert settings["SESSION_CLEANUP_INTERVAL"] == 300
    assert settings["MAX_PAYLOAD_BYTES"] == settings["MAX_CONTENT_LENGTH"] == 1024 * 1024
    assert settings["HOST"] == "127.0.0.1" and settings["PORT"] == 5000
    assert settings["ASYNC_MODE"] == "eventlet"
    assert settings["CORS_ALLOWED_ORIGINS"] == "*"
    # Sessions nobody joins end after 15 minutes, so anonymous creations cannot hold every
    # SESSION_MAX_CONCURRENT slot for a day.
    assert settings["SESSION_EMPTY_TIMEOUT_SECS"] == 900
    assert load_config("production", PRODUCTION)["SESSION_EMPTY_TIMEOUT_SECS"] == 900


def test_app_config_picks_the_profile() -> None:
    assert load_config(None, {"APP_CONFIG": "testing"})["TESTING"] is True
    with pytest.raises(ConfigError, match="APP_CONFIG"):
        load_config(None, {"APP_CONFIG": "staging"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SESSION_TIMEOUT_SECS", "abc"),
        ("SESSION_TIMEOUT_SECS", "0"),
        ("SESSION_CLEANUP_INTERVAL", "-1"),
        ("SESSION_MAX_CONCURRENT", "1.5"),
        ("PORT", "70000"),
        ("MAX_PAYLOAD_BYTES", "10"),
        ("END_SESSIONS_ON_SHUTDOWN", "maybe"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "loud"),
        ("ASYNC_MODE", "asyncio"),
        ("DATABASE_URL", "not-a-url"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_config("development", {name: value})


def test_values_are_parsed() -> None:
    settings = load_config(
        "development",
        {
            "SESSION_TIMEOUT_SECS": " 60 ",
            "END_SESSIONS_ON_SHUTDOWN": "yes",
            "CORS_ALLOWED_ORIGINS": "http://a.test, http://b.test",
            "LOG_LEVEL": "debug",
        },
    )
    assert settings["SESSION_TIMEOUT_SECS"] == 60
    assert settings["END_SESSIONS_ON_SHUTDOWN"] is True
    assert settings["CORS_ALLOWED_ORIGINS"] == ["http://a.test", "http://b.test"]
    assert settings["LOG_LEVEL"] == "DEBUG"


def test_heartbeat_must_be_shorter_than_the_dead_threshold() -> None:
    with pytest.raises(ConfigError, match="INSTANCE_DEAD_AFTER_SECS"):
        load_config(
            "development", {"INSTANCE_HEARTBEAT_SECS": "30", "INSTANCE_DEAD_AFTER_SECS": "30"}
        )


def test_oplog_must_hold_the_undo_depth() -> None:
    with pytest.raises(ConfigError, match="OPLOG_MAX"):
        load_config("development", {"UNDO_DEPTH": "50", "OPLOG_MAX": "10"})


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ADMIN_TOKEN", "JOIN_TOKEN_SECRET"])
def test_production_refuses_to_start_without_secrets(missing: str) -> None:
    environ = dict(PRODUCTION)
    del environ[missing]
    with pytest.raises(ConfigError) as raised:
        load_config("production", environ)
    assert raised.value.problems[0].startswith(f"{missing} must be set when APP_CONFIG=production")


def test_production_refuses_the_development_token() -> None:
    with pytest.raises(ConfigError, match="ADMIN_TOKEN"):
        load_config("production", {**PRODUCTION, "ADMIN_TOKEN": DEV_ADMIN_TOKEN})


def test_production_is_same_origin_unless_told(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_config("production", PRODUCTION)
    assert settings["CORS_ALLOWED_ORIGINS"] is None


def test_production_warns_when_idle_timeout_is_shorter_than_a_reconnect(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="config"):
        load_config("production", {**PRODUCTION, "SESSION_TIMEOUT_SECS": "60"})
    assert "SESSION_TIMEOUT_SECS=60" in caplog.text


def test_a_dead_after_window_under_three_heartbeats_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="config"):
        load_config(
            "development", {"INSTANCE_HEARTBEAT_SECS": "10", "INSTANCE_DEAD_AFTER_SECS": "25"}
        )
    assert "INSTANCE_DEAD_AFTER_SECS=25" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="config"):
        load_config(
            "development", {"INSTANCE_HEARTBEAT_SECS": "10", "INSTANCE_DEAD_AFTER_SECS": "30"}
        )
    assert "INSTANCE_DEAD_AFTER_SECS" not in caplog.text


@pytest.mark.parametrize("name", ["DATABASE_POOL_SIZE", "DATABASE_MAX_OVERFLOW"])
def test_pool_settings_are_validated(name: str) -> None:
    assert load_config("development", {name: "4"})[name] == 4
    with pytest.raises(ConfigError, match=name):
        load_config("development", {name: "-1"})
    with pytest.raises(ConfigError, match=name):
        load_config("development", {name: "many"})


# --- every problem at once -------------------------------------------------------------------


def test_every_missing_or_invalid_setting_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(
            "production",
            {"PORT": "70000", "LOG_FORMAT": "xml", "SESSION_TIMEOUT_SECS": "soon"},
        )
    assert raised.value.problems == [
        "SECRET_KEY must be set when APP_CONFIG=production",
        "ADMIN_TOKEN must be set when APP_CONFIG=production",
        "JOIN_TOKEN_SECRET must be set when APP_CONFIG=production and AUTH_MODE=token",
        "LOG_FORMAT must be one of text, json, got 'xml'",
        "PORT must be between 0 and 65535, got 70000",
        "SESSION_TIMEOUT_SECS must be a whole number, got 'soon'",
    ]
    assert str(raised.value) == "; ".join(raised.value.problems)


def test_a_bad_profile_still_names_the_other_problems() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(None, {"APP_CONFIG": "staging", "UNDO_DEPTH": "0"})
    assert raised.value.problems == [
        "APP_CONFIG must be one of development, testing, production, got 'staging'",
        "UNDO_DEPTH must be >= 1, got 0",
    ]


def test_a_rule_across_settings_is_skipped_when_one_of_them_is_invalid() -> None:
    """The heartbeat's default would stand in for the bad value: no second, invented error."""
    with pytest.raises(ConfigError) as raised:
        load_config(
            "development", {"INSTANCE_HEARTBEAT_SECS": "often", "INSTANCE_DEAD_AFTER_SECS": "5"}
        )
    assert raised.value.problems == ["INSTANCE_HEARTBEAT_SECS must be a whole number, got 'often'"]
    with pytest.raises(ConfigError) as raised:
        load_config(
            "development",
            {"INSTANCE_HEARTBEAT_SECS": "30", "INSTANCE_DEAD_AFTER_SECS": "30", "PORT": "-1"},
        )
    assert len(raised.value.problems) == 2


def test_a_config_error_made_from_one_sentence_still_works() -> None:
    error = ConfigError("PORT must be set")
    assert error.problems == ["PORT must be set"] and str(error) == "PORT must be set"


# --- .env, for `python app.py` too -----------------------------------------------------------

# Imports app.py as `python app.py` runs its top (the .env, the async mode, the monkey patch)
# without serving, and reports what it chose.
PROBE = """
import json, logging, os, socket, sys, threading
import app
print(json.dumps({
    "async_mode": app.ASYNC_MODE,
    "socket_is_green": socket.socket.__module__.startswith("eventlet"),
    "logging_lock_is_green": isinstance(logging._lock, threading._PyRLock),
    "port": os.environ.get("PORT"),
    "channel": os.environ.get("SOCKETIO_CHANNEL"),
}))
"""


def probe_app(cwd, **env: str) -> dict:
    finished = run([sys.executable, "-c", PROBE], cwd, **env)
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


def test_app_py_reads_dot_env_before_choosing_the_async_mode(tmp_path) -> None:
    (tmp_path / ".env").write_text(
        "# as copied from .env.example\nASYNC_MODE=threading\nPORT=5123\n"
        "SOCKETIO_CHANNEL='team a'\n"
    )
    chosen = probe_app(tmp_path)
    assert chosen["async_mode"] == "threading" and chosen["socket_is_green"] is False
    assert chosen["port"] == "5123" and chosen["channel"] == "team a"


def test_app_py_finds_dot_env_in_a_parent_directory_as_flask_does(tmp_path) -> None:
    (tmp_path / ".env").write_text("PORT=5124\n")
    below = tmp_path / "deploy"
    below.mkdir()
    assert probe_app(below)["port"] == "5124"


def test_the_real_environment_wins_over_dot_env(tmp_path) -> None:
    (tmp_path / ".env").write_text("ASYNC_MODE=threading\nPORT=5123\n")
    chosen = probe_app(tmp_path, ASYNC_MODE="eventlet", PORT="6000")
    assert chosen["async_mode"] == "eventlet" and chosen["socket_is_green"] is True
    assert chosen["port"] == "6000"


def test_eventlet_from_dot_env_still_patches_everything_loaded_before_it(tmp_path) -> None:
    """python-dotenv imports logging (and threading) before the monkey patch runs: the patch
    must still green the lock logging created, as it does for eventlet's own imports."""
    (tmp_path / ".env").write_text("ASYNC_MODE=eventlet\n")
    chosen = probe_app(tmp_path)
    assert chosen["async_mode"] == "eventlet"
    assert chosen["socket_is_green"] is True and chosen["logging_lock_is_green"] is True


def test_copying_the_example_changes_nothing_and_its_defaults_are_the_real_ones() -> None:
    """`cp .env.example .env` then `make run` must behave as `make run` alone; production must
    still refuse to start until real secrets are filled in."""
    example = {
        key: value or ""
        for key, value in dotenv_values(ROOT / ".env.example").items()
        if key != "APP_CONFIG"
    }
    assert load_config("development", example) == load_config("development", {})
    with pytest.raises(ConfigError) as raised:
        load_config("production", example)
    assert [problem.split()[0] for problem in raised.value.problems] == [
        "SECRET_KEY",
        "ADMIN_TOKEN",
        "JOIN_TOKEN_SECRET",
    ]


def test_without_dot_env_nothing_changes(tmp_path) -> None:
    chosen = probe_app(tmp_path)
    assert chosen["async_mode"] == "eventlet" and chosen["port"] is None


# --- access control (DESIGN section 10) ------------------------------------------------------


def test_auth_mode_is_open_for_development_and_token_for_production() -> None:
    assert load_config("development", {})["AUTH_MODE"] == "open"
    assert load_config("testing", {})["AUTH_MODE"] == "open"
    assert load_config("production", PRODUCTION)["AUTH_MODE"] == "token"
    assert load_config("development", {"AUTH_MODE": "TOKEN"})["AUTH_MODE"] == "token"


def test_development_has_a_join_token_secret_and_no_service_token() -> None:
    settings = load_config("development", {})
    assert settings["JOIN_TOKEN_SECRET"] == DEV_JOIN_TOKEN_SECRET
    assert len(DEV_JOIN_TOKEN_SECRET.encode()) >= 32
    assert settings["SERVICE_TOKEN"] is None
    assert settings["JOIN_TOKEN_MAX_TTL_SECS"] == 86400


@pytest.mark.parametrize(
    ("name", "value"),
    [("AUTH_MODE", "closed"), ("JOIN_TOKEN_MAX_TTL_SECS", "0"), ("JOIN_TOKEN_MAX_TTL_SECS", "1h")],
)
def test_a_bad_access_setting_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config("development", {name: value})
    assert [problem.split()[0] for problem in raised.value.problems] == [name]


def test_production_runs_open_only_when_told_and_says_so(caplog) -> None:
    environ = {key: value for key, value in PRODUCTION.items() if key != "JOIN_TOKEN_SECRET"}
    with caplog.at_level(logging.WARNING, logger="config"):
        settings = load_config("production", {**environ, "AUTH_MODE": "open"})
    assert settings["AUTH_MODE"] == "open"
    assert "AUTH_MODE=open in production" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="config"):
        load_config("production", PRODUCTION)
    assert "AUTH_MODE" not in caplog.text


@pytest.mark.parametrize(
    "name", ["SECRET_KEY", "ADMIN_TOKEN", "SERVICE_TOKEN", "JOIN_TOKEN_SECRET"]
)
@pytest.mark.parametrize(
    "value", ["a", "b" * 31, "é" * 15, "change-me", "CHANGE-ME", "changeme", "secret"]
)
def test_production_refuses_a_short_or_placeholder_secret_in_one_line(
    name: str, value: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config("production", {**PRODUCTION, name: value})
    [problem] = raised.value.problems
    assert problem.startswith(f"{name} ")
    assert "\n" not in problem
    assert " placeholder " in problem or " at least 32 bytes " in problem


def test_the_development_defaults_are_refused_in_production() -> None:
    for name, value in (
        ("SECRET_KEY", DEV_SECRET_KEY),
        ("ADMIN_TOKEN", DEV_ADMIN_TOKEN),
        ("JOIN_TOKEN_SECRET", DEV_JOIN_TOKEN_SECRET),
    ):
        with pytest.raises(ConfigError, match=name):
            load_config("production", {**PRODUCTION, name: value})


def test_what_the_issue_saw_start_a_production_server_no_longer_does() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config("production", {"SECRET_KEY": "a", "ADMIN_TOKEN": "b"})
    assert [problem.split()[0] for problem in raised.value.problems] == [
        "SECRET_KEY",
        "ADMIN_TOKEN",
        "JOIN_TOKEN_SECRET",
    ]


def test_every_secret_value_in_the_env_example_is_refused_in_production() -> None:
    example = dotenv_values(ROOT / ".env.example")
    for name in ("SECRET_KEY", "ADMIN_TOKEN", "SERVICE_TOKEN", "JOIN_TOKEN_SECRET"):
        value = example.get(name)
        if value:
            with pytest.raises(ConfigError, match=name):
                load_config("production", {**PRODUCTION, name: value})


def test_the_service_token_must_differ_from_the_admin_token() -> None:
    with pytest.raises(ConfigError, match="SERVICE_TOKEN must differ from ADMIN_TOKEN"):
        load_config("development", {"SERVICE_TOKEN": DEV_ADMIN_TOKEN})
    settings = load_config("production", {**PRODUCTION, "SERVICE_TOKEN": "s" * 32})
    assert settings["SERVICE_TOKEN"] == "s" * 32
