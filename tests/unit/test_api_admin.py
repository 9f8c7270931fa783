"""Admin REST actions: PATCH and DELETE a session, the cleanup sweep, and the bearer token."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import select

from backend.extensions import db
from backend.models import Membership
from tests.conftest import ADMIN, ADMIN_TOKEN
from tests.helpers import add_client, database_state
from tests.helpers import create_session as create

SESSIONS = "/api/v1/sessions"
CLEANUP = "/api/v1/sessions/cleanup"
UNKNOWN_ID = "3f0c6a52-6c1e-4d0b-9a51-0d6f1d2b7c11"
CLEANUP_KEYS = {"removed_sessions", "count", "dry_run"}


def detail(client, session_id):
    response = client.get(f"{SESSIONS}/{session_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def patch(client, session_id, body, headers=ADMIN):
    return client.patch(f"{SESSIONS}/{session_id}", json=body, headers=headers)


def cleanup(client, body=None, headers=ADMIN):
    if body is None:
        return client.post(CLEANUP, headers=headers)
    return client.post(CLEANUP, json=body, headers=headers)


def swept(client, body=None):
    response = cleanup(client, body)
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert set(result) == CLEANUP_KEYS
    assert result["count"] == len(result["removed_sessions"])
    return result


def error(response):
    return response.get_json()["error"]


def memberships(app, session_id):
    with app.app_context():
        query = select(Membership).where(Membership.session_id == session_id)
        return [(m.left_at, m.left_reason) for m in db.session.scalars(query)]


# --- PATCH -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "Renamed"},
        {"title": ""},
        {"pinned": True},
        {"ttl_seconds": 120},
        {"title": "All", "pinned": True, "ttl_seconds": 30},
    ],
)
def test_patch_changes_only_the_given_fields(client, changes):
    sid = create(client, title="Plan")
    before = detail(client, sid)
    response = patch(client, sid, changes)
    assert response.status_code == 200
    after = response.get_json()
    assert after == detail(client, sid)
    for key, value in changes.items():
        assert after[key] == value
    untouched = set(before) - set(changes) - {"expires_at"}
    assert {key: after[key] for key in untouched} == {key: before[key] for key in untouched}


def test_patch_ttl_sets_expiry_from_creation(client, clock):
    sid = create(client)
    created = clock.now()
    clock.advance(hours=1)
    after = patch(client, sid, {"ttl_seconds": 7200}).get_json()
    assert after["expires_at"] == (created + timedelta(seconds=7200)).isoformat()


def test_patch_can_unpin(client):
    sid = create(client)
    patch(client, sid, {"pinned": True})
    assert patch(client, sid, {"pinned": False}).get_json()["pinned"] is False


def test_patch_null_clears_title_and_ttl(client):
    sid = create(client, title="Plan", ttl_seconds=60)
    response = patch(client, sid, {"title": None, "ttl_seconds": None})
    assert response.status_code == 200
    after = response.get_json()
    assert after["title"] is None
    assert after["ttl_seconds"] is None
    assert after["expires_at"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({}, "_schema", id="empty-object"),
        pytest.param({"pinned": "yes"}, "pinned", id="pinned-yes"),
        pytest.param({"pinned": "true"}, "pinned", id="pinned-string"),
        pytest.param({"pinned": 1}, "pinned", id="pinned-one"),
        pytest.param({"pinned": None}, "pinned", id="pinned-null"),
        pytest.param({"ttl_seconds": "5"}, "ttl_seconds", id="ttl-string"),
        pytest.param({"ttl_seconds": 1.5}, "ttl_seconds", id="ttl-float"),
        pytest.param({"ttl_seconds": True}, "ttl_seconds", id="ttl-bool"),
        pytest.param({"ttl_seconds": 0}, "ttl_seconds", id="ttl-zero"),
        pytest.param({"ttl_seconds": -60}, "ttl_seconds", id="ttl-negative"),
        pytest.param({"title": "t" * 201}, "title", id="title-too-long"),
        pytest.param({"title": 5}, "title", id="title-number"),
        pytest.param({"title": "ok", "pinned": "yes"}, "pinned", id="one-bad-of-two"),
    ],
)
def test_patch_rejects_bad_values_and_changes_nothing(client, app, body, field):
    sid = create(client, title="Plan", ttl_seconds=60)
    before = database_state(app)
    response = patch(client, sid, body)
    assert response.status_code == 422
    problem = error(response)
    assert problem["code"] == "validation_error"
    assert field in problem["details"]["fields"]
    assert problem["message"]
    assert database_state(app) == before


def test_patch_without_a_body_is_422(client, app):
    sid = create(client)
    before = database_state(app)
    response = client.patch(f"{SESSIONS}/{sid}", headers=ADMIN)
    assert response.status_code == 422
    assert "_schema" in error(response)["details"]["fields"]
    assert database_state(app) == before


def test_patch_lists_unknown_fields_and_applies_none_of_the_body(client, app):
    sid = create(client, title="Plan")
    before = database_state(app)
    response = patch(client, sid, {"title": "New", "owner": "me", "colour": "red"})
    assert response.status_code == 422
    problem = error(response)
    assert problem["code"] == "validation_error"
    assert problem["details"]["unknown_fields"] == ["colour", "owner"]
    assert "owner" in problem["message"] and "colour" in problem["message"]
    assert database_state(app) == before


def test_patch_of_an_ended_session_is_409(client, app):
    sid = create(client)
    client.delete(f"{SESSIONS}/{sid}", headers=ADMIN)
    before = database_state(app)
    response = patch(client, sid, {"pinned": True})
    assert response.status_code == 409
    problem = error(response)
    assert problem["code"] == "session_ended"
    assert problem["details"]["end_reason"] == "ended_by_admin"
    assert database_state(app) == before


def test_patch_of_an_unknown_session_is_404(client):
    response = patch(client, UNKNOWN_ID, {"pinned": True})
    assert response.status_code == 404
    assert error(response)["code"] == "session_not_found"


# --- DELETE ----------------------------------------------------------------------------------


def test_delete_ends_the_session(client, clock):
    sid = create(client)
    clock.advance(seconds=42)
    response = client.delete(f"{SESSIONS}/{sid}", headers=ADMIN)
    assert response.status_code == 200
    ended = response.get_json()
    assert ended["is_active"] is False
    assert ended["end_reason"] == "ended_by_admin"
    assert ended["ended_at"] == clock.now().isoformat()
    assert ended["duration_seconds"] == 42.0
    assert detail(client, sid) == ended
    listed = client.get(SESSIONS, query_string={"status": "ended"}).get_json()["sessions"]
    assert [item["session_id"] for item in listed] == [sid]


def test_delete_closes_the_sessions_memberships(client, app, clock):
    sid = create(client)
    add_client(app, sid, "ada")
    add_client(app, sid, "bob")
    assert detail(client, sid)["active_clients"] == 2
    ended = client.delete(f"{SESSIONS}/{sid}", headers=ADMIN).get_json()
    assert ended["active_clients"] == 0
    assert memberships(app, sid) == [(clock.now(), "session_ended")] * 2


def test_a_second_delete_keeps_the_first_ending(client, app, clock):
    sid = create(client)
    first = client.delete(f"{SESSIONS}/{sid}", headers=ADMIN).get_json()
    before = database_state(app)
    clock.advance(hours=1)
    again = client.delete(f"{SESSIONS}/{sid}", headers=ADMIN)
    assert again.status_code == 200
    assert again.get_json()["ended_at"] == first["ended_at"]
    assert again.get_json()["end_reason"] == "ended_by_admin"
    assert database_state(app) == before


def test_delete_of_a_swept_session_keeps_its_reason(make_app, clock):
    # The idle rule alone: sessions nobody joins would otherwise end as `never_joined`.
    client = make_app(SESSION_EMPTY_TIMEOUT_SECS=0).test_client()
    sid = create(client)
    clock.advance(hours=25)
    swept(client)
    clock.advance(hours=1)
    again = client.delete(f"{SESSIONS}/{sid}", headers=ADMIN).get_json()
    assert again["end_reason"] == "admin_cleanup"
    assert again["ended_at"] == (clock.now() - timedelta(hours=1)).isoformat()


def test_delete_of_an_unknown_session_is_404(client):
    response = client.delete(f"{SESSIONS}/{UNKNOWN_ID}", headers=ADMIN)
    assert response.status_code == 404
    assert error(response)["code"] == "session_not_found"


# --- cleanup ---------------------------------------------------------------------------------


def test_cleanup_ends_idle_sessions_with_admin_cleanup(make_app, clock):
    # The idle rule alone: sessions nobody joins would otherwise end as `never_joined`.
    client = make_app(SESSION_EMPTY_TIMEOUT_SECS=0).test_client()
    idle = sorted(create(client) for _ in range(2))
    clock.advance(hours=25)
    assert swept(client) == {"removed_sessions": idle, "count": 2, "dry_run": False}
    for sid in idle:
        ended = detail(client, sid)
        assert ended["is_active"] is False
        assert ended["end_reason"] == "admin_cleanup"
        assert ended["ended_at"] == clock.now().isoformat()


def test_cleanup_with_nothing_idle(make_app, clock):
    # The idle rule alone: sessions nobody joins would otherwise end as `never_joined`.
    client = make_app(SESSION_EMPTY_TIMEOUT_SECS=0).test_client()
    create(client)
    clock.advance(hours=23)
    assert swept(client, {}) == {"removed_sessions": [], "count": 0, "dry_run": False}


def test_default_threshold_is_session_timeout_secs(make_app, clock):
    # The idle rule alone: sessions nobody joins would otherwise end as `never_joined`.
    client = make_app(SESSION_TIMEOUT_SECS=3600, SESSION_EMPTY_TIMEOUT_SECS=0).test_client()
    sid = create(client)
    clock.advance(seconds=3599)
    assert swept(client)["removed_sessions"] == []
    clock.advance(seconds=1)
    assert swept(client)["removed_sessions"] == [sid]


def test_max_inactive_hours_overrides_the_default(make_app, clock):
    # The idle rule alone: sessions nobody joins would otherwise end as `never_joined`.
    client = make_app(SESSION_EMPTY_TIMEOUT_SECS=0).test_client()
    older = create(client)
    clock.advance(hours=2)
    newer = create(client)
    clock.advance(hours=1)  # idle: older 3 h, newer 1 h
    assert swept(client, {"max_inactive_hours": 5})["removed_sessions"] == []
    assert swept(client, {"max_inactive_hours": 2})["removed_sessions"] == [older]
    assert swept(client, {"max_inactive_hours": 0.5})["removed_sessions"] == [newer]


def test_dry_run_lists_but_changes_nothing(client, app, clock):
    idle = sorted(create(client) for _ in range(3))
    clock.advance(hours=25)
    fresh = create(client)
    before = database_state(app)
    result = swept(client, {"dry_run": True})
    assert result["dry_run"] is True
    assert sorted(result["removed_sessions"]) == idle
    assert result["count"] == 3
    assert database_state(app) == before
    assert detail(client, idle[0])["is_active"] is True

    real = swept(client, {"dry_run": False})
    assert sorted(real["removed_sessions"]) == idle
    assert detail(client, fresh)["is_active"] is True


def test_pinned_sessions_and_sessions_with_clients_survive(client, app, clock):
    idle = create(client)
    pinned = create(client)
    busy = create(client)
    assert patch(client, pinned, {"pinned": True}).status_code == 200
    add_client(app, busy)
    clock.advance(hours=1000)
    assert swept(client, {"dry_run": True})["removed_sessions"] == [idle]
    assert swept(client, {"max_inactive_hours": 0.001})["removed_sessions"] == [idle]
    for sid in (pinned, busy):
        assert detail(client, sid)["is_active"] is True
    assert detail(client, busy)["active_clients"] == 1
    assert memberships(app, busy) == [(None, None)]


def test_cleanup_never_reports_an_already_ended_session(client, clock):
    ended = create(client)
    client.delete(f"{SESSIONS}/{ended}", headers=ADMIN)
    clock.advance(hours=25)
    assert swept(client)["removed_sessions"] == []
    assert detail(client, ended)["end_reason"] == "ended_by_admin"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param('{"max_inactive_hours": NaN}', "max_inactive_hours", id="nan"),
        pytest.param('{"max_inactive_hours": Infinity}', "max_inactive_hours", id="infinity"),
        pytest.param('{"max_inactive_hours": -1}', "max_inactive_hours", id="negative"),
        pytest.param('{"max_inactive_hours": 0}', "max_inactive_hours", id="zero"),
        pytest.param('{"max_inactive_hours": "5"}', "max_inactive_hours", id="string"),
        pytest.param('{"max_inactive_hours": "abc"}', "max_inactive_hours", id="word"),
        pytest.param('{"max_inactive_hours": true}', "max_inactive_hours", id="bool"),
        pytest.param('{"max_inactive_hours": null}', "max_inactive_hours", id="null"),
        pytest.param('{"max_inactive_hours": [1]}', "max_inactive_hours", id="list"),
        pytest.param('{"dry_run": "yes"}', "dry_run", id="dry-run-yes"),
        pytest.param('{"dry_run": 1}', "dry_run", id="dry-run-one"),
    ],
)
def test_cleanup_rejects_bad_values_and_changes_nothing(client, app, clock, raw, field):
    create(client)
    clock.advance(hours=25)
    before = database_state(app)
    response = client.post(CLEANUP, data=raw, content_type="application/json", headers=ADMIN)
    assert response.status_code == 422
    problem = error(response)
    assert problem["code"] == "validation_error"
    assert field in problem["details"]["fields"]
    assert database_state(app) == before


def test_cleanup_rejects_unknown_fields(client, app, clock):
    create(client)
    clock.advance(hours=25)
    before = database_state(app)
    response = cleanup(client, {"max_idle_hours": 1, "dry_run": False})
    assert response.status_code == 422
    assert error(response)["details"]["unknown_fields"] == ["max_idle_hours"]
    assert database_state(app) == before


@pytest.mark.parametrize("hours", [1e8, 1e12, 1e300])
def test_a_huge_max_inactive_hours_is_not_a_server_error(client, app, clock, hours):
    """Longer than any session has existed: a clear 422 or an empty sweep, never a 500."""
    sid = create(client)
    clock.advance(hours=25)
    response = cleanup(client, {"max_inactive_hours": hours, "dry_run": True})
    assert response.status_code in (200, 422), response.get_json()
    if response.status_code == 200:
        assert response.get_json()["removed_sessions"] == []
    assert detail(client, sid)["is_active"] is True


# --- the bearer token ------------------------------------------------------------------------

ADMIN_CALLS = [
    pytest.param("patch", "{sid}", {"pinned": True}, id="PATCH"),
    pytest.param("delete", "{sid}", None, id="DELETE"),
    pytest.param("post", "cleanup", {}, id="cleanup"),
]
BASIC = base64.b64encode(f"admin:{ADMIN_TOKEN}".encode()).decode()
BAD_CREDENTIALS = [
    pytest.param({}, 401, id="missing"),
    pytest.param({"Authorization": f"Basic {BASIC}"}, 401, id="basic-scheme"),
    pytest.param({"Authorization": "Bearer"}, 401, id="bearer-without-token"),
    pytest.param({"Authorization": "Bearer    "}, 401, id="bearer-blank-token"),
    pytest.param({"Authorization": ADMIN_TOKEN}, 401, id="token-without-scheme"),
    pytest.param({"Authorization": "Bearer wrong-token"}, 403, id="wrong-token"),
    pytest.param({"Authorization": f"Bearer {ADMIN_TOKEN}x"}, 403, id="token-plus-one"),
    pytest.param({"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"}, 403, id="token-prefix"),
    pytest.param({"Authorization": f"Bearer {ADMIN_TOKEN.upper()}"}, 403, id="token-upper"),
]


def admin_call(client, method, route, headers, **kwargs):
    return getattr(client, method)(f"{SESSIONS}/{route}", headers=headers, **kwargs)


def assert_refused(response, status):
    assert response.status_code == status
    problem = error(response)
    assert problem["code"] == {401: "unauthorized", 403: "forbidden"}[status]
    assert problem["message"]
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "route", "body"), ADMIN_CALLS)
@pytest.mark.parametrize(("headers", "status"), BAD_CREDENTIALS)
def test_admin_endpoints_refuse_bad_credentials_and_change_nothing(
    client, app, clock, method, route, body, headers, status
):
    sid = create(client)
    clock.advance(hours=25)  # so a sweep that got through would end it
    before = database_state(app)
    response = admin_call(client, method, route.format(sid=sid), headers, json=body)
    assert_refused(response, status)
    assert database_state(app) == before


@pytest.mark.parametrize(("method", "route", "body"), ADMIN_CALLS)
def test_the_right_token_gets_through(client, clock, method, route, body):
    sid = create(client)
    clock.advance(hours=25)
    response = admin_call(client, method, route.format(sid=sid), ADMIN, json=body)
    assert response.status_code == 200
    bearer_lowercase = {"Authorization": f"bearer {ADMIN_TOKEN}"}
    response = admin_call(client, method, route.format(sid=sid), bearer_lowercase, json=body)
    assert response.status_code == 200


@pytest.mark.parametrize(("method", "route", "body"), ADMIN_CALLS)
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({}, 401, id="missing"),
        pytest.param({"Authorization": "Bearer wrong-token"}, 403, id="wrong"),
    ],
)
@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        pytest.param("{not json", "application/json", id="malformed"),
        pytest.param('{"unknown": 1, "pinned": "yes"}', "application/json", id="invalid"),
        pytest.param("[1, 2]", "application/json", id="array"),
        pytest.param("pinned=true", "application/x-www-form-urlencoded", id="form"),
    ],
)
def test_auth_is_checked_before_the_body(
    client, app, method, route, body, headers, status, data, content_type
):
    sid = create(client)
    before = database_state(app)
    response = admin_call(
        client, method, route.format(sid=sid), headers, data=data, content_type=content_type
    )
    assert_refused(response, status)
    assert database_state(app) == before


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_auth_is_checked_before_the_session_is_looked_up(client, method):
    response = admin_call(client, method, UNKNOWN_ID, {}, json={"pinned": True})
    assert_refused(response, 401)
    response = admin_call(client, method, "not-a-uuid", {"Authorization": "Bearer nope"})
    assert_refused(response, 403)
