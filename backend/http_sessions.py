"""SessionHub keeps nothing in Flask's cookie session: the REST API is bearer tokens and
JSON, and a socket's state lives in the namespace and the database.

Flask still opens the cookie session on every request context, and Flask-SocketIO pushes one
for every Socket.IO event: each event parsed the handshake's cookies and checked a signature
nobody needed, a few percent of the server's CPU under load (docs/benchmarks.md). This
interface hands out an empty session without reading the request and never writes one back.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSession, SessionInterface


class NoCookieSession(SessionInterface):
    def open_session(self, app: Flask, request: Any) -> SecureCookieSession:
        return SecureCookieSession()

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        return None
