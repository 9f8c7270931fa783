"""Socket.IO edge: the namespace clients talk to, registered by create_app on each app."""

from .departures import DepartureBatcher
from .namespace import SessionNamespace
from .packets import GuardedPacket

__all__ = ["DepartureBatcher", "GuardedPacket", "SessionNamespace"]
