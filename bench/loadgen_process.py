"""The Node load generator (bench/loadgen/loadgen.mjs) as a child process pinned to core 0.

Why over stdin: the generator connects its clients once per cell and then runs several rate
steps, so it stays alive and takes one JSON command per line, answering one JSON line each.
Every wait on it is bounded; it is ended by its pid.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

LOADGEN_DIR = Path(__file__).resolve().parent / "loadgen"
LOADGEN_CORE = "0"


class LoadgenError(RuntimeError):
    """The generator failed a command, answered nothing in time, or exited."""


class Loadgen:
    """One `node loadgen.mjs`; use as a context manager so it never outlives the harness."""

    def __init__(self, log_path: Path) -> None:
        if shutil.which("node") is None:
            raise LoadgenError("node is not on PATH")
        if not (LOADGEN_DIR / "node_modules" / "socket.io-client").is_dir():
            raise LoadgenError(f"run `npm ci` in {LOADGEN_DIR} first")
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            ["taskset", "-c", LOADGEN_CORE, "node", "loadgen.mjs"],
            cwd=LOADGEN_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.answers: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_answers, daemon=True).start()

    def _read_answers(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.answers.put(line)
        self.answers.put(None)

    def send(self, command: dict[str, Any]) -> None:
        """Write one command without waiting for its answer (see `answer`)."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def answer(self, timeout: float) -> dict[str, Any]:
        try:
            line = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise LoadgenError(f"no answer from the load generator in {timeout:.0f}s") from None
        if line is None:
            raise LoadgenError(f"the load generator exited ({self.process.poll()})")
        result = json.loads(line)
        if not result.get("ok"):
            raise LoadgenError(f"load generator error: {result.get('error')}")
        return result

    def call(self, command: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.send(command)
        return self.answer(timeout)

    def close(self) -> None:
        """Ask it to quit; kill it by pid if it has not gone in 5 s."""
        try:
            self.send({"cmd": "quit"})
            self.process.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(5)
        finally:
            self.log.close()

    def __enter__(self) -> Loadgen:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
