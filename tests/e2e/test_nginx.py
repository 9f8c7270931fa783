"""The committed cluster files work: nginx (deploy/nginx.conf) in front of two real processes.

nginx runs the committed deploy/nginx.conf with three substitutions only: the two upstream ports
(the test's servers), the listen port (a free loopback port) and `master_process off` (one
process, so the test owns nginx by a single pid and a SIGKILL can orphan no worker). The pid
file, logs and temp paths are the file's own relative paths, under a prefix in `tmp_path`.

Stickiness and the two backends. The committed upstream balances with `ip_hash`, which hashes
the first three octets of the client's IPv4 address. Every test client on 127.0.0.1 would hash
to ONE process, and the test would prove nothing about the second. Hashing on something else
(`$remote_addr$remote_port`, round robin) would spread them, but breaks long-polling: one
Socket.IO polling connection is several HTTP requests on different TCP connections (handshake,
POSTs, held GETs) and any process but the one that answered the handshake answers 400 "Invalid
session". So the test keeps the committed `ip_hash` and gives the clients different addresses
instead: Linux routes all of 127.0.0.0/8 to the loopback device, so a client socket bound to
127.0.N.1 reaches nginx on 127.0.0.1 from a different "host" per N. Consecutive /24s hash to
different upstreams with two servers (nginx's hash of 127.0.N differs by one per N), so the
four client hosts land on both processes; the test reads where each client landed from the
database (memberships.instance_id), checks that every client of one host landed on one process,
and reads nginx's access log ($upstream_addr) to check that every HTTP request of one host went
to that same process.

The servers run with APP_CONFIG=production, whose Socket.IO CORS policy is same-origin: a
WebSocket handshake through nginx is accepted only because nginx passes on the host the client
asked for with its port (`Host`/`X-Forwarded-Host $http_host`; with `$host` and no
X-Forwarded-Host every handshake is refused as "Not an accepted origin"), and a foreign Origin
is still refused.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from requests.adapters import HTTPAdapter
from sqlalchemy import create_engine, text

from tests.conftest import migrated_database
from tests.e2e.conftest import close_clients, recording_client, wait_for
from tests.e2e.server import ADMIN_TOKEN, ROOT, ServerProcess, free_port

NGINX_CONF = ROOT / "deploy" / "nginx.conf"
RUN_CLUSTER = ROOT / "deploy" / "run-cluster.sh"
REDIS_ENV = "TEST_REDIS_URL"
# Four client "hosts", two clients each (one WebSocket, one polling): see the module docstring.
CLIENT_HOSTS = ("127.0.1.1", "127.0.2.1", "127.0.3.1", "127.0.4.1")
TRANSPORTS = ("websocket", "polling")
INSTALL_TIMEOUT = 300
START_TIMEOUT = 15.0
# `$remote_addr [$time_local] "$request" $status $body_bytes_sent upstream=$upstream_addr ...`
ACCESS_LINE = re.compile(
    r'^(?P<addr>\S+) \[[^\]]*\] "(?P<method>\S+) (?P<path>\S+)[^"]*" (?P<status>\d{3}) \d+ '
    r"upstream=(?P<upstream>\S+)"
)


# --- finding (or installing) nginx -------------------------------------------------------------


def find_nginx() -> str | None:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def package_scripts_cannot_start_services() -> bool:
    """Whether a Debian package's postinst is kept from starting its service (policy-rc.d 101).

    Installing nginx where it may start must not leave a system nginx serving port 80 behind
    a test; container images deny service starts this way.
    """
    policy = Path("/usr/sbin/policy-rc.d")
    if not os.access(policy, os.X_OK):
        return False
    try:
        answer = subprocess.run([str(policy), "nginx", "start"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return answer.returncode == 101


def install_nginx() -> tuple[str | None, str]:
    """apt-get install nginx (as root only, bounded); returns (path or None, what happened)."""
    if os.geteuid() != 0:
        return None, "not root, so not installing it"
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        return None, "no apt-get to install it with"
    if not package_scripts_cannot_start_services():
        return None, "not installing it here: its package would start a system nginx service"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Debian 12's nginx is the server itself; nginx-light (older releases) the small build.
    install = [apt_get, "install", "-y", "--no-install-recommends"]
    failures: list[str] = []
    for refresh_first in (False, True):
        if refresh_first:  # the lists may be missing or stale
            update = subprocess.run(
                [apt_get, "update"], capture_output=True, text=True, env=env, timeout=300
            )
            if update.returncode != 0:
                failures.append(f"apt-get update: {update.stderr.strip()[-300:]}")
                break
        for package in ("nginx", "nginx-light"):
            try:
                done = subprocess.run(
                    [*install, package],
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=INSTALL_TIMEOUT,
                )
            except subprocess.TimeoutExpired:
                return None, f"apt-get install {package} took over {INSTALL_TIMEOUT}s"
            if done.returncode == 0 and (path := find_nginx()):
                return path, f"installed {package}"
            failures.append(f"apt-get install {package}: {done.stderr.strip()[-300:]}")
    return None, "; ".join(failures)


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    path = find_nginx()
    if path is None:
        path, what = install_nginx()
        if path is None:
            pytest.skip(f"the nginx tests need nginx (apt-get install nginx-light): {what}")
    return path


# --- nginx on the committed config -------------------------------------------------------------


def render_config(listen_port: int, upstream_ports: list[int]) -> str:
    """deploy/nginx.conf with the test's ports and one process; everything else as committed."""
    config = NGINX_CONF.read_text()
    config, listens = re.subn(
        r"^(\s*listen\s+)127\.0\.0\.1:\d+;", rf"\g<1>127.0.0.1:{listen_port};", config, flags=re.M
    )
    config, masters = re.subn(r"^master_process on;", "master_process off;", config, flags=re.M)
    servers = iter(upstream_ports)
    config, upstreams = re.subn(
        r"^(\s*server\s+)127\.0\.0\.1:\d+",
        lambda m: f"{m[1]}127.0.0.1:{next(servers)}",
        config,
        flags=re.M,
    )
    # The committed file is the documented two-process topology; if it changes shape, say so.
    assert (listens, masters, upstreams) == (1, 1, len(upstream_ports)), (
        "deploy/nginx.conf no longer has one `listen 127.0.0.1:PORT;`, one `master_process on;`"
        f" and {len(upstream_ports)} upstream `server 127.0.0.1:PORT` lines"
    )
    return config


