"""`flask sessions ...` through Flask's CLI runner, on the same database as the API."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ADMIN
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
    assert json.loads(again.output)["end_reason"] == "ended_by_admin"


def test_cleanup_dry_run_then_real(runner, client, clock) -> None:
    idle, pinned = create(client), create(client)
    client.patch(f"/api/v1/sessions/{pinned}", json={"pinned": True}, headers=ADMIN)
    clock.advance(hours=3)
    dry = runner.invoke(args=["sessions", "cleanup", "--max-inactive-hours", "2", "--dry-run"])
    assert dry.exit_code == 0 and "would end 1 session(s)" in dry.output and idle in dry.output
    assert client.get(f"/api/v1/sessions/{idle}").json["is_active"] is True
    real = runner.invoke(args=["sessions", "cleanup", "--max-inactive-hours", "2", "--json"])
    body = json.loads(real.output)
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
