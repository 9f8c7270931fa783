"""No cookie session: a client's cookies are never read, and no response sets one."""

from __future__ import annotations

from backend.http_sessions import NoCookieSession


def test_requests_neither_read_nor_set_a_session_cookie(app, client) -> None:
    assert isinstance(app.session_interface, NoCookieSession)
    client.set_cookie("session", "not-even-signed")
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def test_socket_events_get_an_empty_session(app) -> None:
    with app.test_request_context(headers={"Cookie": "session=forged.value.sig"}):
        from flask import session

        assert dict(session) == {}
        assert not session.modified