@dataclass
class NginxProcess:
    """One foreground nginx (`daemon off`, one process) under `prefix`, ended by its pid."""

    binary: str
    prefix: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1"

    @property
    def access_log(self) -> Path:
        return self.prefix / "logs" / "access.log"

    def start(self, upstream_ports: list[int]) -> NginxProcess:
        (self.prefix / "logs").mkdir(parents=True)
        config = self.prefix / "nginx.conf"
        config.write_text(render_config(self.port, upstream_ports))
        stderr = (self.prefix / "logs" / "stderr.log").open("wb")
        # -e: the log nginx writes before it has read the config (else /var/log/nginx/...).
        self.process = subprocess.Popen(
            [self.binary, "-p", f"{self.prefix}/", "-c", str(config), "-e", "logs/error.log"],
            stdout=stderr,
            stderr=subprocess.STDOUT,
        )
        stderr.close()
        try:
            wait_for(self.ready, START_TIMEOUT, f"nginx did not answer on {self.url}")
        except AssertionError as error:
            raise AssertionError(f"{error}:\n{self.log()}") from None
        return self

    def ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"nginx exited with {self.process.returncode}:\n{self.log()}")
        try:
            return requests.get(f"{self.api}/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        """SIGTERM (fast shutdown, closes every connection), SIGKILL if that takes over 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def log(self) -> str:
        parts = []
        for name in ("stderr.log", "error.log"):
            path = self.prefix / "logs" / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def access_lines(self) -> list[re.Match[str]]:
        if not self.access_log.exists():
            return []
        lines = self.access_log.read_text(errors="replace").splitlines()
        return [match for line in lines if (match := ACCESS_LINE.match(line))]


# --- clients from chosen loopback addresses ----------------------------------------------------


class SourceAddressAdapter(HTTPAdapter):
    """requests' adapter whose connections leave from one local address (the client "host")."""

    def __init__(self, source: str) -> None:
        self.source = source  # before super().__init__, which builds the pool manager
        super().__init__()

    def init_poolmanager(self, *args: Any, **pool_kwargs: Any) -> None:
        pool_kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **pool_kwargs)


ClientFactory = Callable[..., socketio.Client]


