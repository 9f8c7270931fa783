"""The `/admin/` dashboard in Chromium against real servers: signing in with the admin token
(kept in sessionStorage only), a session's live clients and ending it from the page, cleanup's
dry run against what the real run ends, pin, TTL and invite links, the numbers and the chart,
and webhook deliveries with their retry.

Every change the page makes is checked through the REST API, not only on the page, so a page
that only pretends to have acted fails.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import socketio
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ADMIN, create_session
from tests.e2e.server import ADMIN_TOKEN, ServerProcess
from tests.webhook_receiver import TEST_SECRET, Script, WebhookReceiver

STORAGE_KEY = "sessionhub.adminToken"


# --- helpers ---------------------------------------------------------------------------------


def sign_in(page: Page, token: str = ADMIN_TOKEN) -> None:
    page.get_by_label("Admin token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def open_admin(server: ServerProcess, open_page: Callable[..., Page]) -> Page:
    """A signed-in dashboard whose first refresh has drawn the numbers."""
    page = open_page(f"{server.url}/admin/")
    sign_in(page)
    expect(page.locator("#dashboard")).to_be_visible()
    expect(page.locator("#refresh-state")).to_contain_text("Updated")
    return page


def storage(page: Page) -> dict[str, Any]:
    """Everywhere a page could keep the token, so a test can say where it is and is not."""
    return page.evaluate(
        """key => ({
            session: sessionStorage.getItem(key),
            local: localStorage.length,
            cookie: document.cookie,
            url: location.href,
        })""",
        STORAGE_KEY,
    )


def session_row(page: Page, session_id: str) -> Locator:
    return page.locator(f'#sessions-body tr[data-session-id="{session_id}"]')


def open_detail(page: Page, session_id: str) -> None:
    """Opens a session's detail with the button in its row, as a keyboard user would."""
    row = session_row(page, session_id)
    row.get_by_role("button").press("Enter")
    expect(page.locator("#detail-id")).to_have_text(session_id)
    expect(page.locator("#detail-facts")).to_contain_text("Project")


def session(server: ServerProcess, session_id: str) -> dict[str, Any]:
    response = requests.get(f"{server.api}/sessions/{session_id}", headers=ADMIN, timeout=5)
    response.raise_for_status()
    return response.json()


def metrics(server: ServerProcess) -> dict[str, Any]:
    response = requests.get(f"{server.api}/sessions/metrics", timeout=5)
    response.raise_for_status()
    return response.json()


