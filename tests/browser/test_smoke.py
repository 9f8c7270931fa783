"""The landing page loads in Chromium under its strict CSP, and links every page."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Browser, Page, expect

from tests.e2e.server import ServerProcess


def test_landing_page_links_the_demo_the_admin_page_and_the_api_docs(
    web_server: ServerProcess, open_page: Callable[..., Page]
) -> None:
    page = open_page(f"{web_server.url}/")
    main = page.get_by_role("main")
    expect(main.get_by_role("link", name="Demo board")).to_have_attribute("href", "/demo/")
    expect(main.get_by_role("link", name="Admin dashboard")).to_have_attribute("href", "/admin/")
    expect(main.get_by_role("link", name="API docs")).to_have_attribute("href", "/api/v1/docs")


def test_the_content_security_policy_blocks_inline_code_in_the_browser(
    web_server: ServerProcess, browser: Browser
) -> None:
    """The header is only worth something if Chromium enforces it: an injected inline script
    and an inline handler do not run, and the browser reports the violation."""
    context = browser.new_context()
    try:
        page = context.new_page()
        violations: list[str] = []
        page.on("console", lambda message: violations.append(message.text))
        page.goto(f"{web_server.url}/")
        page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "window.injected = true";
                document.body.append(script);
                const image = document.createElement("img");
                image.setAttribute("src", "data:,x");
                image.setAttribute("onerror", "window.handled = true");
                document.body.append(image);
            }"""
        )
        expect(page.locator("body")).to_be_visible()
        page.wait_for_function("() => document.readyState === 'complete'")
        assert page.evaluate("() => [window.injected, window.handled]") == [None, None]
        assert any("Content Security Policy" in text for text in violations), violations
    finally:
        context.close()
