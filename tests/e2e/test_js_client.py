"""The official JavaScript client (socket.io-client from npm) talks to us like a browser would."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import active_clients, create_session, wait_for

JS_DIR = Path(__file__).with_name("js")


@pytest.fixture(scope="session")
def node_client() -> Path:
    """Installs the locked socket.io-client once per run; skips where Node.js is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("the JavaScript client test needs node and npm on PATH")
    if not (JS_DIR / "node_modules" / "socket.io-client").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS_DIR,
            check=True,
            timeout=300,
        )
    return Path(node)


def test_the_javascript_client_joins_sees_presence_and_leaves(server, node_client) -> None:
    session_id = create_session(server)
    finished = subprocess.run(
        [str(node_client), "presence.mjs", server.url, session_id],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["adaJoin"]["ok"] is True
    assert report["bobJoin"]["session"]["active_clients"] == 2
    assert [c["name"] for c in report["bobJoin"]["clients"]] == ["Ada", "Bob"]
    assert report["bobLeave"] == {"ok": True, "session_id": session_id, "active_clients": 1}
    joined, left = report["adaPresence"][:2]
    assert joined["active_clients"] == 2 and joined["joined"][0]["name"] == "Bob"
    assert left["active_clients"] == 1 and left["left"][0]["name"] == "Bob"
    assert report["refusal"]["data"]["code"] == "invalid_auth"
    wait_for(lambda: active_clients(server, session_id) == 0, 5, "the JS clients stayed counted")