def jwt_claims(token: str) -> dict[str, Any]:
    """A join token's claims, read without checking it (the server checks it at join)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture()
def sio_member() -> Iterator[Callable[[ServerProcess, str, str], socketio.Client]]:
    """Joins a session with python-socketio (a client that is not a page), so a test can hold
    a member in a session without depending on the demo board; disconnected at teardown."""
    clients: list[socketio.Client] = []

    def join(server: ServerProcess, session_id: str, name: str) -> socketio.Client:
        client = socketio.Client(reconnection=False)
        client.connect(server.url, auth={"name": name}, transports=["websocket"], wait_timeout=10)
        clients.append(client)
        ack = client.call("join_session", {"session_id": session_id}, timeout=10)
        assert ack["ok"], ack
        return client

    yield join
    for client in clients:
        client.disconnect()


# --- signing in ------------------------------------------------------------------------------


def test_a_wrong_token_is_refused_and_the_right_one_is_kept_in_this_tab_only(
    web_server: ServerProcess, open_page: Callable[..., Page]
) -> None:
    # The refused check is a 403, which Chromium logs as a failed resource: expected here.
    page = open_page(f"{web_server.url}/admin/", tolerate_network_errors=True)
    sign_in(page, "not-the-admin-token")
    refusal = page.locator("#signin-error")
    expect(refusal).to_have_attribute("role", "alert")
    expect(refusal).to_contain_text("refused this token (403 forbidden)")
    expect(page.locator("#dashboard")).to_be_hidden()
    assert storage(page)["session"] is None

    sign_in(page)
    expect(page.locator("#dashboard")).to_be_visible()
    expect(refusal).to_be_hidden()
    expect(page.get_by_label("Admin token")).to_be_hidden()
    kept = storage(page)
    assert kept["session"] == ADMIN_TOKEN
    assert kept["local"] == 0 and kept["cookie"] == "" and ADMIN_TOKEN not in kept["url"]

    # The tab remembers it across a reload, without asking again.
    page.reload()
    expect(page.locator("#dashboard")).to_be_visible()
    expect(page.locator("#refresh-state")).to_contain_text("Updated")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Admin token")).to_be_visible()
    expect(page.locator("#dashboard")).to_be_hidden()
    expect(page.locator("#sessions-body tr")).to_have_count(0)
    assert storage(page)["session"] is None
    page.reload()
    expect(page.get_by_label("Admin token")).to_be_visible()


# --- a session's clients, and ending it --------------------------------------------------------


def test_a_session_with_two_clients_is_listed_and_ended_from_the_page(
    web_server: ServerProcess, open_page: Callable[..., Page]
) -> None:
    session_id = create_session(web_server, title="Design review")
    boards = [
        open_page(f"{web_server.url}/demo/?session={session_id}&name={name}")
        for name in ("Ada", "Grace")
    ]
    for board in boards:
        expect(board.locator("#presence-count")).to_have_text(re.compile(r"^2\b"))

    page = open_admin(web_server, open_page)
    row = session_row(page, session_id)
    expect(row.locator("td.clients")).to_have_text("2")
    expect(row.get_by_role("button", name="Design review")).to_be_visible()
    open_detail(page, session_id)
    clients = page.locator("#clients-body tr")
    expect(clients).to_have_count(2)
    expect(clients.filter(has_text="Ada")).to_have_count(1)
    expect(clients.filter(has_text="Grace")).to_have_count(1)

    page.get_by_role("button", name="End session…").click()
    confirm = page.get_by_role("group", name=re.compile("End “Design review”"))
    expect(confirm).to_contain_text("2 connected clients")
    assert session(web_server, session_id)["is_active"], "nothing ends before it is confirmed"
    confirm.get_by_role("button", name="Yes, end it").click()

    for board in boards:
        expect(board.locator("#session-ended")).to_contain_text("ended_by_admin")
    expect(page.locator("#detail-status")).to_contain_text("Ended")
    expect(page.locator("#detail-facts")).to_contain_text("ended_by_admin")
    expect(page.locator("#detail-actions")).to_be_hidden()
    expect(row).to_have_count(0)  # the table lists active sessions
    ended = session(web_server, session_id)
    assert not ended["is_active"] and ended["end_reason"] == "ended_by_admin"


def test_the_filters_and_load_more_page_through_the_sessions(
    web_server: ServerProcess, open_page: Callable[..., Page]
) -> None:
    with requests.Session() as http:
        for n in range(52):
            http.post(
                f"{web_server.api}/sessions",
                json={"project_id": "many", "title": f"Many {n}"},
                headers=ADMIN,
                timeout=5,
            ).raise_for_status()
    other = create_session(web_server, project_id="other", title="Other")
    requests.delete(f"{web_server.api}/sessions/{other}", headers=ADMIN, timeout=5)
    page = open_admin(web_server, open_page)
    rows = page.locator("#sessions-body tr")
    expect(rows).to_have_count(50)  # one page; the ended session is not among the active
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(52)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    # A refresh keeps every page that was loaded.
    expect(page.locator("#refresh-state")).not_to_have_text(
        page.locator("#refresh-state").inner_text()
    )
    expect(rows).to_have_count(52)

    page.locator("#sessions-panel").get_by_label("Status").select_option("all")
    page.get_by_label("Project").fill("other")
    page.get_by_label("Project").press("Enter")
    expect(rows).to_have_count(1)
    expect(session_row(page, other)).to_contain_text("ended_by_admin")
    page.locator("#sessions-panel").get_by_label("Status").select_option("active")
    expect(page.locator("#sessions-empty")).to_be_visible()
    expect(rows).to_have_count(0)


# --- cleanup ---------------------------------------------------------------------------------

IDLE_SECONDS = 1.0


def wait_until_idle(created: float) -> None:
    """The server's clock, not the page's, decides idleness: wait it out past the limit."""
    time.sleep(max(0.0, created + IDLE_SECONDS + 0.5 - time.monotonic()))


def preview(page: Page) -> Locator:
    page.get_by_label("Max inactive hours").fill(str(IDLE_SECONDS / 3600))
    page.get_by_role("button", name="Preview (dry run)").click()
    return page.locator("#cleanup-list li")


def test_cleanup_ends_exactly_what_its_dry_run_listed(
    web_server: ServerProcess,
    open_page: Callable[..., Page],
    sio_member: Callable[[ServerProcess, str, str], socketio.Client],
) -> None:
    created = time.monotonic()
    idle = [create_session(web_server, title=f"Idle {n}") for n in (1, 2)]
    pinned = create_session(web_server, title="Pinned")
    requests.patch(
        f"{web_server.api}/sessions/{pinned}", json={"pinned": True}, headers=ADMIN, timeout=5
    ).raise_for_status()
    busy = create_session(web_server, title="Busy")
    sio_member(web_server, busy, "Linus")
    page = open_admin(web_server, open_page)
    expect(page.locator("#sessions-body tr")).to_have_count(4)
    wait_until_idle(created)

    listed = preview(page)
    expect(listed).to_have_count(2)
    expect(page.locator("#cleanup-summary")).to_have_text("The cleanup would end 2 sessions:")
    previewed = {item.get_attribute("data-session-id") for item in listed.all()}
    assert previewed == set(idle)
    expect(page.locator("#cleanup-list")).to_contain_text("Idle 1")  # titles from the table
    assert all(session(web_server, sid)["is_active"] for sid in [*idle, pinned, busy])

    page.get_by_role("button", name="End these sessions").click()
    expect(page.locator("#cleanup-summary")).to_have_text("Ended 2 sessions:")
    expect(listed).to_have_count(2)
    expect(page.locator("#cleanup-diff")).to_be_hidden()
    for sid in idle:
        assert session(web_server, sid)["end_reason"] == "admin_cleanup"
    assert session(web_server, pinned)["is_active"] and session(web_server, busy)["is_active"]
    expect(page.locator("#sessions-body tr")).to_have_count(2)

    # A preview goes stale: what changed in between is said, not hidden.
    created = time.monotonic()
    late = create_session(web_server, title="Late")
    wait_until_idle(created)
    expect(preview(page)).to_have_count(1)
    requests.patch(
        f"{web_server.api}/sessions/{late}", json={"pinned": True}, headers=ADMIN, timeout=5
    ).raise_for_status()
    page.get_by_role("button", name="End these sessions").click()
    expect(page.locator("#cleanup-summary")).to_have_text("Ended 0 sessions:")
    expect(page.locator("#cleanup-diff")).to_contain_text(f"({late}) were not ended")
    assert session(web_server, late)["is_active"]


# --- pin, TTL and invite links -----------------------------------------------------------------


def test_pin_ttl_and_a_viewers_invite_link_change_the_session(
    web_server: ServerProcess, open_page: Callable[..., Page]
) -> None:
    session_id = create_session(web_server, title="Pin me")
    page = open_admin(web_server, open_page)
    open_detail(page, session_id)

    page.get_by_role("button", name="Pin", exact=True).click()
    expect(page.get_by_role("button", name="Unpin")).to_be_visible()
    assert session(web_server, session_id)["pinned"] is True
    expect(session_row(page, session_id)).to_contain_text("Pinned")
    page.get_by_role("button", name="Unpin").click()
    expect(page.get_by_role("button", name="Pin", exact=True)).to_be_visible()
    assert session(web_server, session_id)["pinned"] is False

    page.get_by_label("TTL (seconds)").fill("7200")
    page.get_by_role("button", name="Set TTL").click()
    expect(page.locator("#detail-facts")).to_contain_text("2 h (expires")
    assert session(web_server, session_id)["ttl_seconds"] == 7200
    page.get_by_role("button", name="Clear TTL").click()
    expect(page.locator("#detail-facts")).to_contain_text(re.compile(r"TTL\s*none"))
    assert session(web_server, session_id)["ttl_seconds"] is None

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_label("Role").select_option("viewer")
    page.get_by_label("Name").fill("Visitor")
    page.get_by_role("button", name="Create link").click()
    link_field = page.get_by_label("Link to share")
    prefix = f"{web_server.url}/demo/?session={session_id}#token="
    expect(link_field).to_have_value(re.compile("^" + re.escape(prefix)))
    expect(page.locator("#invite-expiry")).to_contain_text("A viewer link for “Visitor”")
    link = link_field.input_value()
    claims = jwt_claims(link.removeprefix(prefix))
    assert claims["session_id"] == session_id and claims["role"] == "viewer"
    assert claims["name"] == "Visitor" and claims["exp"] - claims["iat"] == 3600
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == link

    viewer = open_page(link)
    expect(viewer.locator("#read-only-notice")).to_have_text(
        "You are viewing this board read-only."
    )
    visitor = page.locator("#clients-body tr", has_text="Visitor")
    expect(visitor).to_contain_text("viewer")


def test_in_token_mode_every_call_carries_the_admin_token_and_invites_let_people_in(
    start_web_server: Callable[..., ServerProcess], open_page: Callable[..., Page]
) -> None:
    """With AUTH_MODE=token the service routes (list, detail, clients, document, tokens) need
    a bearer token too: the page must send the admin token on every one of them."""
    server = start_web_server(AUTH_MODE="token")
    session_id = create_session(server, title="Locked")
    page = open_admin(server, open_page)
    open_detail(page, session_id)
    expect(page.locator("#detail-document")).to_contain_text("0 nodes")
    page.get_by_label("Role").select_option("editor")
    page.get_by_label("Name").fill("Grace")
    page.get_by_role("button", name="Create link").click()
    link = page.get_by_label("Link to share")
    expect(link).to_have_value(re.compile(r"#token=ey"))

    board = open_page(link.input_value())
    expect(board.locator("#presence-count")).to_have_text(re.compile(r"^1\b"))
    grace = page.locator("#clients-body tr", has_text="Grace")
    expect(grace).to_contain_text("editor")
    expect(session_row(page, session_id).locator("td.clients")).to_have_text("1")


# --- numbers, chart and webhooks ---------------------------------------------------------------


def test_the_tiles_and_the_chart_show_the_metrics_and_webhooks_off_is_said(
    web_server: ServerProcess,
    open_page: Callable[..., Page],
    sio_member: Callable[[ServerProcess, str, str], socketio.Client],
) -> None:
    first = create_session(web_server)
    create_session(web_server)
    sio_member(web_server, first, "Ada")
    page = open_admin(web_server, open_page)
    numbers = metrics(web_server)
    assert (numbers["active_sessions"], numbers["connected_clients"]) == (2, 1)
    for tile, key in (
        ("active-sessions", "active_sessions"),
        ("connected-clients", "connected_clients"),
        ("total-created", "total_created"),
        ("total-cleaned", "total_cleaned"),
    ):
        expect(page.locator(f"#metric-{tile}")).to_have_text(str(numbers[key]))
    expect(page.locator("#chart-latest-sessions")).to_have_text("2")
    expect(page.locator("#chart-latest-clients")).to_have_text("1")
    chart = page.get_by_role("img", name="Sessions and clients")
    expect(chart.locator("polyline[data-series=sessions]")).to_have_count(1)
    expect(chart.locator("polyline[data-series=clients]")).to_have_count(1)
    expect(page.locator("#chart-summary")).to_contain_text("Active sessions: now 2")
    expect(page.locator("#health-badge")).to_have_text("Healthy")
    expect(page.locator("#sweeper-facts")).to_contain_text("Runs")

    # The next refresh, within 3 s, shows a new session in the tiles, the chart and the table.
    create_session(web_server)
    expect(page.locator("#metric-active-sessions")).to_have_text("3")
    expect(page.locator("#chart-latest-sessions")).to_have_text("3")
    expect(page.locator("#sessions-body tr")).to_have_count(3)
    samples = len(chart.locator("polyline[data-series=sessions]").get_attribute("points").split())
    assert samples >= 2

    off = page.locator("#webhooks-off")
    expect(off).to_contain_text("off")
    expect(off).to_contain_text("WEBHOOK_URLS")
    expect(page.locator("#webhooks-table")).to_be_hidden()


def set_tab_hidden(page: Page, hidden: bool) -> None:
    """What the browser does when the tab goes to the background, or comes back."""
    page.evaluate(
        """hidden => {
            Object.defineProperty(document, "hidden", { value: hidden, configurable: true });
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


def test_refreshing_pauses_while_the_tab_is_hidden(
    web_server: ServerProcess, open_page: Callable[..., Page]
) -> None:
    page = open_admin(web_server, open_page)
    calls: list[str] = []
    page.on("request", lambda request: calls.append(request.url))
    set_tab_hidden(page, True)
    expect(page.locator("#refresh-state")).to_have_text("Paused while this tab is hidden")
    before = len(calls)  # a refresh in flight may still finish; none starts after it
    page.wait_for_timeout(4000)  # longer than one refresh period: a negative check must wait
    assert [url for url in calls[before:] if "/api/v1/" in url] == []
    create_session(web_server)
    set_tab_hidden(page, False)
    expect(page.locator("#metric-active-sessions")).to_have_text("1")
    expect(page.locator("#refresh-state")).to_contain_text("Updated")


def test_webhook_deliveries_are_listed_and_a_failed_one_is_retried(
    start_web_server: Callable[..., ServerProcess], open_page: Callable[..., Page]
) -> None:
    with WebhookReceiver() as receiver:
        receiver.script = Script(status=410)  # Gone: failed at once, no retry of its own
        server = start_web_server(WEBHOOK_URLS=receiver.url, WEBHOOK_SECRET=TEST_SECRET)
        session_id = create_session(server)
        page = open_admin(server, open_page)
        expect(page.locator("#webhooks-off")).to_be_hidden()
        row = page.locator("#webhooks-body tr", has_text="session.created")
        expect(row).to_contain_text("failed")
        expect(row).to_contain_text("HTTP 410")
        expect(row).to_contain_text(session_id[:8])

        page.locator("#webhook-status-filter").select_option("delivered")
        expect(page.locator("#webhooks-body tr")).to_have_count(0)
        expect(page.locator("#webhooks-empty")).to_be_visible()
        page.locator("#webhook-status-filter").select_option("failed")
        expect(row).to_have_count(1)

        receiver.script = Script(status=200)
        row.get_by_role("button", name=re.compile(r"^Retry session\.created delivery")).click()
        expect(row).to_have_count(0)  # no longer failed
        page.locator("#webhook-status-filter").select_option("delivered")
        expect(page.locator("#webhooks-body tr", has_text="session.created")).to_have_count(1)
        assert [body["type"] for body in receiver.bodies()] == ["session.created"]
