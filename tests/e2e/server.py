"""A real SessionHub server process (`python app.py`, eventlet) on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
# Long enough for production's secret rules, so a test can switch APP_CONFIG alone.
ADMIN_TOKEN = "e2e-admin-token-long-enough-for-production"
JOIN_TOKEN_SECRET = "e2e-join-token-secret-long-enough-for-production"
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """Starts, stops and kills one server; tests end it by its pid, never by name."""

    def __init__(self, database_url: str, log_path: Path, env: Mapping[str, str] | None = None):
        self.database_url = database_url
        self.log_path = log_path
        self.port = free_port()
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    def run_until_exit(self, timeout: float) -> subprocess.CompletedProcess[str]:
        """Run `python app.py` in the foreground for a start-up that must refuse: its exit code
        and output. Fails the test (after killing it, by its pid) if it is still running."""
        process = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env=self.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()  # by its pid: only the process this test started
            process.communicate()
            raise AssertionError(f"app.py was still running after {timeout} s") from None
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
        env.update(
            {
                "APP_CONFIG": "development",
                "DATABASE_URL": self.database_url,
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "ADMIN_TOKEN": ADMIN_TOKEN,
                "JOIN_TOKEN_SECRET": JOIN_TOKEN_SECRET,
                "SESSION_CLEANUP_INTERVAL": "0",
                "SOCKETIO_PING_INTERVAL": "1",
                "SOCKETIO_PING_TIMEOUT": "2",
                "LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
                # A developer's .env (app.py and `flask` read it) must not change a test server.
                "PYTHON_DOTENV_DISABLED": "1",
                "FLASK_SKIP_DOTENV": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> ServerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.api}/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become ready in {START_TIMEOUT}s:\n{self.log()}")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout)

    def kill(self) -> None:
        """kill -9: no handler runs, nothing is cleaned up."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


@contextmanager
def server_starter(database_url: str, log_dir: Path) -> Iterator[Callable[..., ServerProcess]]:
    """`start(**env)` runs one more `python app.py` on `database_url`, each on its own port and
    with its own log; every one is stopped on the way out."""
    servers: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        server = ServerProcess(database_url, log_dir / f"server-{len(servers)}.log", env)
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
