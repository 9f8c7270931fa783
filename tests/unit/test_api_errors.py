"""Every bad request gets a clear JSON error and changes nothing."""

from __future__ import annotations

import io
import json
import re

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
    assert isinstance(body["error"]["details"], dict)  # always there, even when empty
    # One encoder for every error body, Flask's own included: compact, like every answer.
    assert ", " not in response.get_data(as_text=True).split('"message"')[0]
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
    ],
)
def test_a_wrong_method_is_405_in_the_json_shape_with_allow(client, app, method, url, allowed):
    create(client)
    before = database_state(app)
    response = getattr(client, method)(url, json={"project_id": "p"}, headers=ADMIN)
    assert_error(response, 405, "method_not_allowed")
    assert allowed <= allow_header(response)
    assert database_state(app) == before


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("get", CLEANUP, {"OPTIONS", "POST"}),
        ("put", CLEANUP, {"OPTIONS", "POST"}),
        ("delete", CLEANUP, {"OPTIONS", "POST"}),
        ("patch", f"{SESSIONS}/metrics", {"GET", "HEAD", "OPTIONS"}),
        ("delete", f"{SESSIONS}/metrics", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_static_routes_beside_a_session_advertise_only_their_own_methods(
    client, method, url, allowed
):
    """/sessions/cleanup and /sessions/metrics are not session ids: their 405 and OPTIONS
    answers list only their own methods, not the session's GET, PATCH and DELETE."""
    response = getattr(client, method)(url, headers=ADMIN)
    error = assert_error(response, 405, "method_not_allowed")
    assert set(error["details"]["allowed_methods"]) == allowed
    assert allow_header(response) == allowed
    assert allow_header(client.options(url)) == allowed


def allow_header(response) -> set[str]:
    return {method.strip() for method in response.headers["Allow"].split(",")}


def test_flask_errors_carry_details(client, small_client):
    assert assert_error(client.get("/api/v1/nope"), 404, "not_found")["details"] == {
        "path": "/api/v1/nope"
    }
    _, small = small_client
    too_big = small.post(SESSIONS, data="x" * (LIMIT + 1), content_type="application/json")
    assert assert_error(too_big, 413, "payload_too_large")["details"] == {"max_bytes": LIMIT}
    assert assert_error(client.post(CLEANUP), 401, "unauthorized")["details"] == {
        "needs": "admin token"
    }


# --- chunked bodies (Transfer-Encoding: chunked, no Content-Length) ----------------------------


def chunked(client, url, body: bytes, headers=None):
    """A chunked request as eventlet hands it on: the chunks decoded, no Content-Length, and
    nothing telling Werkzeug that the stream ends."""
    return client.post(
        url,
        input_stream=io.BytesIO(body),
        headers={
            "Transfer-Encoding": "chunked",
            "Content-Type": "application/json",
            **(headers or {}),
        },
        environ_overrides={"CONTENT_LENGTH": ""},
    )


def test_a_chunked_dry_run_does_not_sweep(client, app, idle_session):
    before = database_state(app)
    response = chunked(client, CLEANUP, b'{"dry_run": true}', ADMIN)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"removed_sessions": [idle_session], "count": 1, "dry_run": True}
    assert database_state(app) == before


def test_a_chunked_body_is_read_like_any_other(client):
    response = chunked(client, SESSIONS, b'{"project_id": "chunked", "title": "t"}')
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["project_id"] == "chunked"


def test_a_chunked_body_over_the_limit_is_413_and_changes_nothing(small_client, clock):
    app, client = small_client
    session_id = create(client)
    clock.advance(hours=25)
    before = database_state(app)
    body = b'{"dry_run": false, "x": "' + b"y" * (LIMIT * 10) + b'"}'
    error = assert_error(chunked(client, CLEANUP, body, ADMIN), 413, "payload_too_large")
    assert error["details"] == {"max_bytes": LIMIT}
    assert database_state(app) == before
    assert client.get(f"{SESSIONS}/{session_id}").get_json()["is_active"]


class BrokenChunks(io.BytesIO):
    """What eventlet's input does with broken chunk framing: its ChunkReadError is a ValueError."""

    def read(self, size: int | None = -1) -> bytes:
        raise ValueError("invalid literal for int() with base 16: b'ZZ'")


def test_broken_chunked_framing_is_400_and_changes_nothing(client, app, idle_session):
    before = database_state(app)
    response = client.post(
        CLEANUP,
        input_stream=BrokenChunks(b"x"),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json", **ADMIN},
        environ_overrides={"CONTENT_LENGTH": ""},
    )
    assert_error(response, 400, "malformed_body")
    assert "Traceback" not in response.get_data(as_text=True)
    assert database_state(app) == before


