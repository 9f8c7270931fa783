"""Every bad request gets a clear JSON error and changes nothing."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN
from tests.helpers import create_session as create
from tests.helpers import database_state

SESSIONS = "/api/v1/sessions"
CLEANUP = "/api/v1/sessions/cleanup"
UNKNOWN_ID = "3f0c6a52-6c1e-4d0b-9a51-0d6f1d2b7c11"
LIMIT = 2048


def assert_error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


@pytest.fixture()
def idle_session(client, clock):
    """A session that a PATCH, DELETE or cleanup that got through would visibly change."""
    session_id = create(client, title="Plan")
    clock.advance(hours=25)
    return session_id


def body_routes(session_id):
    """(method, url, headers) of every endpoint that reads a JSON body."""
    return [
        ("post", SESSIONS, {}),
        ("patch", f"{SESSIONS}/{session_id}", ADMIN),
        ("post", CLEANUP, ADMIN),
    ]


ROUTE_NAMES = ["create", "patch", "cleanup"]


def send(client, session_id, route, data, content_type):
    method, url, headers = body_routes(session_id)[ROUTE_NAMES.index(route)]
    return getattr(client, method)(url, data=data, content_type=content_type, headers=headers)


# --- bodies that are not a JSON object --------------------------------------------------------


@pytest.mark.parametrize("route", ROUTE_NAMES)
@pytest.mark.parametrize(
    "data",
    [
        pytest.param('{"project_id": "p"', id="unterminated"),
        pytest.param("{project_id: 'p'}", id="unquoted"),
        pytest.param('{"project_id": "p",}', id="trailing-comma"),
        pytest.param("not json at all", id="prose"),
        pytest.param(b'{"project_id": "\xff\xfe"}', id="invalid-utf8"),
    ],
)
def test_malformed_json_is_400_invalid_json(client, app, idle_session, route, data):
    before = database_state(app)
    response = send(client, idle_session, route, data, "application/json")
    assert_error(response, 400, "invalid_json")
    assert database_state(app) == before


@pytest.mark.parametrize("route", ROUTE_NAMES)
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        None,
    ],
)
def test_a_body_with_the_wrong_content_type_is_400_invalid_json(
    client, app, idle_session, route, content_type
):
    before = database_state(app)
    data = '{"project_id": "p", "pinned": true, "dry_run": false}'
    response = send(client, idle_session, route, data, content_type)
    problem = assert_error(response, 400, "invalid_json")
    assert "application/json" in problem["message"]
    assert database_state(app) == before


@pytest.mark.parametrize("route", ROUTE_NAMES)
@pytest.mark.parametrize(
    "data",
    [
        pytest.param('[{"project_id": "p"}]', id="array"),
        pytest.param('"project_id"', id="string"),
        pytest.param("42", id="number"),
        pytest.param("true", id="boolean"),
        pytest.param("null", id="null"),
    ],
)
def test_a_json_body_that_is_not_an_object_is_400_invalid_json(
    client, app, idle_session, route, data
):
    before = database_state(app)
    response = send(client, idle_session, route, data, "application/json")
    problem = assert_error(response, 400, "invalid_json")
    assert "object" in problem["message"]
    assert database_state(app) == before


@pytest.mark.parametrize("route", ROUTE_NAMES)
def test_deeply_nested_json_is_a_client_error(client, app, idle_session, route):
    """Valid JSON nested deeper than the parser recurses: still the client's fault, not a 500."""
    before = database_state(app)
    data = "[" * 50_000 + "]" * 50_000
    response = send(client, idle_session, route, data, "application/json")
    assert response.status_code in (400, 413, 422), response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] in (
        "invalid_json",
        "payload_too_large",
        "validation_error",
    )
    assert database_state(app) == before


