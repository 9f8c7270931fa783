"""The `/demo/` board in Chromium against real servers: what two people see of each other's
cards, drags, undo and redo; catch-up after the server went away; viewers; creating a session
from the page; and the clear messages a bad link or an ended session must give.

Positions are read from the cards' inline `left`/`top` (board coordinates, what the document
holds), not from bounding boxes, so CSS transitions never make an assertion flaky.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import requests
import socketio
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ADMIN, create_session
from tests.e2e.server import ServerProcess

CONNECTED = "Connected"
SERVICE_TOKEN = "browser-service-token-long-enough-for-production"


def demo_url(server: ServerProcess, session_id: str, name: str) -> str:
    """The link that joins at once in open mode, as a person would be sent it."""
    return f"{server.url}/demo/?session={session_id}&name={name}"


def at(x: int, y: int) -> re.Pattern[str]:
    """A card's `style` attribute placing it at (x, y), whatever else the style holds."""
    return re.compile(rf"(?=.*\bleft: {x}px)(?=.*\btop: {y}px)")


def position(card: Locator) -> tuple[int, int]:
    """Where a card is drawn, in board coordinates (its inline left/top)."""
    left, top = card.evaluate("card => [parseInt(card.style.left), parseInt(card.style.top)]")
    return left, top


def people(page: Page) -> Locator:
    """The avatars, found as a screen reader finds them: the list named "People here"."""
    return page.get_by_role("list", name="People here").get_by_role("listitem")


def expect_joined(page: Page, count: int) -> None:
    """Joined and seeing `count` members: the avatars and the live count agree."""
    expect(page.locator("#connection")).to_have_text(CONNECTED)
    expect(people(page)).to_have_count(count)
    expect(page.locator("#presence-count")).to_have_text(re.compile(rf"^{count}\b"))


def add_card(page: Page) -> str:
    """Adds a card with the button; its node id, once the page shows it."""
    before = page.locator(".card").count()
    page.get_by_role("button", name="Add card").click()
    expect(page.locator(".card")).to_have_count(before + 1)
    return page.locator(".card").last.get_attribute("data-node-id") or ""


def card_in(page: Page, node_id: str) -> Locator:
    """One card by node id: the same id on every page, so pages can be compared."""
    return page.locator(f'.card[data-node-id="{node_id}"]')


def document(server: ServerProcess, session_id: str) -> dict[str, Any]:
    """The stored document: what the server holds, whatever any page shows."""
    response = requests.get(f"{server.api}/sessions/{session_id}/document", timeout=5)
    response.raise_for_status()
    return response.json()


def wait_until_moved(page: Page, node_id: str, start: tuple[int, int]) -> None:
    """Waits until `page` draws the card somewhere other than `start`."""
    page.wait_for_function(
        """([nodeId, x, y]) => {
            const card = document.querySelector(`.card[data-node-id="${nodeId}"]`);
            return card && (parseInt(card.style.left) !== x || parseInt(card.style.top) !== y);
        }""",
        arg=[node_id, *start],
    )


def test_two_people_see_each_others_cards_drags_undo_and_redo(
    web_server: ServerProcess, open_page: Callable[..., Page]
) -> None:
    """The core of the demo: presence both ways, an added card reaching the other page, a drag
    shown live before the drop and stored as ONE update_node, then undo and redo (buttons in
    one page, shortcuts in the other) moving it back and forth in both."""
    session_id = create_session(web_server, title="Retro")
    ada = open_page(demo_url(web_server, session_id, "Ada"))
    expect_joined(ada, 1)
    grace = open_page(demo_url(web_server, session_id, "Grace"))
    expect_joined(grace, 2)
    expect_joined(ada, 2)
    expect(ada.get_by_role("heading", name="Retro")).to_be_visible()
    expect(people(ada).filter(has_text="(you)")).to_have_text(re.compile("Ada"))
    expect(people(grace).filter(has_text="(you)")).to_have_text(re.compile("Grace"))

    node_id = add_card(ada)
    assert node_id.startswith("card-")
    ada_card, grace_card = card_in(ada, node_id), card_in(grace, node_id)
    expect(grace_card).to_be_visible()
    expect(grace_card).to_have_attribute("aria-label", re.compile("New card"))
    start = position(ada_card)
    expect(grace_card).to_have_attribute("style", at(*start))
    assert document(web_server, session_id)["version"] == 1

    box = ada_card.bounding_box()
    assert box is not None
    x, y = box["x"] + 60, box["y"] + 50
    ada.mouse.move(x, y)
    ada.mouse.down()
    ada.mouse.move(x + 200, y + 120, steps=12)
    # Before the drop: Grace sees the card move, and Ada's labelled cursor.
    wait_until_moved(grace, node_id, start)
    expect(grace_card).to_have_class(re.compile("is-remote-dragging"))
    expect(grace.locator(".remote-cursor", has_text="Ada")).to_be_visible()
    assert document(web_server, session_id)["version"] == 1  # nothing stored during the drag
    ada.mouse.up()
    end = (start[0] + 200, start[1] + 120)
    expect(grace_card).to_have_attribute("style", at(*end))
    expect(grace_card).not_to_have_class(re.compile("is-remote-dragging"))
    expect(ada_card).to_have_attribute("style", at(*end))
    stored = document(web_server, session_id)
    assert stored["version"] == 2  # the whole drag is one update_node
    assert stored["nodes"][0]["props"]["x"] == end[0]

    grace.get_by_role("button", name="Undo").click()
    expect(grace_card).to_have_attribute("style", at(*start))
    expect(ada_card).to_have_attribute("style", at(*start))
    grace.get_by_role("button", name="Redo").click()
    expect(ada_card).to_have_attribute("style", at(*end))
    expect(grace_card).to_have_attribute("style", at(*end))

    ada_card.focus()
    ada.keyboard.press("Control+z")
    expect(grace_card).to_have_attribute("style", at(*start))
    expect(ada_card).to_have_attribute("style", at(*start))
    ada.keyboard.press("Control+Shift+z")
    expect(grace_card).to_have_attribute("style", at(*end))
    ada.keyboard.press("Control+z")
    ada.keyboard.press("Control+y")
    expect(grace_card).to_have_attribute("style", at(*end))
    assert document(web_server, session_id)["version"] == 8