@pytest.fixture()
def make_client() -> Iterator[ClientFactory]:
    """python-socketio clients bound to a source address, disconnected in teardown."""
    clients: list[socketio.Client] = []
    resources: list[requests.Session | socket.socket] = []

    def make(
        url: str, source: str, transport: str, name: str, origin: str | None = None
    ) -> socketio.Client:
        origin = origin or url  # as a browser on the page served at `url` would send
        options: dict[str, Any] = {}
        headers: dict[str, str] = {}
        if transport == "polling":
            http = requests.Session()
            http.mount("http://", SourceAddressAdapter(source))
            options["http_session"] = http
            resources.append(http)
            headers["Origin"] = origin
        else:
            # websocket-client takes a connected socket; the handshake then runs on it.
            host, port = url.removeprefix("http://").split(":")
            sock = socket.create_connection((host, int(port)), 10, source_address=(source, 0))
            options["websocket_extra_options"] = {"socket": sock, "origin": origin}
            resources.append(sock)
        client = recording_client(**options)
        clients.append(client)
        client.connect(
            url, auth={"name": name}, headers=headers, transports=[transport], wait_timeout=10
        )
        return client

    yield make
    close_clients(clients)
    for resource in resources:  # a refused handshake leaves its socket to us
        resource.close()


def received(client: socketio.Client, event: str) -> list[dict[str, Any]]:
    return [data for name, data in client.received if name == event]  # type: ignore[attr-defined]


