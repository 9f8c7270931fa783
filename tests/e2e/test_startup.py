"""Starting a real server: a busy port is refused, and the start-up line says what it uses."""

from __future__ import annotations

import requests
from sqlalchemy.engine import make_url

from tests.e2e.conftest import SQLITE_ONLY
from tests.e2e.server import ServerProcess

SECOND_START_TIMEOUT = 60.0


@SQLITE_ONLY
def test_a_second_server_on_a_busy_port_is_refused_and_the_first_keeps_serving(
    server: ServerProcess, tmp_path
) -> None:
    first = requests.get(f"{server.api}/health", timeout=5).json()["instance_id"]
    # Its own instance name, so nothing but the port can stop it: the same name would be
    # refused by the instance registry (a different message) before the port mattered.
    second = ServerProcess(
        server.database_url, tmp_path / "second.log", {"INSTANCE_NAME": "second-on-a-busy-port"}
    )
    second.port = server.port
    finished = second.run_until_exit(SECOND_START_TIMEOUT)
    stderr = finished.stderr
    assert finished.returncode == 2, stderr
    assert stderr.splitlines() == [
        f"sessionhub: cannot start: address already in use: 127.0.0.1:{server.port} "
        "(another process is listening there; stop it or set PORT)"
    ]
    for _ in range(20):  # new connections all reach the first server, none a second one
        assert requests.get(f"{server.api}/health", timeout=5).json()["instance_id"] == first


def test_the_start_up_line_names_the_database_queue_and_channel(start_server) -> None:
    # Empty means unset, whatever the shell running the tests exports.
    server = start_server(SOCKETIO_MESSAGE_QUEUE="", SOCKETIO_CHANNEL="")
    lines = [line for line in server.log().splitlines() if "sessionhub: serving on" in line]
    assert len(lines) == 1, server.log()
    line = lines[0]
    shown = make_url(server.database_url).render_as_string(hide_password=True)
    assert f"database={shown}," in line
    assert "(config=development, auth=open, " in line
    assert line.endswith("message_queue=none, channel=sessionhub)")
