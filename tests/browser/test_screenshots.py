"""The README's two pictures, taken from the real pages: `make screenshots` writes them to
docs/img/ (SESSIONHUB_SCREENSHOTS names the folder); `make test` takes them too, into a
temporary folder, so a page change that breaks them fails here and not at release time."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import socketio
from playwright.sync_api import Page, expect

from tests.browser.conftest import create_session
from tests.e2e.server import ADMIN_TOKEN, ServerProcess

CARDS = [
    ("Collect feedback from the beta", 80, 70, "yellow"),
    ("Draft the public API", 330, 60, "blue"),
    ("Fix the login redirect", 90, 250, "pink"),
    ("Write the migration guide", 600, 110, "green"),
    ("Plan the launch webinar", 380, 300, "purple"),
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture()
def pictures(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SESSIONHUB_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture()
def board(web_server: ServerProcess) -> Iterator[str]:
    """A session with a few cards, added through Socket.IO as any client would."""
    session_id = create_session(web_server, title="Sprint planning", project_id="acme-board")
    writer = socketio.Client(reconnection=False)
    writer.connect(web_server.url, auth={"name": "Setup"}, transports=["websocket"])
    try:
        assert writer.call("join_session", {"session_id": session_id}, timeout=10)["ok"]
        for number, (text, x, y, color) in enumerate(CARDS, start=1):
            op = {"type": "add_node", "node_id": f"card-{number}", "props": {}}
            op["props"] = {"text": text, "x": x, "y": y, "color": color}
            ack = writer.call("operation", {"session_id": session_id, "op": op}, timeout=10)
            assert ack["ok"], ack
        assert writer.call("leave_session", {"session_id": session_id}, timeout=10)["ok"]
    finally:
        writer.disconnect()
    yield session_id


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_the_readme_pictures(
    web_server: ServerProcess,
    open_page: Callable[..., Page],
    board: str,
    pictures: Path,
) -> None:
    # The dashboard first, so its chart sees the room fill up.
    admin = open_page(f"{web_server.url}/admin/")
    admin.get_by_label("Admin token").fill(ADMIN_TOKEN)
    admin.get_by_role("button", name="Sign in").click()
    expect(admin.locator("#refresh-state")).to_contain_text("Updated")
    for title in ("Design review", "Onboarding checklist"):
        create_session(web_server, title=title, project_id="acme-board")

    demo = f"{web_server.url}/demo/?session={board}"
    ada = open_page(f"{demo}&name=Ada%20Lovelace")
    grace = open_page(f"{demo}&name=Grace%20Hopper")
    linus = open_page(f"{demo}&name=Linus")
    for page in (ada, grace, linus):
        expect(page.locator("#presence-count")).to_have_text("3 here")
        expect(page.locator(".card")).to_have_count(len(CARDS))

    # Linus points at a card; Grace is dragging another one: Ada sees both, live.
    linus.mouse.move(700, 420, steps=4)
    card = grace.locator('.card[data-node-id="card-4"]')
    box = card.bounding_box()
    assert box is not None
    grace.mouse.move(box["x"] + 90, box["y"] + 50)
    grace.mouse.down()
    grace.mouse.move(box["x"] + 40, box["y"] + 250, steps=10)
    expect(ada.locator(".card.is-remote-dragging")).to_have_count(1)
    expect(ada.locator(".remote-cursor", has_text="Grace Hopper")).to_be_visible()
    expect(ada.locator(".remote-cursor", has_text="Linus")).to_be_visible()
    ada.screenshot(path=pictures / "demo.png")
    grace.mouse.up()

    row = admin.locator(f'#sessions-body tr[data-session-id="{board}"]')
    expect(row.locator("td.clients")).to_have_text("3")
    row.get_by_role("button").first.click()
    expect(admin.locator("#clients-body tr")).to_have_count(3)
    # A few refreshes (one every 3 s), so the chart draws lines rather than dots.
    admin.wait_for_function(
        """() => {
            const line = document.querySelector('polyline[data-series="clients"]');
            return line && line.getAttribute("points").trim().split(/\\s+/).length >= 5;
        }""",
        timeout=30_000,
    )
    admin.screenshot(path=pictures / "admin.png", full_page=True)

    for name in ("demo.png", "admin.png"):
        width, height = png_size(pictures / name)
        assert width >= 1000 and height >= 600, (name, width, height)
