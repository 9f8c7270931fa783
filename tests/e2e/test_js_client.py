"""The official JavaScript client (socket.io-client from npm) talks to us like a browser would."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

import requests

from tests.e2e.conftest import ADMIN, JS_DIR, SQLITE_ONLY, active_clients, create_session, wait_for
from tests.e2e.server import ROOT

README_TIMEOUT = 30.0


def run_presence_script(node: Path, url: str, session_id: str) -> dict:
    """presence.mjs: Ada and Bob join, Bob leaves, a malformed auth is refused; its report."""
    finished = subprocess.run(
        [str(node), "presence.mjs", url, session_id],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


def test_the_javascript_client_joins_sees_presence_and_leaves(server, node_client) -> None:
    session_id = create_session(server)
    report = run_presence_script(node_client, server.url, session_id)
    assert report["adaJoin"]["ok"] is True
    assert report["bobJoin"]["session"]["active_clients"] == 2
    assert [c["name"] for c in report["bobJoin"]["clients"]] == ["Ada", "Bob"]
    assert report["bobLeave"] == {"ok": True, "session_id": session_id, "active_clients": 1}
    joined, left = report["adaPresence"][:2]
    assert joined["active_clients"] == 2 and joined["joined"][0]["name"] == "Bob"
    assert left["active_clients"] == 1 and left["left"][0]["name"] == "Bob"
    assert report["refusal"]["data"]["code"] == "invalid_auth"
    wait_for(lambda: active_clients(server, session_id) == 0, 5, "the JS clients stayed counted")


# --- the README's client, as a reader would paste it ------------------------------------------


def readme_client(directory: Path) -> Path:
    """The README's one JavaScript snippet, saved as it tells the reader to (`join.mjs`), next
    to the locked socket.io-client."""
    blocks = re.findall(r"```js\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)
    assert len(blocks) == 1, "the README should hold exactly one JavaScript snippet"
    script = directory / "join.mjs"
    script.write_text(blocks[0])
    (directory / "node_modules").symlink_to(JS_DIR / "node_modules", target_is_directory=True)
    return script


class NodeOutput:
    """Lines a node process prints, read on a thread so the test can wait with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, wanted: str) -> None:
        deadline = time.monotonic() + README_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if line == wanted:
                return
        raise AssertionError(f"node never printed {wanted!r}; it printed {self.seen}")


@SQLITE_ONLY
def test_the_readme_javascript_snippet_runs_as_pasted(
    server, node_client, sio_clients, tmp_path
) -> None:
    session_id = create_session(server)
    script = readme_client(tmp_path)
    process = subprocess.Popen(
        [str(node_client), script.name, session_id, server.url],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    output = NodeOutput(process)
    try:
        output.expect("joined: Ada here; document version 0, 0 node(s)")
        bob = sio_clients(server.url, name="Bob")
        assert bob.call("join_session", {"session_id": session_id}, timeout=10)["ok"] is True
        output.expect("presence: 2 here; joined: Bob; left: nobody")
        op = {"type": "add_node", "node_id": "n1", "props": {"x": 1}}
        assert bob.call("operation", {"session_id": session_id, "op": op}, timeout=10)["ok"]
        output.expect("operation: version 1, add_node n1 by Bob")
        ended = requests.delete(f"{server.api}/sessions/{session_id}", headers=ADMIN, timeout=5)
        assert ended.status_code == 200, ended.text
        output.expect("ended: ended_by_admin")
        # The snippet disconnects when its session ends, so node exits by itself.
        assert process.wait(README_TIMEOUT) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()  # by its pid: only the process this test started
            process.wait(10)
        output.reader.join(10)  # it ends at the pipe's end, which came with the exit
        process.stdout.close()
        process.stderr.close()


@SQLITE_ONLY
def test_the_readme_javascript_snippet_reports_a_refused_join(server, node_client, tmp_path):
    script = readme_client(tmp_path)
    finished = subprocess.run(
        [str(node_client), script.name, str(uuid.uuid4()), server.url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 1, finished.stdout + finished.stderr
    assert finished.stderr.startswith("refused: session_not_found: ")