def test_cards_are_edited_moved_and_deleted_with_the_keyboard(
    web_server: ServerProcess, open_page: Callable[..., Page]
) -> None:
    """Enter opens the text field and saves, Escape cancels, arrows move by 10 px (one
    update_node each), Delete removes; the other page follows every step."""
    session_id = create_session(web_server)
    ada = open_page(demo_url(web_server, session_id, "Ada"))
    expect_joined(ada, 1)
    grace = open_page(demo_url(web_server, session_id, "Grace"))
    expect_joined(grace, 2)
    node_id = add_card(ada)
    card, other = card_in(ada, node_id), card_in(grace, node_id)

    card.focus()
    ada.keyboard.press("Enter")
    field = card.get_by_role("textbox", name="Card text")
    expect(field).to_be_focused()
    field.fill("Ship <b>it</b> & celebrate")
    ada.keyboard.press("Enter")
    expect(field).to_have_count(0)
    expect(card).to_be_focused()
    # Text typed by others is text, never markup.
    expect(other.locator(".card-text")).to_have_text("Ship <b>it</b> & celebrate")
    expect(other.locator("b")).to_have_count(0)
    expect(other).to_have_attribute("aria-label", "Card: Ship <b>it</b> & celebrate")

    card.dblclick()
    expect(field).to_be_focused()
    field.fill("Never saved")
    ada.keyboard.press("Escape")
    expect(field).to_have_count(0)
    expect(card.locator(".card-text")).to_have_text("Ship <b>it</b> & celebrate")

    start = position(card)
    version = document(web_server, session_id)["version"]
    card.focus()
    ada.keyboard.press("ArrowRight")
    expect(other).to_have_attribute("style", at(start[0] + 10, start[1]))
    # A key pressed while a move is being saved folds into the next update_node: wait.
    expect(card).not_to_have_attribute("aria-busy", "true")
    ada.keyboard.press("ArrowDown")
    expect(other).to_have_attribute("style", at(start[0] + 10, start[1] + 10))
    assert document(web_server, session_id)["version"] == version + 2

    ada.keyboard.press("Delete")
    expect(other).to_have_count(0)
    expect(card).to_have_count(0)
    # Undo brings it back, text and place.
    ada.get_by_role("button", name="Undo").click()
    expect(other).to_have_attribute("style", at(start[0] + 10, start[1] + 10))
    expect(other.locator(".card-text")).to_have_text("Ship <b>it</b> & celebrate")


