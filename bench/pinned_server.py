"""One production-mode SessionHub process pinned to core 1 for the scale and soak benchmarks.

The load generator pins itself to core 0, so on a 2-core machine the server's event loop gets a
core of its own and the numbers measure the server, not a fight for the CPU. The server reads
its settings from the environment only (PYTHON_DOTENV_DISABLED) and never sweeps by itself
(SESSION_CLEANUP_INTERVAL=0): the benchmark decides when a sweep runs.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
ADMIN_TOKEN = "bench-admin-token-not-secret"
START_TIMEOUT = 60.0
SERVER_CORE = 1
CLIENT_CORE = 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pin_this_process_to_client_core() -> None:
    """The driver and its threads share core 0, leaving core 1 to the server."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > CLIENT_CORE:
        os.sched_setaffinity(0, {CLIENT_CORE})


class PinnedServer:
    """Starts `script` (app.py or a wrapper of it) under `taskset -c 1`; stopped by its pid."""

    def __init__(
        self, database_url: str, log_path: Path, script: str = "app.py", **env: str
    ) -> None:
        self.database_url = database_url
        self.log_path = log_path
        self.script = script
        self.port = free_port()
        self.extra_env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
        env.update(
            {
                "APP_CONFIG": "production",
                "SECRET_KEY": "bench-secret-key-not-secret",
                "ADMIN_TOKEN": ADMIN_TOKEN,
                "DATABASE_URL": self.database_url,
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "SESSION_MAX_CONCURRENT": "0",
                "SESSION_CLEANUP_INTERVAL": "0",
                "EVENT_LOOP_LAG_WARN_MS": "50",
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
                "PYTHON_DOTENV_DISABLED": "1",
                "FLASK_SKIP_DOTENV": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> PinnedServer:
        command = [sys.executable, self.script]
        if (os.cpu_count() or 1) > SERVER_CORE:
            command = ["taskset", "-c", str(SERVER_CORE), *command]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.environment(), stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.api}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready in {START_TIMEOUT}s:\n{self.log()}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to our own child (taskset execs the server, so the pid is the server's)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stall_warnings(self) -> list[float]:
        """Every stall the server's lag probe logged (ms), longest first."""
        found = re.findall(r"woke ([0-9.]+) ms late", self.log_path.read_text(errors="replace"))
        return sorted((float(ms) for ms in found), reverse=True)