def landed(database_url: str, session_id: str) -> dict[str, str]:
    """client name -> INSTANCE_NAME of the process holding its open membership."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT m.client_name, i.name FROM memberships m "
                    "JOIN instances i ON i.id = m.instance_id "
                    "WHERE m.session_id = :s AND m.left_at IS NULL"
                ),
                {"s": session_id},
            )
            return {row[0]: row[1] for row in rows}
    finally:
        engine.dispose()


def get_json(url: str) -> Any:
    response = requests.get(url, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def create_session(api: str) -> str:
    response = requests.post(f"{api}/sessions", json={"project_id": "nginx"}, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()["session_id"]


def redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"the nginx tests need the Redis message queue: set {REDIS_ENV}")
    return url


# --- nginx in front of two start_server processes ----------------------------------------------


@pytest.fixture()
def cluster(start_server: Callable[..., ServerProcess]) -> tuple[ServerProcess, ServerProcess]:
    """Two production-profile processes on one database and a queue channel of their own."""
    env = {
        "APP_CONFIG": "production",  # same-origin CORS: proves nginx forwards Host as sent
        "SECRET_KEY": uuid.uuid4().hex,
        # These clients join without tokens: what is under test is the proxy, not access.
        "AUTH_MODE": "open",
        "SOCKETIO_MESSAGE_QUEUE": redis_url(),
        "SOCKETIO_CHANNEL": f"sessionhub-test-{uuid.uuid4().hex}",
    }
    return (
        start_server(INSTANCE_NAME="nginx-a", **env),
        start_server(INSTANCE_NAME="nginx-b", **env),
    )


@pytest.fixture()
def nginx(
    nginx_binary: str, cluster: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> Iterator[NginxProcess]:
    proxy = NginxProcess(nginx_binary, tmp_path / "nginx", free_port())
    try:
        yield proxy.start([server.port for server in cluster])
    finally:
        proxy.stop()


def test_clients_through_nginx_share_one_session_across_both_processes(
    cluster: tuple[ServerProcess, ServerProcess],
    nginx: NginxProcess,
    make_client: ClientFactory,
) -> None:
    port_of = {"nginx-a": cluster[0].port, "nginx-b": cluster[1].port}
    session_id = create_session(nginx.api)

    # Join one at a time: the k-th join's ack counts exactly k clients.
    plan = [(source, transport) for source in CLIENT_HOSTS for transport in TRANSPORTS]
    clients: list[socketio.Client] = []
    names: list[str] = []
    for index, (source, transport) in enumerate(plan):
        name = f"{transport}-{index}@{source}"
        client = make_client(nginx.url, source, transport, name)
        assert client.transport() == transport  # never upgraded, never fell back
        ack = client.call("join_session", {"session_id": session_id}, timeout=10)
        assert ack["ok"], ack
        assert ack["session"]["active_clients"] == index + 1
        assert sorted(c["name"] for c in ack["clients"]) == sorted([*names, name])
        clients.append(client)
        names.append(name)
    total = len(clients)

    # Every client heard of each later join exactly once, and its last presence has the full
    # count. Each process coalesces its own joins per PRESENCE_COALESCE_MS window, so one diff
    # may name several joins and the two processes' diffs may interleave; a diff from the other
    # process whose window was open when a client joined may repeat clients its ack listed
    # (clients apply `joined` by client_id). The count a diff carries is read from the
    # database when its window closes.
    def heard_of(client: socketio.Client, later: list[str]) -> list[str]:
        joined = [c["name"] for p in received(client, "presence") for c in p["joined"]]
        return sorted(name for name in joined if name in later)

    for index, client in enumerate(clients):
        later = names[index + 1 :]
        wait_for(
            lambda client=client, later=later: (
                heard_of(client, later) == sorted(later)
                and (not later or received(client, "presence")[-1]["active_clients"] == total)
            ),
            10,
            f"{names[index]} did not hear of {len(later)} joins and the final count: "
            f"{received(client, 'presence')}",
        )
        earlier = set(names[: index + 1])
        for diff in received(client, "presence"):
            assert {c["name"] for c in diff["joined"]} <= earlier | set(later)

    # REST agrees, through nginx and on each process directly (counts live in the database).
    for api in (nginx.api, cluster[0].api, cluster[1].api):
        assert get_json(f"{api}/sessions/{session_id}")["active_clients"] == total
    listed = get_json(f"{nginx.api}/sessions/{session_id}/clients")
    assert sorted(c["name"] for c in listed["clients"]) == sorted(names)

    # Where they landed: both processes, and one process per client host (ip_hash).
    where = landed(cluster[0].database_url, session_id)
    assert sorted(where) == sorted(names)
    assert set(where.values()) == {"nginx-a", "nginx-b"}, f"all clients on one process: {where}"
    process_of_host: dict[str, str] = {}
    for name, instance in where.items():
        host = name.split("@")[1]
        assert process_of_host.setdefault(host, instance) == instance, (
            f"clients of {host} landed on two processes: {where}"
        )

    # Each client's operation reaches every other client, whichever process holds it.
    for index, (client, name) in enumerate(zip(clients, names, strict=True)):
        op = {"type": "add_node", "node_id": name, "props": {"by": name}}
        ack = client.call("operation", {"session_id": session_id, "op": op}, timeout=10)
        assert ack == {"ok": True, "version": index + 1}, ack
    for client, name in zip(clients, names, strict=True):
        wait_for(
            lambda client=client: len(received(client, "operation")) >= total - 1,
            10,
            f"{name} did not receive every other client's operation",
        )
        operations = received(client, "operation")
        assert sorted(o["op"]["node_id"] for o in operations) == sorted(set(names) - {name})
        assert [o["version"] for o in operations] == [
            version for version in range(1, total + 1) if names[version - 1] != name
        ]
    document = get_json(f"{nginx.api}/sessions/{session_id}/document")
    assert document["version"] == total and len(document["nodes"]) == total

    # Every HTTP request so far (handshakes, polling POSTs and GETs, REST) was answered 2xx:
    # no polling request reached a process that did not know its sid.
    before_disconnect = nginx.access_lines()
    bad = [m[0] for m in before_disconnect if not m["status"].startswith("2")]
    assert not bad, bad

    for client in clients:
        client.disconnect()
    wait_for(
        lambda: get_json(f"{nginx.api}/sessions/{session_id}")["active_clients"] == 0,
        10,
        "the count did not return to 0",
    )
    for server in cluster:
        assert get_json(f"{server.api}/sessions/{session_id}")["active_clients"] == 0
    assert get_json(f"{nginx.api}/sessions/{session_id}/clients")["clients"] == []

    # nginx logs a WebSocket when it closes: then every request of one client host, WebSocket
    # or polling, names that host's process as its upstream.
    def socket_lines() -> list[re.Match[str]]:
        return [m for m in nginx.access_lines() if m["path"].startswith("/socket.io/")]

    wait_for(
        lambda: sum(m["status"] == "101" for m in socket_lines()) == len(CLIENT_HOSTS),
        10,
        "nginx did not log every WebSocket as closed",
    )
    for host in CLIENT_HOSTS:
        upstreams = {m["upstream"] for m in socket_lines() if m["addr"] == host}
        expected = f"127.0.0.1:{port_of[process_of_host[host]]}"
        assert upstreams == {expected}, f"{host}: {upstreams}, its clients are on {expected}"
        paths = [(m["path"], m["status"]) for m in socket_lines() if m["addr"] == host]
        assert any("transport=polling" in path for path, _ in paths), f"no polling from {host}"
        assert "101" in {status for _, status in paths}, f"no WebSocket from {host}"

    # The same-origin policy is in force through nginx: a foreign Origin is refused.
    with pytest.raises(socketio.exceptions.ConnectionError):
        make_client(nginx.url, "127.0.9.1", "websocket", "intruder", "http://evil.example.test")
    wait_for(
        lambda: any(m["addr"] == "127.0.9.1" and m["status"] == "400" for m in socket_lines()),
        5,
        "the process did not answer the foreign Origin's handshake with 400",
    )


# --- the whole documented topology: run-cluster.sh behind nginx --------------------------------


def free_port_pair() -> int:
    """A BASE_PORT whose BASE_PORT+1 and BASE_PORT+2 are free right now."""
    for _ in range(20):
        base = free_port() - 1
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", base + 1))
                b.bind(("127.0.0.1", base + 2))
            return base
        except OSError:
            continue
    raise AssertionError("found no two consecutive free ports")


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_run_cluster_script_behind_nginx_starts_serves_and_stops(
    nginx_binary: str, tmp_path: Path, make_client: ClientFactory
) -> None:
    queue = redis_url()
    with migrated_database("postgresql", tmp_path) as database_url:
        base = free_port_pair()
        ports = [base + 1, base + 2]
        env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
        env.update(
            {
                "PYTHON": sys.executable,
                "APP_CONFIG": "development",
                "ADMIN_TOKEN": ADMIN_TOKEN,
                "SESSION_CLEANUP_INTERVAL": "0",
                "SOCKETIO_CHANNEL": f"sessionhub-test-{uuid.uuid4().hex}",
                "STOP_TIMEOUT": "10",
            }
        )
        output = tmp_path / "run-cluster.out"
        with output.open("wb") as out:
            script = subprocess.Popen(
                [
                    "bash",
                    str(RUN_CLUSTER),
                    *("-n", "2", "-p", str(base), "-d", database_url, "-q", queue),
                    *("-l", str(tmp_path / "cluster-logs")),
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        proxy: NginxProcess | None = None
        pids: list[int] = []
        try:
            wait_for(
                lambda: (
                    script.poll() is not None
                    or "all 2 processes ready" in output.read_text(errors="replace")
                ),
                45,
                "run-cluster.sh did not report its processes ready",
            )
            log = output.read_text(errors="replace")
            assert script.poll() is None, f"run-cluster.sh exited:\n{log}"
            pids = [int(pid) for pid in re.findall(r"started web-\d \(pid (\d+)\)", log)]
            assert len(pids) == 2, log

            proxy = NginxProcess(nginx_binary, tmp_path / "nginx", free_port())
            proxy.start(ports)
            session_id = create_session(proxy.api)
            ada = make_client(proxy.url, "127.0.1.1", "websocket", "Ada")
            bob = make_client(proxy.url, "127.0.2.1", "polling", "Bob")
            for client in (ada, bob):
                assert client.call("join_session", {"session_id": session_id}, timeout=10)["ok"]
            assert set(landed(database_url, session_id).values()) == {"web-1", "web-2"}
            op = {"type": "add_node", "node_id": "n1"}
            assert bob.call("operation", {"session_id": session_id, "op": op}, timeout=10)["ok"]
            wait_for(lambda: received(ada, "operation"), 10, "the operation did not cross")

            # SIGTERM to the script stops both processes (their memberships close) and it exits.
            script.send_signal(signal.SIGTERM)
            assert script.wait(30) == 0, output.read_text(errors="replace")
            assert not any(is_alive(pid) for pid in pids)
            assert "all 2 processes stopped" in output.read_text(errors="replace")
            engine = create_engine(database_url)
            try:
                with engine.connect() as connection:
                    stopped = connection.execute(
                        text("SELECT name FROM instances WHERE stopped_at IS NOT NULL")
                    )
                    assert sorted(row[0] for row in stopped) == ["web-1", "web-2"]
                    reasons = connection.execute(
                        text("SELECT left_reason FROM memberships WHERE session_id = :s"),
                        {"s": session_id},
                    )
                    assert [row[0] for row in reasons] == ["server_shutdown"] * 2
            finally:
                engine.dispose()
        finally:
            if proxy is not None:
                proxy.stop()
            if script.poll() is None:
                script.send_signal(signal.SIGTERM)
                try:
                    script.wait(20)
                except subprocess.TimeoutExpired:
                    script.kill()
                    script.wait(10)
            for pid in pids:  # the script's children, should it have died without them
                if is_alive(pid):
                    os.kill(pid, signal.SIGKILL)