def test_a_page_catches_up_after_the_server_went_away(
    web_server: ServerProcess,
    start_web_server: Callable[..., ServerProcess],
    open_page: Callable[..., Page],
) -> None:
    """The server stops; changes are made through a second server on the same database; the
    first comes back on its port and the page, reconnecting by itself, shows all of them."""
    session_id = create_session(web_server)
    page = open_page(demo_url(web_server, session_id, "Ada"), tolerate_network_errors=True)
    expect_joined(page, 1)
    kept, gone = add_card(page), add_card(page)

    web_server.stop()
    expect(page.locator("#connection")).to_have_text("Reconnecting…")
    expect(page.get_by_role("button", name="Add card")).to_be_disabled()

    other_server = start_web_server()
    client = socketio.Client(reconnection=False)
    client.connect(other_server.url, transports=["websocket"], wait_timeout=10)
    try:
        assert client.call("join_session", {"session_id": session_id, "name": "Bot"}, timeout=10)[
            "ok"
        ]
        for op in (
            {"type": "add_node", "node_id": "from-bot", "props": {"text": "Made offline"}},
            {"type": "update_node", "node_id": kept, "props": {"text": "Changed offline"}},
            {"type": "delete_node", "node_id": gone},
        ):
            ack = client.call("operation", {"session_id": session_id, "op": op}, timeout=10)
            assert ack["ok"], ack
    finally:
        client.disconnect()
    other_server.stop()
    web_server.start()

    expect(page.locator("#connection")).to_have_text(CONNECTED)
    expect(card_in(page, "from-bot")).to_have_attribute("aria-label", "Card: Made offline")
    expect(card_in(page, kept).locator(".card-text")).to_have_text("Changed offline")
    expect(card_in(page, gone)).to_have_count(0)
    expect_joined(page, 1)
    expect(page.get_by_role("button", name="Add card")).to_be_enabled()
    add_card(page)  # and it writes again, at the next version
    expect(page.locator(".card")).to_have_count(3)
    assert document(web_server, session_id)["version"] == 6


def test_a_page_that_misses_a_version_rejoins_to_fill_the_gap(
    web_server: ServerProcess,
    start_web_server: Callable[..., ServerProcess],
    open_page: Callable[..., Page],
) -> None:
    """Two processes without a message queue: a change made through the other one never
    reaches the page as an event, so the next change it hears leaves a version gap; the page
    rejoins with `since_version` and shows both, in order."""
    session_id = create_session(web_server)
    page = open_page(demo_url(web_server, session_id, "Ada"))
    expect_joined(page, 1)
    other_server = start_web_server()
    clients = [socketio.Client(reconnection=False) for _ in range(2)]
    try:
        for client, server in zip(clients, (other_server, web_server), strict=True):
            client.connect(server.url, transports=["websocket"], wait_timeout=10)
            join = {"session_id": session_id, "name": "Bot"}
            assert client.call("join_session", join, timeout=10)["ok"]
        for client, node_id in zip(clients, ("unheard", "heard"), strict=True):
            op = {"type": "add_node", "node_id": node_id, "props": {"text": node_id, "x": 40}}
            ack = client.call("operation", {"session_id": session_id, "op": op}, timeout=10)
            assert ack["ok"], ack
    finally:
        for client in clients:
            client.disconnect()
    expect(card_in(page, "heard")).to_be_visible()
    expect(card_in(page, "unheard")).to_have_attribute("aria-label", "Card: unheard")


def test_a_viewer_invite_shows_the_board_read_only(
    web_server: ServerProcess, open_page: Callable[..., Page]
) -> None:
    """A viewer's join token: the controls are disabled, a drag or a key moves nothing, the
    notice says why; the viewer still streams a cursor and sees the others' changes."""
    session_id = create_session(web_server)
    ada = open_page(demo_url(web_server, session_id, "Ada"))
    expect_joined(ada, 1)
    node_id = add_card(ada)
    response = requests.post(
        f"{web_server.api}/sessions/{session_id}/tokens",
        json={"role": "viewer", "name": "Vera"},
        headers=ADMIN,
        timeout=5,
    )
    assert response.status_code == 201, response.text
    vera = open_page(
        f"{web_server.url}/demo/?session={session_id}#token={response.json()['token']}"
    )
    expect_joined(vera, 2)
    expect(people(vera).filter(has_text="(you)")).to_have_text(re.compile("Vera"))
    expect(vera.get_by_text("You are viewing this board read-only")).to_be_visible()
    for name in ("Add card", "Undo", "Redo"):
        expect(vera.get_by_role("button", name=name)).to_be_disabled()
    expect(vera.get_by_role("button", name="Copy share link")).to_be_hidden()

    card = card_in(vera, node_id)
    start = position(card)
    version = document(web_server, session_id)["version"]
    box = card.bounding_box()
    assert box is not None
    vera.mouse.move(box["x"] + 60, box["y"] + 50)
    vera.mouse.down()
    vera.mouse.move(box["x"] + 260, box["y"] + 200, steps=8)
    # Her cursor reaches Ada (viewers may stream one), but no drag preview does.
    expect(ada.locator(".remote-cursor", has_text="Vera")).to_be_visible()
    vera.mouse.up()
    expect(card).to_have_attribute("style", at(*start))
    expect(card_in(ada, node_id)).not_to_have_class(re.compile("is-remote-dragging"))
    card.focus()
    for key in ("ArrowRight", "Delete", "Enter", "Control+z"):
        vera.keyboard.press(key)
    expect(card.get_by_role("textbox")).to_have_count(0)
    expect(card).to_have_attribute("style", at(*start))
    assert document(web_server, session_id)["version"] == version

    second = add_card(ada)
    expect(card_in(vera, second)).to_be_visible()


