"""Browser fixtures: Debian's Chromium driven by Playwright for Python against `python app.py`.

Playwright's own browser download cannot work here (no internet), so the tests launch the
system Chromium by path, and skip, saying so, where it is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.conftest import migrated_database
from tests.e2e.server import ADMIN_TOKEN, ServerProcess, server_starter

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# The machine's network is closed: without these Chromium tries Google's hosts at every start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Generous: CI's machine is shared and Chromium competes with the server for two cores.
EXPECT_TIMEOUT_MS = 15_000
VIEWPORT = {"width": 1280, "height": 800}
# What Chromium logs for a connection the stopped server refused (never a CSP violation).
NETWORK_ERROR_MARKERS = ("net::ERR_", "WebSocket connection to", "Failed to load resource")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/browser/" in str(item.path):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not shutil.which(CHROMIUM):
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@dataclass
class OpenedPage:
    """A page in a context of its own (its own sessionStorage, as a second window would be),
    with what the page's console and network said, so a test can assert that nothing broke."""

    page: Page
    context: BrowserContext
    errors: list[str] = field(default_factory=list)


@pytest.fixture()
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Opens `url` in a fresh context; fails the test at teardown on any console error, page
    error or Content-Security-Policy violation the page reported. A test that stops the server
    passes `tolerate_network_errors=True`: Chromium logs each refused connection as an error."""
    opened: list[OpenedPage] = []

    def open_(url: str | None = None, *, tolerate_network_errors: bool = False) -> Page:
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        page = context.new_page()
        record = OpenedPage(page, context)
        page.on("pageerror", lambda error: record.errors.append(f"pageerror: {error}"))

        def on_console(message: Any) -> None:
            if message.type != "error":
                return
            if tolerate_network_errors and any(
                marker in message.text for marker in NETWORK_ERROR_MARKERS
            ):
                return
            record.errors.append(f"console.{message.type}: {message.text}")

        page.on("console", on_console)
        opened.append(record)
        if url:
            page.goto(url)
        return page

    yield open_
    problems = [error for record in opened for error in record.errors]
    for record in opened:
        record.context.close()
    assert not problems, "the pages reported errors:\n" + "\n".join(problems)


@pytest.fixture()
def web_database(tmp_path: Path) -> Iterator[str]:
    with migrated_database("sqlite", tmp_path) as url:
        yield url


@pytest.fixture()
def start_web_server(web_database: str, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """`python app.py` on a fresh SQLite database; every server is stopped in teardown."""
    with server_starter(web_database, tmp_path) as start:
        yield start


@pytest.fixture()
def web_server(start_web_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_web_server()


def create_session(server: ServerProcess, **body: Any) -> str:
    body.setdefault("project_id", "browser-tests")
    response = requests.post(f"{server.api}/sessions", json=body, headers=ADMIN, timeout=10)
    response.raise_for_status()
    return response.json()["session_id"]
