"""REST credentials (DESIGN section 10): every route's credential decided, in both modes.

The table below is the contract. A route added without `blp.requires(...)` stops the app from
starting; one added with a credential but not here fails the first test, so nobody adds a route
without deciding, in review, who may call it.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from backend.access import ADMIN, PUBLIC, SERVICE
from backend.api.auth import require_every_route_decided, route_levels
from backend.api.blueprint import URL_PREFIX
from tests.conftest import ADMIN_TOKEN
from tests.helpers import SESSIONS, database_state

SERVICE_TOKEN = "service-token-for-the-access-tests-0123456789"
SESSION = f"{URL_PREFIX}/sessions/<session_id:session_id>"

CREDENTIALS: dict[tuple[str, str], str] = {
    ("GET", f"{URL_PREFIX}/openapi.json"): PUBLIC,
    ("GET", f"{URL_PREFIX}/docs"): PUBLIC,
    ("GET", f"{URL_PREFIX}/docs/assets/<path:filename>"): PUBLIC,
    ("GET", f"{URL_PREFIX}/health"): PUBLIC,
    ("GET", f"{URL_PREFIX}/metrics"): PUBLIC,
    ("GET", f"{URL_PREFIX}/sessions/metrics"): PUBLIC,
    ("GET", SESSIONS): SERVICE,
    ("POST", SESSIONS): SERVICE,
    ("GET", SESSION): SERVICE,
    ("GET", f"{SESSION}/info"): SERVICE,
    ("GET", f"{SESSION}/clients"): SERVICE,
    ("GET", f"{SESSION}/document"): SERVICE,
    ("POST", f"{SESSION}/tokens"): SERVICE,
    ("PATCH", SESSION): ADMIN,
    ("DELETE", SESSION): ADMIN,
    ("POST", f"{URL_PREFIX}/sessions/cleanup"): ADMIN,
    ("GET", f"{URL_PREFIX}/webhooks/deliveries"): ADMIN,
    ("POST", f"{URL_PREFIX}/webhooks/deliveries/<delivery_id>/retry"): ADMIN,
}
# What a call that passes the credential check answers, where that is not a 2xx: the retry
# walks no real delivery.
PERMITTED_STATUS = {("POST", f"{URL_PREFIX}/webhooks/deliveries/<delivery_id>/retry"): 404}
# A valid body for each route that takes one, so a call that passes the credential check
# succeeds (2xx) rather than failing validation.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", SESSIONS): {"project_id": "proj"},
    ("POST", f"{SESSION}/tokens"): {"name": "Ada"},
    ("PATCH", SESSION): {"title": "renamed"},
    ("POST", f"{URL_PREFIX}/sessions/cleanup"): {"dry_run": True},
}
HEADERS = {
    "none": {},
    "not bearer": {"Authorization": f"Basic {ADMIN_TOKEN}"},
    "empty bearer": {"Authorization": "Bearer "},
    "wrong": {"Authorization": "Bearer not-a-token-this-server-knows"},
    "service": {"Authorization": f"Bearer {SERVICE_TOKEN}"},
    "admin": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
    "admin, lower-case scheme": {"Authorization": f"bearer {ADMIN_TOKEN}"},
}


def expected_status(level: str, mode: str, credential: str) -> int | None:
    """401 or 403 for a refusal, None when the credential check lets the call through."""
    needs_token = level == ADMIN or (level == SERVICE and mode == "token")
    if not needs_token or credential.startswith("admin"):
        return None
    if credential in ("none", "not bearer", "empty bearer"):
        return 401
    if credential == "service" and level == SERVICE:
        return None
    return 403


@pytest.fixture(params=["open", "token"])
def mode_app(request: pytest.FixtureRequest, make_app) -> Flask:
    return make_app(AUTH_MODE=request.param, SERVICE_TOKEN=SERVICE_TOKEN)


def test_every_route_has_the_credential_this_table_gives(app: Flask) -> None:
    declared = {(method, rule): level for rule, method, level in route_levels(app, URL_PREFIX)}
    assert declared == CREDENTIALS


def test_an_api_with_a_route_nobody_decided_on_does_not_start(app: Flask) -> None:
    app.add_url_rule(f"{URL_PREFIX}/forgotten", "forgotten", lambda: "open to all?")
    with pytest.raises(RuntimeError, match=f"GET {URL_PREFIX}/forgotten"):
        require_every_route_decided(app, URL_PREFIX)


def concrete_path(app: Flask, rule: str) -> str:
    """The rule with a fresh active session's id, or a real Swagger UI file."""
    client = app.test_client()
    created = client.post(SESSIONS, json={"project_id": "proj"}, headers=HEADERS["admin"])
    assert created.status_code == 201, created.get_json()
    session_id = created.get_json()["session_id"]
    return (
        rule.replace("<session_id:session_id>", session_id)
        .replace("<path:filename>", "swagger-ui.css")
        .replace("<delivery_id>", "msg_0123456789abcdef0123456789abcdef")
    )


