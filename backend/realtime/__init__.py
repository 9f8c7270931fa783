"""Socket.IO edge: the namespace clients talk to, registered by create_app on each app."""

from .namespace import SessionNamespace
from .packets import GuardedPacket

__all__ = ["GuardedPacket", "SessionNamespace"]
