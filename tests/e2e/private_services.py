"""A PRIVATE PostgreSQL and a PRIVATE Redis for fault tests, on free loopback ports.

Fault tests stop, restart and kill the database and the message queue under a running server.
Doing that to the shared services on 5432/6379 would break every other test run on the
machine, so each test that needs an outage gets servers of its own: a throwaway PostgreSQL
cluster (initdb into a temporary directory, run as the `postgres` OS user because PostgreSQL
refuses to run as root) and a `redis-server` subprocess that persists nothing. Everything is
stopped by pid or data directory and removed in teardown, even when the test fails.

Import the fixtures into a test module to use them (pytest finds fixtures by module namespace):
`from tests.e2e.private_services import private_postgres_fixture  # noqa: F401`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask_migrate import upgrade

from backend import create_app
from backend.extensions import db
from tests.conftest import app_overrides
from tests.e2e.conftest import wait_for
from tests.e2e.server import ServerProcess, free_port

POSTGRES_USER = "postgres"
POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"
# Generous: a 2-core machine running several servers can be slow to start or stop a cluster.
SERVICE_TIMEOUT = 30.0


def _process_gone(pid: int) -> bool:
    """True when `pid` has exited (a zombie counts as gone: it holds no socket or memory)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    # The state follows the parenthesised command name, which may itself contain spaces.
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def migrate(database_url: str) -> None:
    """Bring an empty database to our schema with the Alembic scripts, as
    `tests.conftest.migrated_database` does for the shared databases (never create_all)."""
    migrator = create_app("testing", app_overrides(database_url))
    with migrator.app_context():
        upgrade()
        db.engine.dispose()


class PrivatePostgres:
    """One throwaway PostgreSQL cluster: initdb'd in a temporary directory owned by `postgres`,
    listening on 127.0.0.1:`port` only, trust authentication, its socket in that directory.

    `stop()` is a clean outage (`pg_ctl stop -m fast`: sessions are cut, the port closes),
    `kill()` a crash of the postmaster, `start()` brings it back with the same data and port.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        # Not pytest's tmp_path: its parents are root-only (0700), and postgres must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="sessionhub-pg-"))
        self.data = self.root / "data"
        self.server_log = self.root / "postgres.log"
        self.ctl_log = self.root / "ctl.log"
        user = pwd.getpwnam(POSTGRES_USER)
        os.chown(self.root, user.pw_uid, user.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str, timeout: float = SERVICE_TIMEOUT) -> None:
        """Run a PostgreSQL tool as the postgres user; its output goes to a file, not a pipe,
        because `pg_ctl start` leaves a daemon behind that could hold a pipe open forever."""
        argv = [str(self.bin_dir / command[0]), *command[1:]]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", POSTGRES_USER, "--", *argv]
        with self.ctl_log.open("ab") as output:
            completed = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output, timeout=timeout
            )
        if completed.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} exited with {completed.returncode}:\n{self.logs()}"
            )

    def init(self) -> PrivatePostgres:
        # --no-sync and fsync=off: nothing here must survive a power cut, and it saves seconds.
        self._run(
            "initdb", "-D", str(self.data), "-U", POSTGRES_USER, "-A", "trust", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip
        return self

    def start(self) -> PrivatePostgres:
        """Start (or restart after stop/kill) and return once it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        deadline = time.monotonic() + SERVICE_TIMEOUT
        while True:
            try:
                self._run(
                    "pg_ctl", "start", "-w", "-t", str(int(SERVICE_TIMEOUT)), "-D",
                    str(self.data), "-l", str(self.server_log), "-o", options,
                )  # fmt: skip
                return self
            except RuntimeError:
                # After kill() the old backends may hold shared memory for a moment longer.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        """A clean, fast shutdown: every session is terminated, then the port closes."""
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data))

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def is_running(self) -> bool:
        pid = self.postmaster_pid()
        return pid is not None and not _process_gone(pid)

    def kill(self) -> None:
        """kill -9 the postmaster (a crash); its backends notice and exit on their own."""
        pid = self.postmaster_pid()
        if pid is None or _process_gone(pid):
            return
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: _process_gone(pid), SERVICE_TIMEOUT, f"postmaster {pid} did not die")
        wait_for(lambda: not _port_open(self.port), SERVICE_TIMEOUT, "the port stayed open")

    def cleanup(self) -> None:
        """Teardown: stop whatever still runs (immediately, nothing to keep), remove the files."""
        try:
            if self.is_running():
                try:
                    self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data))
                except (RuntimeError, subprocess.TimeoutExpired):
                    self.kill()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> str:
        paths = (self.ctl_log, self.server_log)
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in paths if p.exists())


def postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin directory with initdb and pg_ctl, if any."""
    candidates = sorted(
        (Path(path) for path in glob.glob(POSTGRES_BIN_GLOB)),
        key=lambda path: [int(part) for part in path.parent.name.split(".") if part.isdigit()],
    )
    for path in reversed(candidates):
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    return None


def skip_unless_postgres_can_run() -> Path:
    """Skip the test, saying why, unless we can initdb a cluster of our own here."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip(f"a private PostgreSQL needs initdb and pg_ctl in {POSTGRES_BIN_GLOB}")
    try:
        pwd.getpwnam(POSTGRES_USER)
    except KeyError:
        pytest.skip(f"a private PostgreSQL needs the {POSTGRES_USER!r} OS user")
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != POSTGRES_USER:
        pytest.skip(f"a private PostgreSQL must run as root (to become {POSTGRES_USER!r}) or as it")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("a private PostgreSQL needs runuser to drop root privileges")
    return bin_dir


@pytest.fixture(name="private_postgres")
def private_postgres_fixture() -> Iterator[PrivatePostgres]:
    """A running private PostgreSQL whose `postgres` database is migrated to our schema."""
    cluster = PrivatePostgres(skip_unless_postgres_can_run())
    try:
        cluster.init().start()
        migrate(cluster.url)
        yield cluster
    finally:
        cluster.cleanup()


class PrivateRedis:
    """A `redis-server` subprocess on a loopback port that saves nothing to disk; stopped
    and killed by its pid, restartable on the same port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.log_path = directory / f"redis-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.directory)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for(self._answers, SERVICE_TIMEOUT, f"redis-server did not answer:\n{self.logs()}")
        return self

    def _answers(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited:\n{self.logs()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis closes every client connection and exits), SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(SERVICE_TIMEOUT)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""


@pytest.fixture(name="private_redis")
def private_redis_fixture(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A running private Redis, killed in teardown."""
    if shutil.which("redis-server") is None:
        pytest.skip("a private Redis needs redis-server on the PATH")
    server = PrivateRedis(tmp_path)
    try:
        yield server.start()
    finally:
        server.kill()


@pytest.fixture(name="launch_server")
def launch_server_fixture(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Starts `python app.py` on any database URL (the e2e `start_server` fixture is bound to
    the shared test database); every server is stopped in teardown, by pid."""
    servers: list[ServerProcess] = []

    def launch(database_url: str, **env: str) -> ServerProcess:
        server = ServerProcess(database_url, tmp_path / f"private-server-{len(servers)}.log", env)
        servers.append(server)
        return server.start()

    yield launch
    for server in servers:
        server.stop()
