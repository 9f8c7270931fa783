"""Entry point: `python app.py` serves SessionHub (Procfile `web`, `make run`).

The async library must patch the standard library before anything else is imported
(STACK_NOTES trap 1), so the mode is read from the environment with nothing but `os`.
"""

import os
import warnings

ASYNC_MODE = (os.environ.get("ASYNC_MODE") or "eventlet").strip().lower()
if ASYNC_MODE == "eventlet":
    # eventlet announces its bug-fix-only status on import; the choice is deliberate
    # (STACK_NOTES "Serving"), so say it once in the docs rather than on every start.
    warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()
    # psycopg 3 only greens itself for gevent; this makes it wait through the patched selectors
    # instead of blocking the whole hub on every query (STACK_NOTES trap 2).
    os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_selector")
elif ASYNC_MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()

import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402

from config import ConfigError, load_config  # noqa: E402

log = logging.getLogger("sessionhub")

# A shutdown that hangs (a database that stopped answering) must not keep the process alive.
HARD_STOP_SECS = 8


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
    """SIGTERM/SIGINT run `stop` once, outside the signal handler (STACK_NOTES trap 9).

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


def main() -> int:
    from backend import create_app, shutdown_process
    from backend.exceptions import InstanceNameTaken
    from backend.extensions import socketio
    from backend.logs import configure_logging

    try:
        settings = load_config()
        # Before create_app, so instance registration and the scheduler's start are logged.
        configure_logging(settings["LOG_LEVEL"], settings["LOG_FORMAT"])
        app = create_app()
    except ConfigError as error:
        print(f"sessionhub: configuration error: {error}", file=sys.stderr)
        return 2
    except InstanceNameTaken as error:
        print(f"sessionhub: cannot start: {error}", file=sys.stderr)
        return 2
    _check_psycopg_is_green(app)
    _install_signal_handlers(lambda: shutdown_process(app))
    host, port = app.config["HOST"], app.config["PORT"]
    log.info(
        "serving on http://%s:%s (config=%s, async=%s, instance=%s)",
        host,
        port,
        app.config["APP_CONFIG"],
        ASYNC_MODE,
        app.config["INSTANCE_NAME"],
    )
    run_options = {"max_size": app.config["MAX_CONNECTIONS"]} if ASYNC_MODE == "eventlet" else {}
    socketio.run(app, host=host, port=port, log_output=app.debug, **run_options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
