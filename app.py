"""Entry point: `python app.py` serves SessionHub (Procfile `web`, `make run`).

The async library must patch the standard library before anything else is imported
(docs/stack-notes.md, trap 1), so the mode is read with nothing but `os` and python-dotenv.
"""

import os
import warnings

from dotenv import find_dotenv, load_dotenv

# `.env` fills in what the real environment leaves unset (real variables win), found the way the
# `flask` command finds it: in the working directory or the nearest parent that has one. It is
# read first, or an ASYNC_MODE written there would choose nothing. Safe before the patch
# (docs/stack-notes.md, trap 12): python-dotenv imports logging, hence threading, but on
# eventlet 0.41.3 every module it pulls in is one `import eventlet` imports anyway before
# monkey_patch() can run; it starts no thread, and the patch (eventlet's, or gevent's) greens
# the locks logging made.
DOTENV_PATH = find_dotenv(".env", usecwd=True)
if DOTENV_PATH:  # load_dotenv("") would go looking for one beside this file instead
    load_dotenv(DOTENV_PATH, override=False, encoding="utf-8")

ASYNC_MODE = (os.environ.get("ASYNC_MODE") or "eventlet").strip().lower()
if ASYNC_MODE == "eventlet":
    # eventlet announces its bug-fix-only status on import; the choice is deliberate
    # (docs/stack-notes.md, "Serving"), so the docs say it once instead of every start.
    warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()
    # psycopg 3 only greens itself for gevent; this makes it wait through the patched selectors
    # instead of blocking the whole hub on every query (docs/stack-notes.md, trap 2).
    os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_selector")
elif ASYNC_MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()

import errno  # noqa: E402
import gc  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

from config import ConfigError, load_config  # noqa: E402

log = logging.getLogger("sessionhub")

# A shutdown that hangs (a database that stopped answering) must not keep the process alive.
HARD_STOP_SECS = 8
# Connections the kernel queues before the server accepts them; eventlet.listen's default.
LISTEN_BACKLOG = 50


class CannotListen(Exception):
    """HOST:PORT cannot be listened on (in use, not ours, not an address)."""


def _original(module: str):  # the real stdlib module, whatever was monkey-patched
    if ASYNC_MODE == "eventlet":
        from eventlet.patcher import original

        return original(module)
    return __import__(module)


def _check_psycopg_is_green(app) -> None:
    if ASYNC_MODE != "eventlet" or not app.config["SQLALCHEMY_DATABASE_URI"].startswith(
        "postgresql"
    ):
        return
    import psycopg.waiting

    if psycopg.waiting.wait is psycopg.waiting.wait_c:
        raise RuntimeError(
            "psycopg would block the eventlet hub: set PSYCOPG_WAIT_FUNC=wait_selector"
        )


def _exit_after(stop: Callable[[], None]) -> None:
    """Run the graceful stop, then leave at once; a timer on a real thread bounds it."""
    real_os, real_threading = _original("os"), _original("threading")
    deadline = real_threading.Timer(HARD_STOP_SECS, lambda: real_os._exit(1))
    deadline.daemon = True
    deadline.start()
    code = 0
    try:
        stop()
    except Exception:
        log.exception("graceful shutdown failed")
        code = 1
    logging.shutdown()
    real_os._exit(code)


def _install_signal_handlers(stop: Callable[[], None]) -> None:
    """SIGTERM/SIGINT run `stop` once, outside the signal handler (docs/stack-notes.md, trap 9).

    Under eventlet the handler only writes a byte to a pipe with the real os.write; a greenlet
    parked on the pipe's read end wakes the hub at once and runs the shutdown.
    """
    real_os = _original("os")
    read_end, write_end = real_os.pipe()
    real_os.set_blocking(read_end, False)
    real_os.set_blocking(write_end, False)

    def on_signal(signum: int, _frame: object) -> None:
        try:
            real_os.write(write_end, b"x")
        except OSError:  # the pipe is full: a shutdown is already on its way
            pass

    if ASYNC_MODE == "eventlet":
        import eventlet.hubs

        def wait_for_signal() -> None:
            eventlet.hubs.trampoline(read_end, read=True)
            _exit_after(stop)

        eventlet.spawn(wait_for_signal)
    else:
        import threading

        def wait_for_signal() -> None:
            import select

            select.select([read_end], [], [])
            _exit_after(stop)

        threading.Thread(target=wait_for_signal, daemon=True).start()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _listen(host: str, port: int) -> Any:
    """Bind HOST:PORT before anything else starts, refusing a port another process holds.

    eventlet.listen sets SO_REUSEPORT unless told not to, and Flask-SocketIO's run() calls it
    with the default: a second server on a busy port would start and the kernel would split
    new connections between the two (docs/stack-notes.md, trap 11). Under eventlet this
    returns the socket to serve on; the other modes' servers bind without SO_REUSEPORT, so a
    probe bind here only turns their failure into the same message.
    """
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        if ASYNC_MODE == "eventlet":
            return eventlet.listen(address, family, backlog=LISTEN_BACKLOG, reuse_port=False)
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
        return None
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise CannotListen(
                f"address already in use: {host}:{port} (another process is listening there; "
                "stop it or set PORT)"
            ) from None
        raise CannotListen(f"cannot listen on {host}:{port}: {error}") from None


