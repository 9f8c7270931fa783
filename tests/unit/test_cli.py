"""`flask sessions ...` through Flask's CLI runner, on the same database as the API."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import ADMIN
from tests.entry_points import FLASK, PYTHON_APP, run
from tests.helpers import create_session as create


@pytest.fixture()
def runner(app):
    return app.test_cli_runner()


def test_list_as_a_table_and_as_json(runner, client) -> None:
    session_id = create(client)
    table = runner.invoke(args=["sessions", "list"])
    assert table.exit_code == 0
    assert table.output.splitlines()[0].split() == [
        "SESSION_ID",
        "PROJECT_ID",
        "ACTIVE_CLIENTS",
        "LAST_ACTIVITY",
        "IS_ACTIVE",
    ]
    assert session_id in table.output
    as_json = runner.invoke(args=["sessions", "list", "--json"])
    assert [row["session_id"] for row in json.loads(as_json.output)] == [session_id]


def test_list_says_when_there_is_nothing(runner) -> None:
    result = runner.invoke(args=["sessions", "list", "--status", "ended"])
    assert result.exit_code == 0 and result.output.strip() == "no ended sessions"


def test_show_and_its_errors(runner, client) -> None:
    session_id = create(client, title="Board")
    shown = runner.invoke(args=["sessions", "show", session_id, "--json"])
    assert json.loads(shown.output)["title"] == "Board"
    lines = runner.invoke(args=["sessions", "show", session_id]).output
    assert any(line.startswith("title") and "Board" in line for line in lines.splitlines())
    missing = runner.invoke(args=["sessions", "show", "not-a-session"])
    assert missing.exit_code != 0 and "session_not_found" in missing.output


def test_end_is_idempotent(runner, client) -> None:
    session_id = create(client)
    first = runner.invoke(args=["sessions", "end", session_id])
    assert first.exit_code == 0 and "ended (ended_by_admin)" in first.output
    again = runner.invoke(args=["sessions", "end", session_id, "--json"])
    assert json.loads(again.stdout)["end_reason"] == "ended_by_admin"


def test_cleanup_dry_run_then_real(make_app, clock) -> None:
    # Only the idle rule: with the never-joined rule on, these unjoined sessions would end as
    # `never_joined` instead of `admin_cleanup`.
    app = make_app(SESSION_EMPTY_TIMEOUT_SECS=0)
    runner, client = app.test_cli_runner(), app.test_client()
    idle, pinned = create(client), create(client)
    client.patch(f"/api/v1/sessions/{pinned}", json={"pinned": True}, headers=ADMIN)
    clock.advance(hours=3)
    dry = runner.invoke(args=["sessions", "cleanup", "--max-inactive-hours", "2", "--dry-run"])
    assert dry.exit_code == 0 and "would end 1 session(s)" in dry.output and idle in dry.output
    assert client.get(f"/api/v1/sessions/{idle}").json["is_active"] is True
    real = runner.invoke(args=["sessions", "cleanup", "--max-inactive-hours", "2", "--json"])
    body = json.loads(real.stdout)
    assert body["removed_sessions"] == [{"session_id": idle, "reason": "admin_cleanup"}]
    assert client.get(f"/api/v1/sessions/{pinned}").json["is_active"] is True


@pytest.mark.parametrize("hours", ["0", "-1", "abc", "1e12"])
def test_cleanup_refuses_a_bad_threshold(runner, hours) -> None:
    result = runner.invoke(args=["sessions", "cleanup", "--max-inactive-hours", hours])
    assert result.exit_code == 2


def test_flask_run_is_refused_with_a_clear_message() -> None:
    """`flask run` would serve from a process with no instance row, so every join would fail."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    flask = Path(sys.executable).with_name("flask")
    finished = subprocess.run(
        [str(flask), "--app", "backend:create_app", "run", "--port", "0"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    assert "make run" in finished.stderr and "python app.py" in finished.stderr


# --- what the operator is told ---------------------------------------------------------------


def test_end_without_a_message_queue_warns_that_no_client_was_told(make_app, client) -> None:
    """A CLI process holds no sockets: only a queue carries `session_ended` to the servers."""
    app = make_app(SOCKETIO_MESSAGE_QUEUE=None)
    session_id = create(app.test_client())
    result = app.test_cli_runner().invoke(args=["sessions", "end", session_id, "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["end_reason"] == "ended_by_admin"
    assert "SOCKETIO_MESSAGE_QUEUE is not set, so no connected client was told" in result.stderr
    assert "DELETE /api/v1/sessions/<id>" in result.stderr


def test_end_with_a_message_queue_does_not_warn(make_app) -> None:
    app = make_app(SOCKETIO_MESSAGE_QUEUE=None)
    session_id = create(app.test_client())
    # Only the setting is read by the warning; the test server keeps emitting in-process.
    app.config["SOCKETIO_MESSAGE_QUEUE"] = "redis://127.0.0.1:6379/0"
    result = app.test_cli_runner().invoke(args=["sessions", "end", session_id])
    assert result.exit_code == 0 and result.stderr == ""


def test_cleanup_without_a_message_queue_warns_only_when_it_ended_something(
    make_app, clock
) -> None:
    app = make_app(SOCKETIO_MESSAGE_QUEUE=None, SESSION_EMPTY_TIMEOUT_SECS=0)
    runner = app.test_cli_runner()
    create(app.test_client())
    clock.advance(hours=3)
    dry = runner.invoke(args=["sessions", "cleanup", "--max-inactive-hours", "2", "--dry-run"])
    assert dry.exit_code == 0 and dry.stderr == ""
    real = runner.invoke(args=["sessions", "cleanup", "--max-inactive-hours", "2"])
    assert real.exit_code == 0 and "1 session(s) ended in the database" in real.stderr
    again = runner.invoke(args=["sessions", "cleanup", "--max-inactive-hours", "2"])
    assert again.exit_code == 0 and again.stderr == ""


# --- a bad configuration, from every entry point ---------------------------------------------

BAD_PRODUCTION = {"APP_CONFIG": "production", "PORT": "70000"}
EVERY_PROBLEM = (
    "sessionhub: configuration error: SECRET_KEY must be set when APP_CONFIG=production; "
    "ADMIN_TOKEN must be set when APP_CONFIG=production; "
    "JOIN_TOKEN_SECRET must be set when APP_CONFIG=production and AUTH_MODE=token; "
    "PORT must be between 0 and 65535, got 70000"
)


@pytest.mark.parametrize(
    "command",
    [
        FLASK + ["db", "upgrade"],
        FLASK + ["sessions", "list"],
        FLASK + ["sessions", "end", str(uuid.uuid4())],
        FLASK + ["sessions", "cleanup", "--dry-run"],
        FLASK + ["routes"],
        PYTHON_APP,
    ],
    ids=["db-upgrade", "sessions-list", "sessions-end", "sessions-cleanup", "routes", "app.py"],
)
def test_a_bad_configuration_is_one_line_naming_every_problem_and_exit_2(
    command: list[str], tmp_path
) -> None:
    finished = run(command, tmp_path, **BAD_PRODUCTION)
    assert finished.returncode == 2, finished.stderr
    assert finished.stderr.splitlines() == [EVERY_PROBLEM]
    assert finished.stdout == ""


def test_the_flask_command_reads_dot_env_and_the_real_environment_wins(tmp_path) -> None:
    (tmp_path / ".env").write_text("APP_CONFIG=production\nPORT=70000\n")
    from_dot_env = run(FLASK + ["sessions", "list"], tmp_path)
    assert from_dot_env.returncode == 2
    assert from_dot_env.stderr.splitlines() == [EVERY_PROBLEM]
    overridden = run(FLASK + ["routes"], tmp_path, APP_CONFIG="development", PORT="5000")
    assert overridden.returncode == 0, overridden.stderr
    assert "/api/v1/sessions" in overridden.stdout
