"""The end of a test run says which services were missing, without `-rs` (README, `make test`)."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

from tests.conftest import missing_service_lines
from tests.entry_points import ROOT, clean_environment


def skipped(reason: str) -> SimpleNamespace:
    return SimpleNamespace(longrepr=("tests/e2e/test_x.py", 1, f"Skipped: {reason}"))


def test_one_line_per_missing_service_with_its_remedy() -> None:
    reports = [
        skipped("PostgreSQL tests need TEST_DATABASE_URL"),
        skipped("needs TEST_DATABASE_URL"),
        skipped("the message-queue tests need TEST_REDIS_URL"),
        skipped("the nginx tests need the Redis message queue: set TEST_REDIS_URL"),
        skipped("the JavaScript client test needs node and npm on PATH"),
        skipped("PostgreSQL locks rows with FOR UPDATE instead"),
    ]
    assert missing_service_lines(reports) == [
        "PostgreSQL tests skipped: set TEST_DATABASE_URL (2 skipped)",
        "Redis tests skipped: set TEST_REDIS_URL (2 skipped)",
        "JavaScript client tests skipped: put node and npm on PATH (1 skipped)",
    ]


def test_nothing_is_said_when_nothing_was_skipped_for_a_service() -> None:
    assert missing_service_lines([skipped("PostgreSQL locks rows with FOR UPDATE instead")]) == []


def test_a_real_run_without_postgresql_ends_with_the_line() -> None:
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/unit/test_cli.py::test_list_says_when_there_is_nothing",
        ],
        cwd=ROOT,
        env={
            key: value
            for key, value in clean_environment().items()
            if key not in ("TEST_DATABASE_URL", "TEST_REDIS_URL")
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    lines = finished.stdout.splitlines()
    assert "PostgreSQL tests skipped: set TEST_DATABASE_URL (1 skipped)" in lines
    assert not any(line.startswith("Redis tests skipped") for line in lines)