def test_the_start_page_creates_a_session_and_joins_it(
    web_server: ServerProcess, open_page: Callable[..., Page]
) -> None:
    """`/demo/` alone: the create form makes a session (project "demo"), puts it in the
    address and joins it; a link with only the session asks the next person for a name."""
    page = open_page(f"{web_server.url}/demo/")
    create = page.locator("#create-form")
    create.get_by_label("Title").fill("Planning")
    create.get_by_label("Your name").fill("Ada")
    create.get_by_role("button", name="Create and join").click()
    expect(page).to_have_url(re.compile(r"/demo/\?session=[0-9a-f-]{36}&name=Ada$"))
    expect_joined(page, 1)
    expect(people(page)).to_have_text([re.compile(r"Ada.*\(you\)")])
    expect(page.get_by_role("heading", name="Planning")).to_be_visible()
    expect(page.get_by_role("button", name="Copy share link")).to_be_visible()
    session_id = page.url.split("session=")[1].split("&")[0]
    sessions = requests.get(f"{web_server.api}/sessions", timeout=5).json()["sessions"]
    [created] = [session for session in sessions if session["session_id"] == session_id]
    assert (created["project_id"], created["title"]) == ("demo", "Planning")

    guest = open_page(f"{web_server.url}/demo/?session={session_id}")
    opening = guest.locator("#open-form")
    expect(opening.get_by_label("Session id")).to_have_value(session_id)
    opening.get_by_label("Your name").fill("Grace")
    opening.get_by_role("button", name="Join").click()
    expect(guest).to_have_url(re.compile(rf"\?session={session_id}&name=Grace$"))
    expect_joined(guest, 2)
    expect_joined(page, 2)


def test_a_bad_link_says_the_session_was_not_found(
    web_server: ServerProcess, open_page: Callable[..., Page]
) -> None:
    """A link to no session must say so in words (not an empty board that never fills)."""
    page = open_page(demo_url(web_server, str(uuid.uuid4()), "x"))
    alert = page.locator("#join-error")
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text(re.compile("session not found", re.IGNORECASE))
    expect(alert).to_contain_text("session_not_found")
    expect(page.get_by_role("button", name="Add card")).to_be_disabled()


def test_an_ended_session_shows_the_banner_and_stops_editing(
    web_server: ServerProcess, open_page: Callable[..., Page]
) -> None:
    """Ended while joined (the `session_ended` event) and joined after the end (the ack's
    `session_ended`): the same alert, with a sentence and the reason code."""
    session_id = create_session(web_server)
    page = open_page(demo_url(web_server, session_id, "Ada"))
    expect_joined(page, 1)
    add_card(page)
    response = requests.delete(f"{web_server.api}/sessions/{session_id}", headers=ADMIN, timeout=5)
    assert response.status_code == 200, response.text
    banner = page.locator("#session-ended")
    expect(banner).to_have_attribute("role", "alert")
    expect(banner).to_contain_text(
        "This session has ended: an administrator ended it (ended_by_admin)."
    )
    for name in ("Add card", "Undo", "Redo"):
        expect(page.get_by_role("button", name=name)).to_be_disabled()
    expect(page.locator(".card .card-delete")).to_be_disabled()

    late = open_page(demo_url(web_server, session_id, "Grace"))
    expect(late.locator("#session-ended")).to_contain_text("This session has ended")
    expect(late.locator("#session-ended")).to_contain_text("(ended_by_admin)")
    expect(late.get_by_role("button", name="Add card")).to_be_disabled()


def test_token_mode_creates_with_a_service_token_and_joins_with_an_invite(
    start_web_server: Callable[..., ServerProcess], open_page: Callable[..., Page]
) -> None:
    """In token mode the create form asks for the service token, mints this person an editor's
    join token with it, and joins with that; the token goes in the fragment, never stored."""
    server = start_web_server(AUTH_MODE="token", SERVICE_TOKEN=SERVICE_TOKEN)
    page = open_page(f"{server.url}/demo/")
    create = page.locator("#create-form")
    create.get_by_label("Your name").fill("Ada")
    create.get_by_label("Service token").fill(SERVICE_TOKEN)
    create.get_by_role("button", name="Create and join").click()
    expect(page).to_have_url(re.compile(r"/demo/\?session=[0-9a-f-]{36}#token=ey[\w.-]+$"))
    expect_joined(page, 1)
    expect(people(page)).to_have_text([re.compile(r"Ada.*\(you\)")])
    expect(page.get_by_role("button", name="Add card")).to_be_enabled()
    expect(page.get_by_role("button", name="Copy share link")).to_be_hidden()
    add_card(page)
    assert page.evaluate("() => JSON.stringify({...localStorage, ...sessionStorage})") == "{}"
