"""Run three 1-second PostgreSQL queries at once under eventlet, as app.py sets it up.

Usage: python green_queries.py DATABASE_URL. Prints the wall time in seconds. With psycopg
greened (PSYCOPG_WAIT_FUNC=wait_selector) the queries overlap and take about 1 s; blocking
the hub they take about 3 s (docs/stack-notes.md, trap 2).
"""

import os
import sys
import warnings

warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()
os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_selector")

import time  # noqa: E402

from sqlalchemy import create_engine, text  # noqa: E402


def main() -> None:
    engine = create_engine(sys.argv[1], pool_size=3)

    def sleep_in_database() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_sleep(1)"))

    started = time.monotonic()
    pool = eventlet.GreenPool()
    for _ in range(3):
        pool.spawn(sleep_in_database)
    pool.waitall()
    print(f"{time.monotonic() - started:.2f}")
    engine.dispose()


if __name__ == "__main__":
    main()
