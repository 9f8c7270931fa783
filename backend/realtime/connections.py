"""What the Socket.IO edge keeps about each of its sockets, and which socket an event is for."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from .. import clock, documents
from .ratelimit import TokenBucket

# The socket whose event is being handled (set by SessionNamespace._dispatch).
EVENT_SID: ContextVar[str] = ContextVar("sessionhub_event_sid")


@dataclass
class Connection:
    """What this process knows about one of its sockets; gone with the socket."""

    name: str | None
    device_id: str | None
    bucket: TokenBucket
    clock: clock.Clock  # the app's, read without pushing an app context on every event
    # session id -> this socket's membership there, as other clients see its changes
    joined: dict[str, documents.Author] = field(default_factory=dict)
    # the sessions of `joined` this socket entered as a viewer: it may not write there
    read_only: set[str] = field(default_factory=set)
