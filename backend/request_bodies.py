"""WSGI middleware in front of Flask and Engine.IO: every request body is read within
MAX_PAYLOAD_BYTES, or refused with 413 before anyone reads it.

A chunked body (`Transfer-Encoding: chunked`, no `Content-Length`) reached Werkzeug as empty
under eventlet, which does not tell Werkzeug it has decoded the chunks: a chunked
`{"dry_run": true}` swept for real, and a 20 MiB chunked body passed as "no body". Here such a
body is read once, up to the limit, and handed on with its length. A declared length over the
limit is refused before the body is read (Engine.IO's own refusal of an oversized polling POST
waited for a GET that never came, so the POST got no answer).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from .exceptions import PayloadTooLarge

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
            body = environ["wsgi.input"].read(self.max_bytes + 1)
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
        body = error.to_json().encode()
        start_response(
            "413 Content Too Large",
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