def test_a_declared_length_over_the_limit_is_refused_before_engine_io_reads_it(small_client):
    """Engine.IO's own refusal of an oversized polling POST left the request unanswered."""
    _, client = small_client
    response = client.post(
        "/socket.io/?EIO=4&transport=polling&sid=unknown", data="4" + "x" * (LIMIT + 10)
    )
    assert_error(response, 413, "payload_too_large")


# --- text the database cannot store, numbers too long to parse ----------------------------------


@pytest.mark.parametrize("field", ["project_id", "title"])
def test_a_lone_surrogate_is_422_and_changes_nothing(client, app, field):
    before = database_state(app)
    body = {"project_id": "p", field: "bad \ud800 text"}
    raw = json.dumps(body).replace("\\\\ud800", "\\ud800")
    assert "\\ud800" in raw
    response = client.post(SESSIONS, data=raw, content_type="application/json")
    error = assert_error(response, 422, "validation_error")
    assert field in error["details"]["fields"]
    assert database_state(app) == before


@pytest.mark.parametrize("digits", [5000, 100_000])
@pytest.mark.parametrize("route", ROUTE_NAMES)
def test_a_number_too_long_to_parse_is_400_invalid_json(client, app, idle_session, route, digits):
    before = database_state(app)
    data = '{"ttl_seconds": ' + "9" * digits + "}"
    error = assert_error(
        send(client, idle_session, route, data, "application/json"), 400, "invalid_json"
    )
    assert "too long" in error["message"]
    assert database_state(app) == before


def test_a_number_past_floats_range_is_422(client, app, idle_session):
    before = database_state(app)
    data = '{"max_inactive_hours": ' + "9" * 400 + "}"
    response = client.post(CLEANUP, data=data, content_type="application/json", headers=ADMIN)
    assert (
        "max_inactive_hours" in assert_error(response, 422, "validation_error")["details"]["fields"]
    )
    assert database_state(app) == before


def test_a_number_python_parses_but_no_column_holds_is_422(client, app, idle_session):
    before = database_state(app)
    data = '{"project_id": "p", "ttl_seconds": ' + "9" * 4000 + "}"
    response = client.post(SESSIONS, data=data, content_type="application/json")
    assert "ttl_seconds" in assert_error(response, 422, "validation_error")["details"]["fields"]
    assert database_state(app) == before


def test_session_limit_answers_retry_after(make_app):
    app = make_app(SESSION_MAX_CONCURRENT=1, SESSION_CLEANUP_INTERVAL=120)
    client = app.test_client()
    create(client)
    response = client.post(SESSIONS, json={"project_id": "p"})
    assert_error(response, 429, "session_limit_reached")
    assert response.headers["Retry-After"] == "120"


def test_session_limit_with_the_sweep_off_still_answers_retry_after(make_app):
    client = make_app(SESSION_MAX_CONCURRENT=1, SESSION_CLEANUP_INTERVAL=0).test_client()
    create(client)
    response = client.post(SESSIONS, json={"project_id": "p"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "60"


# --- the spec says what the server refuses ---------------------------------------------------


def test_the_spec_is_as_strict_as_the_server(client):
    """Each of these was looser in the spec than in the server, so a client generated from
    the spec sent requests the server refused."""
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    assert schemas["SessionUpdate"]["minProperties"] == 1  # PATCH {} is 422
    hours = schemas["Cleanup"]["properties"]["max_inactive_hours"]
    assert hours["minimum"] == 0 and hours["exclusiveMinimum"] is True  # 0 is 422
    create = schemas["SessionCreate"]["properties"]
    assert re_refuses(create["title"]["pattern"], "a\x00b")  # NUL is 422
    assert re_refuses(create["project_id"]["pattern"], "   ")  # blank is 422
    listing = spec["paths"]["/api/v1/sessions"]["get"]
    [cursor] = [p for p in listing["parameters"] if p["name"] == "cursor"]
    assert re_refuses(cursor["schema"]["pattern"], "not a cursor!")
    assert "400" in listing["responses"]  # invalid_cursor
    limit = spec["paths"]["/api/v1/sessions"]["post"]["responses"]["429"]
    assert "Retry-After" in limit["headers"]
    assert set(schemas["ErrorBody"]["required"]) == {"code", "message", "details"}


def re_refuses(pattern: str, value: str) -> bool:
    return re.search(pattern, value) is None


@pytest.mark.parametrize(
    ("route", "data", "field"),
    [
        ("patch", "{}", "_schema"),
        ("cleanup", '{"max_inactive_hours": 0}', "max_inactive_hours"),
        ("create", '{"project_id": "a\\u0000b"}', "project_id"),
        ("create", '{"project_id": "   "}', "project_id"),
    ],
)
def test_what_the_spec_refuses_the_server_refuses(client, app, idle_session, route, data, field):
    before = database_state(app)
    response = send(client, idle_session, route, data, "application/json")
    error = assert_error(response, 422, "validation_error")
    assert field in error["details"]["fields"]
    assert database_state(app) == before