@pytest.mark.parametrize("credential", list(HEADERS))
def test_every_route_answers_each_credential_as_its_level_says(
    mode_app: Flask, credential: str
) -> None:
    mode = mode_app.config["AUTH_MODE"]
    client = mode_app.test_client()
    wrong = []
    for (method, rule), level in CREDENTIALS.items():
        path = concrete_path(mode_app, rule)
        before = database_state(mode_app)
        with client.open(
            path, method=method, json=BODIES.get((method, rule)), headers=HEADERS[credential]
        ) as response:  # closed: Swagger UI's files are streamed
            response.get_data()
        expected = expected_status(level, mode, credential)
        if expected is None:
            permitted = PERMITTED_STATUS.get((method, rule))
            if response.status_code >= 400 and response.status_code != permitted:
                wrong.append((method, rule, response.status_code, response.get_json()))
            continue
        body = response.get_json()
        code = "unauthorized" if expected == 401 else "forbidden"
        if response.status_code != expected or body["error"]["code"] != code:
            wrong.append((method, rule, response.status_code, body))
        elif database_state(mode_app) != before:
            wrong.append((method, rule, "a refused call changed the database"))
        elif expected == 401 and "Bearer" not in response.headers.get("WWW-Authenticate", ""):
            wrong.append((method, rule, "401 without WWW-Authenticate: Bearer"))
    assert wrong == []


def test_refusals_name_what_is_missing_but_nothing_about_the_secret(make_app) -> None:
    app = make_app(AUTH_MODE="token", SERVICE_TOKEN=SERVICE_TOKEN)
    client = app.test_client()
    missing = client.get(SESSIONS).get_json()["error"]
    assert missing["details"] == {"needs": "service or admin token"}
    near_miss = client.get(SESSIONS, headers={"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}x"})
    assert near_miss.get_json()["error"] == {
        "code": "forbidden",
        "message": "The bearer token is not one this server accepts.",
        "details": {},
    }
    service_on_admin = client.post(
        f"{SESSIONS}/cleanup", json={"dry_run": True}, headers=HEADERS["service"]
    )
    assert service_on_admin.status_code == 403
    assert "admin token" in service_on_admin.get_json()["error"]["message"]


def test_without_a_service_token_only_the_admin_token_opens_service_routes(make_app) -> None:
    client = make_app(AUTH_MODE="token").test_client()
    assert client.get(SESSIONS, headers=HEADERS["service"]).status_code == 403
    assert client.get(SESSIONS, headers={"Authorization": "Bearer "}).status_code == 401
    assert client.get(SESSIONS, headers=HEADERS["admin"]).status_code == 200


def test_the_credential_is_checked_before_the_body_is_read(make_app) -> None:
    """An outsider learns nothing from validation errors: a broken body still gets 401."""
    client = make_app(AUTH_MODE="token").test_client()
    response = client.post(SESSIONS, data="{not json", content_type="application/json")
    assert response.status_code == 401
    unknown = client.post(f"{SESSIONS}/00000000-0000-4000-8000-000000000000/tokens", json={})
    assert unknown.status_code == 401
