"""Configuration: every variable parsed and validated, with the variable named on failure."""

from __future__ import annotations

import logging

import pytest

from config import DEV_ADMIN_TOKEN, ConfigError, load_config


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


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ADMIN_TOKEN"])
def test_production_refuses_to_start_without_secrets(missing: str) -> None:
    environ = {"SECRET_KEY": "s3cret", "ADMIN_TOKEN": "t0ken"}
    del environ[missing]
    with pytest.raises(ConfigError, match=missing):
        load_config("production", environ)


def test_production_refuses_the_development_token() -> None:
    with pytest.raises(ConfigError, match="ADMIN_TOKEN"):
        load_config("production", {"SECRET_KEY": "s3cret", "ADMIN_TOKEN": DEV_ADMIN_TOKEN})


def test_production_is_same_origin_unless_told(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_config("production", {"SECRET_KEY": "s", "ADMIN_TOKEN": "t"})
    assert settings["CORS_ALLOWED_ORIGINS"] is None


def test_production_warns_when_idle_timeout_is_shorter_than_a_reconnect(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="config"):
        load_config(
            "production", {"SECRET_KEY": "s", "ADMIN_TOKEN": "t", "SESSION_TIMEOUT_SECS": "60"}
        )
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
