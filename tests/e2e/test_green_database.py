"""Database calls must not stall the event loop for other clients (DESIGN section 8)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.databases import postgres_admin_url

SCRIPT = Path(__file__).with_name("green_queries.py")


def test_postgresql_queries_overlap_under_eventlet() -> None:
    url = postgres_admin_url()
    if url is None:
        pytest.skip("needs TEST_DATABASE_URL")
    finished = subprocess.run(
        [sys.executable, str(SCRIPT), url], capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 0, finished.stderr
    # three 1 s queries: about 1 s when they overlap, about 3 s when each blocks the hub
    assert float(finished.stdout.strip()) < 2.0
