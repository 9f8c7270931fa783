"""One production-mode SessionHub process pinned to core 1 for the scale and soak benchmarks.

The load generator pins itself to core 0, so on a 2-core machine the server's event loop gets a
core of its own and the numbers measure the server, not a fight for the CPU. The server reads
its settings from the environment only (PYTHON_DOTENV_DISABLED) and never sweeps by itself
(SESSION_CLEANUP_INTERVAL=0): the benchmark decides when a sweep runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.server import ROOT, ServerProcess

ADMIN_TOKEN = "bench-admin-token-not-secret-0123456789"
SERVER_CORE = 1
CLIENT_CORE = 0


def pin_this_process_to_client_core() -> None:
    """The driver and its threads share core 0, leaving core 1 to the server."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > CLIENT_CORE:
        os.sched_setaffinity(0, {CLIENT_CORE})


class PinnedServer(ServerProcess):
    """The e2e tests' server process (free port, readiness, SIGTERM then SIGKILL, by pid) in
    production mode, running `script` (app.py or a wrapper of it) under `taskset -c 1`."""

    def __init__(
        self, database_url: str, log_path: Path, script: str = "app.py", **env: str
    ) -> None:
        super().__init__(database_url, log_path, env)
        self.script = script

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env.update(
            {
                "APP_CONFIG": "production",
                "SECRET_KEY": "bench-secret-key-not-secret-0123456789",
                # The scale and soak clients join without tokens, as before access control.
                "AUTH_MODE": "open",
                "ADMIN_TOKEN": ADMIN_TOKEN,
                "SESSION_MAX_CONCURRENT": "0",
                "EVENT_LOOP_LAG_WARN_MS": "50",
                "LOG_LEVEL": "WARNING",
                # Production's ping timings, not the e2e tests' short ones.
                "SOCKETIO_PING_INTERVAL": "25",
                "SOCKETIO_PING_TIMEOUT": "20",
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
        self.wait_ready()
        return self

    def stall_warnings(self) -> list[float]:
        """Every stall the server's lag probe logged (ms), longest first."""
        found = re.findall(r"woke ([0-9.]+) ms late", self.log_path.read_text(errors="replace"))
        return sorted((float(ms) for ms in found), reverse=True)
