"""The landing page loads in Chromium under its strict CSP, and links every page."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.e2e.server import ServerProcess


def test_landing_page_links_the_demo_the_admin_page_and_the_api_docs(
    web_server: ServerProcess, open_page: Callable[..., Page]
) -> None:
    page = open_page(f"{web_server.url}/")
    main = page.get_by_role("main")
    expect(main.get_by_role("link", name="Demo board")).to_have_attribute("href", "/demo/")
    expect(main.get_by_role("link", name="Admin dashboard")).to_have_attribute("href", "/admin/")
    expect(main.get_by_role("link", name="API docs")).to_have_attribute("href", "/api/v1/docs")
