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
import sys  # noqa: E402

from config import ConfigError  # noqa: E402

log = logging.getLogger("sessionhub")


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


def main() -> int:
    from backend import create_app, lifecycle
    from backend.extensions import socketio
    from backend.logs import configure_logging

    try:
        app = create_app()
    except ConfigError as error:
        print(f"sessionhub: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    _check_psycopg_is_green(app)
    with app.app_context():
        lifecycle.register_instance()
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
