"""Every page in Chromium: links, the CSP enforced, names for screen readers, the keyboard."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import create_session
from tests.e2e.server import ADMIN_TOKEN, ServerProcess


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


# Every control a keyboard reaches, without a name a screen reader could read.
UNNAMED_CONTROLS = """() => {
    const focusable = 'a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])';
    const named = (element) => {
        if ((element.getAttribute("aria-label") || "").trim()) return true;
        const ids = (element.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean);
        if (ids.some((id) => (document.getElementById(id)?.textContent || "").trim())) return true;
        if (element.labels && [...element.labels].some((label) => label.textContent.trim())) {
            return true;
        }
        if (["INPUT", "SELECT", "TEXTAREA"].includes(element.tagName)) return false;
        return Boolean(element.textContent.trim() || element.getAttribute("title"));
    };
    return [...document.querySelectorAll(focusable)]
        .filter((element) => element.getClientRects().length && !named(element))
        .map((element) => element.outerHTML.slice(0, 120));
}"""


def test_every_control_on_every_page_has_a_name_a_screen_reader_reads(
    web_server: ServerProcess, open_page: Callable[..., Page]
) -> None:
    session_id = create_session(web_server, title="Names")
    board = open_page(f"{web_server.url}/demo/?session={session_id}&name=Ada")
    expect(board.locator("#connection")).to_have_text("Connected")
    board.get_by_role("button", name="Add card").click()
    expect(board.locator(".card")).to_have_count(1)
    start = open_page(f"{web_server.url}/demo/")
    admin = open_page(f"{web_server.url}/admin/")
    assert admin.evaluate(UNNAMED_CONTROLS) == []  # the sign-in form
    admin.get_by_label("Admin token").fill(ADMIN_TOKEN)
    admin.get_by_role("button", name="Sign in").click()
    admin.locator(f'#sessions-body tr[data-session-id="{session_id}"]').get_by_role(
        "button"
    ).first.click()
    expect(admin.locator("#clients-body tr")).to_have_count(1)
    landing = open_page(f"{web_server.url}/")
    for page in (board, start, admin, landing):
        assert page.evaluate(UNNAMED_CONTROLS) == [], page.url


def test_the_board_is_worked_from_the_keyboard_alone(
    web_server: ServerProcess, open_page: Callable[..., Page]
) -> None:
    """Tab reaches the toolbar and then the card; Enter on "Add card" adds one."""
    session_id = create_session(web_server)
    page = open_page(f"{web_server.url}/demo/?session={session_id}&name=Ada")
    # A person starts once the board is ready: joined, so its buttons are enabled.
    expect(page.get_by_role("button", name="Add card")).to_be_enabled()
    reached: list[str] = []
    for _ in range(30):
        page.keyboard.press("Tab")
        # Past the last control focus is on the body, whose text holds every label: go by id.
        focused = page.evaluate("() => document.activeElement.id || document.activeElement.tagName")
        reached.append(focused)
        if focused == "add-button":
            page.keyboard.press("Enter")
            break
    assert "add-button" in reached, reached
    expect(page.locator(".card")).to_have_count(1)
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('card')"):
            break
    else:
        raise AssertionError("Tab never reached the card")
    page.keyboard.press("Delete")
    expect(page.locator(".card")).to_have_count(0)
