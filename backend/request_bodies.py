"""WSGI middleware in front of Flask and Engine.IO: every request body is read within
MAX_PAYLOAD_BYTES, or refused with 413 before anyone reads it.

A chunked body (`Transfer-Encoding: chunked`, no `Content-Length`) reached Werkzeug as empty
under eventlet, which does not tell Werkzeug it has decoded the chunks: a chunked
`{"dry_run": true}` swept for real, and a 20 MiB chunked body passed as "no body". Here such a
body is read once, up to the limit, and handed on with its length; broken chunking is a 400
(eventlet answered it with a 500 and a traceback in the body). A declared length over the
limit is refused before the body is read (Engine.IO's own refusal of an oversized polling POST
waited for a GET that never came, so the POST got no answer).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from .exceptions import MalformedBody, PayloadTooLarge, SessionHubError

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class BoundedRequestBodies:
    def __init__(self, app: WSGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        declared = _declared_length(environ)
        if declared is not None:
            if declared > self.max_bytes:
                return self._too_large(start_response)
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            try:
                body = environ["wsgi.input"].read(self.max_bytes + 1)
            except (ValueError, OSError):  # eventlet's ChunkReadError is a ValueError
                return _refuse(MalformedBody(), start_response)
            if len(body) > self.max_bytes:
                return self._too_large(start_response)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
        return self.app(environ, start_response)

    def _too_large(self, start_response: Callable[..., Any]) -> list[bytes]:
        error = PayloadTooLarge(
            f"The request body is larger than {self.max_bytes} bytes.",
            details={"max_bytes": self.max_bytes},
        )
        return _refuse(error, start_response)


def _refuse(error: SessionHubError, start_response: Callable[..., Any]) -> list[bytes]:
    body = error.to_json().encode()
    start_response(
        f"{error.status} {HTTPStatus(error.status).phrase}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            # The unread body stays on the connection; closing it spares reading it all.
            ("Connection", "close"),
        ],
    )
    return [body]


def _declared_length(environ: dict[str, Any]) -> int | None:
    value = environ.get("CONTENT_LENGTH") or ""
    try:
        return max(0, int(value)) if value.strip() else None
    except ValueError:
        return None