def _log_serving(app) -> None:
    from backend.logs import redacted_url

    config = app.config
    log.info(
        "serving on http://%s:%s (config=%s, auth=%s, async=%s, instance=%s, database=%s, "
        "message_queue=%s, channel=%s)",
        config["HOST"],
        config["PORT"],
        config["APP_CONFIG"],
        config["AUTH_MODE"],
        ASYNC_MODE,
        config["INSTANCE_NAME"],
        redacted_url(config["SQLALCHEMY_DATABASE_URI"]),
        redacted_url(config["SOCKETIO_MESSAGE_QUEUE"]),
        config["SOCKETIO_CHANNEL"],
    )


def _tune_eventlet_websocket(compression: bool) -> None:
    """eventlet unmasks every received WebSocket frame one byte at a time, in Python; ours does
    the same XOR on whole integers. Unless WEBSOCKET_COMPRESSION, it also declines clients'
    permessage-deflate offers (backend/websocket_frames.py says why; both tested there)."""
    if ASYNC_MODE != "eventlet":
        return
    from eventlet.websocket import RFC6455WebSocket, WebSocketWSGI

    from backend.websocket_frames import apply_mask, decline_permessage_deflate

    RFC6455WebSocket._apply_mask = staticmethod(apply_mask)
    if not compression:
        WebSocketWSGI._negotiate_permessage_deflate = decline_permessage_deflate


# Young-generation collections this far apart: fewer passes, each still short.
GC_GEN0_THRESHOLD = 10_000


def _freeze_startup_heap() -> None:
    """Keep the cyclic garbage collector's full passes short (docs/stack-notes.md, trap 8).

    Every client of the process waits while it runs. What start-up built (modules, the app,
    SQLAlchemy's mappers) lives as long as the process, so it is moved out of the collector's
    sight once; full passes then walk only what clients created since."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def _serve(app, listener: Any) -> None:
    from backend.extensions import socketio

    if listener is None:
        socketio.run(
            app,
            host=app.config["HOST"],
            port=app.config["PORT"],
            log_output=app.debug,
            # threading serves with Werkzeug's server, which refuses to start outside a
            # terminal unless told: ASYNC_MODE=threading is the operator's explicit choice.
            allow_unsafe_werkzeug=ASYNC_MODE == "threading",
        )
        return
    import eventlet.wsgi

    # What socketio.run does under eventlet, on our own socket; its debugger and reloader stay
    # off as they would outside debug mode. max_size: trap 7 in docs/stack-notes.md.
    eventlet.wsgi.server(
        listener, app, log_output=app.debug, max_size=app.config["MAX_CONNECTIONS"]
    )


def main() -> int:
    from backend import create_app, shutdown_process
    from backend.exceptions import InstanceNameTaken
    from backend.logs import configure_logging

    try:
        settings = load_config()
        # Before create_app, so instance registration and the scheduler's start are logged.
        configure_logging(settings["LOG_LEVEL"], settings["LOG_FORMAT"])
        # Before create_app too: a second server on a busy port must not register an instance.
        listener = _listen(settings["HOST"], settings["PORT"])
        app = create_app()
    except ConfigError as error:
        print(f"sessionhub: configuration error: {error}", file=sys.stderr)
        return 2
    except (CannotListen, InstanceNameTaken) as error:
        print(f"sessionhub: cannot start: {error}", file=sys.stderr)
        return 2
    _check_psycopg_is_green(app)
    _install_signal_handlers(lambda: shutdown_process(app))
    _log_serving(app)
    _tune_eventlet_websocket(app.config["WEBSOCKET_COMPRESSION"])
    _freeze_startup_heap()
    _serve(app, listener)
    return 0


if __name__ == "__main__":
    sys.exit(main())
