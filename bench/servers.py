"""Servers under test for bench.socket_matrix: SessionHub and the plain baseline, pinned to core 1.

Why a module of its own: both servers must be started, read and stopped the same way (one
pid, the same /proc readings, the same Prometheus histogram), or the comparison would measure
the harness instead of the servers. Each runs `taskset -c 1` (the load generator has core 0),
on a free loopback port, and is stopped by its pid in a `finally` block: SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.e2e.server import free_port

ROOT = Path(__file__).resolve().parents[1]
SERVER_CORE = "1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
LAG_METRIC = "sessionhub_event_loop_lag_seconds_bucket"
SERVER_NAMES = ("sessionhub", "baseline")


@dataclass
class RunningServer:
    """One started server: its process, address and log."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    # Added to the load generator's setup command: SessionHub runs in AUTH_MODE=token, so the
    # generator creates sessions with the service token and joins with minted join tokens.
    setup_options: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_kib(self) -> int:
        """VmRSS from /proc: what the process holds in memory now."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc status")

    def cpu_seconds(self) -> float:
        """utime + stime (fields 14 and 15 of /proc/<pid>/stat, after the command name)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def runqueue_wait_seconds(self) -> float:
        """Time the server was runnable but waiting for a CPU (/proc/<pid>/schedstat, field 2).

        The server has core 1 to itself only if nothing else runs there; this shows when
        something did, so a failed step can be told apart from a starved one.
        """
        return int(Path(f"/proc/{self.pid}/schedstat").read_text().split()[1]) / 1e9

    def lag_buckets(self) -> dict[float, float]:
        """Cumulative counts of the event-loop lag histogram, by upper bound in seconds."""
        text = requests.get(f"{self.url}/api/v1/metrics", timeout=10).text
        buckets = {}
        for line in text.splitlines():
            if line.startswith(LAG_METRIC):
                bound = line.split('le="', 1)[1].split('"', 1)[0]
                buckets[float(bound)] = float(line.rsplit(" ", 1)[1])
        return buckets

    def connected_clients(self, timeout: float = 5.0) -> int:
        body = requests.get(f"{self.url}/api/v1/sessions/metrics", timeout=timeout).json()
        return int(body["connected_clients"])

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def lag_summary(before: dict[float, float], after: dict[float, float]) -> dict[str, float | None]:
    """p99 and max bucket bounds (ms) of the lag samples taken between two scrapes.

    The histogram is cumulative, so the difference of each bucket between scrapes counts the
    samples of the run at or under its bound; the max is the smallest bound holding them all.
    """
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return {"samples": 0, "p99_le_ms": None, "max_le_ms": None}

    def first_reaching(share: float) -> float:
        bound = next(b for b, count in zip(bounds, counts, strict=True) if count >= share * total)
        return bound * 1000 if bound != float("inf") else float("inf")

    return {
        "samples": int(total),
        "p99_le_ms": first_reaching(0.99),
        "max_le_ms": first_reaching(1),
    }


SERVICE_TOKEN = "bench-service-token-not-for-production-0123456789"


def sessionhub_env(database_url: str, port: int, async_mode: str) -> dict[str, str]:
    """Production defaults, with only what a benchmark must change set here."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        {
            "APP_CONFIG": "production",
            "SECRET_KEY": "bench-secret-key-not-for-production-use-0123456789",
            "ADMIN_TOKEN": "bench-admin-token-not-for-production-0123456789",
            # Production's default AUTH_MODE=token: every join checks a join token.
            "SERVICE_TOKEN": SERVICE_TOKEN,
            "JOIN_TOKEN_SECRET": "bench-join-token-secret-not-for-production-0123456789",
            "DATABASE_URL": database_url,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "SESSION_MAX_CONCURRENT": "0",
            "SOCKET_RATE_LIMIT": "1000000",  # the rate limit would hide the server's speed
            "EVENT_LOOP_LAG_WARN_MS": "50",
            "PYTHON_DOTENV_DISABLED": "1",
            "FLASK_SKIP_DOTENV": "1",
            "PYTHONUNBUFFERED": "1",
            "CORS_ALLOWED_ORIGINS": "*",
            "ASYNC_MODE": async_mode,
        }
    )
    return env


def start_process(
    name: str, argv: list[str], env: dict[str, str], directory: Path
) -> RunningServer:
    port = int(env["PORT"])
    log_path = directory / f"{name}-{port}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, *argv],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = RunningServer(name, process, port, log_path)
    try:
        wait_ready(server)
    except BaseException:
        stop(server)
        raise
    return server


def wait_ready(server: RunningServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited early:\n{server.log_tail()}")
        try:
            if requests.get(f"{server.url}/api/v1/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready in {START_TIMEOUT}s:\n{server.log_tail()}")


def stop(server: RunningServer) -> None:
    """SIGTERM by pid, then SIGKILL if it has not exited in STOP_TIMEOUT seconds."""
    if server.process.poll() is not None:
        return
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(STOP_TIMEOUT)


@contextmanager
def running(name: str, directory: Path, async_mode: str) -> Iterator[RunningServer]:
    """A fresh server of `name` (a new SQLite file for SessionHub), stopped whatever happens."""
    with ExitStack() as stack:
        port = free_port()
        if name == "sessionhub":
            from tests.conftest import migrated_database

            database_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=directory)))
            url = stack.enter_context(migrated_database("sqlite", database_dir))
            env = sessionhub_env(url, port, async_mode)
            argv = [sys.executable, "app.py"]
        elif name == "baseline":
            env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port)}
            env.update({"EVENT_LOOP_LAG_WARN_MS": "50", "PYTHONUNBUFFERED": "1"})
            argv = [sys.executable, "-m", "bench.baseline_server"]
        else:
            raise ValueError(f"unknown server {name!r}; choose from {SERVER_NAMES}")
        server = start_process(name, argv, env, directory)
        if name == "sessionhub":
            server.setup_options = {"service_token": SERVICE_TOKEN}
        try:
            yield server
        finally:
            stop(server)