def test_json_with_a_charset_is_still_json(client):
    response = client.post(
        SESSIONS, data='{"project_id": "p"}', content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 201


# --- empty bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize("data", [None, "", "   \n"])
def test_create_with_an_empty_body_is_422_missing_project_id(client, app, data):
    before = database_state(app)
    response = client.post(SESSIONS, data=data, content_type="application/json")
    problem = assert_error(response, 422, "validation_error")
    assert "project_id" in problem["details"]["fields"]
    assert "project_id" in problem["message"]
    assert database_state(app) == before


def test_cleanup_with_an_empty_body_uses_the_defaults(client, idle_session):
    response = client.post(CLEANUP, headers=ADMIN)
    assert response.status_code == 200
    assert response.get_json() == {"removed_sessions": [idle_session], "count": 1, "dry_run": False}


# --- strings the database may not store -------------------------------------------------------


@pytest.mark.parametrize("field", ["project_id", "title"])
def test_a_nul_character_gets_the_same_answer_on_every_backend(client, app, field):
    """PostgreSQL text cannot hold NUL: either every backend refuses it (422) or none does."""
    body = {"project_id": "p", field: "a\u0000b"}
    response = client.post(SESSIONS, json=body)
    assert response.status_code in (201, 422), response.get_data(as_text=True)
    if response.status_code == 201:
        stored = client.get(response.headers["Location"]).get_json()
        assert stored[field] == "a\u0000b"
    else:
        assert field in response.get_json()["error"]["details"]["fields"]


# --- oversized bodies ------------------------------------------------------------------------


@pytest.fixture()
def small_client(make_app):
    app = make_app(MAX_PAYLOAD_BYTES=LIMIT, MAX_CONTENT_LENGTH=LIMIT)
    return app, app.test_client()


@pytest.mark.parametrize("route", ROUTE_NAMES)
@pytest.mark.parametrize("size", [LIMIT + 1, 10 * LIMIT])
def test_an_oversized_body_is_413_and_changes_nothing(small_client, clock, route, size):
    app, client = small_client
    session_id = create(client)
    clock.advance(hours=25)
    before = database_state(app)
    padding = " " * (size - len('{"title": "x"}'))
    data = '{"title": "x"' + padding + "}"
    assert len(data) == size
    response = send(client, session_id, route, data, "application/json")
    assert_error(response, 413, "payload_too_large")
    assert database_state(app) == before


def test_a_body_just_under_the_limit_is_accepted(small_client):
    app, client = small_client
    body = '{"project_id": "p", "title": "x"}'
    data = body[:-1] + " " * (LIMIT - len(body)) + "}"
    assert len(data) == LIMIT
    response = client.post(SESSIONS, data=data, content_type="application/json")
    assert response.status_code == 201


# --- routes and methods ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/nope",
        "/api/v1/nope",
        "/api/v2/sessions",
        f"{SESSIONS}/{UNKNOWN_ID}/nope",
        f"{SESSIONS}/{UNKNOWN_ID}/info/extra",
    ],
)
def test_an_unknown_route_is_404_in_the_json_shape(client, url):
    assert_error(client.get(url), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("put", SESSIONS, {"GET", "POST"}),
        ("delete", SESSIONS, {"GET", "POST"}),
        ("put", f"{SESSIONS}/{UNKNOWN_ID}", {"GET", "PATCH", "DELETE"}),
        ("post", f"{SESSIONS}/{UNKNOWN_ID}", {"GET", "PATCH", "DELETE"}),
        ("post", f"{SESSIONS}/{UNKNOWN_ID}/info", {"GET"}),
        ("delete", f"{SESSIONS}/{UNKNOWN_ID}/document", {"GET"}),
        ("post", "/api/v1/health", {"GET"}),
        ("put", CLEANUP, {"POST"}),
    ],
)
def test_a_wrong_method_is_405_in_the_json_shape_with_allow(client, app, method, url, allowed):
    create(client)
    before = database_state(app)
    response = getattr(client, method)(url, json={"project_id": "p"}, headers=ADMIN)
    assert_error(response, 405, "method_not_allowed")
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}
    assert database_state(app) == before
