"""A client in its own process, so a test can freeze it (SIGSTOP) like a vanished peer.

Usage: python join_and_wait.py SERVER_URL SESSION_ID [TRANSPORT]
Prints "joined", then waits forever.
"""

import sys
import threading

import socketio


def main() -> None:
    url, session_id = sys.argv[1], sys.argv[2]
    transport = sys.argv[3] if len(sys.argv) > 3 else "websocket"
    client = socketio.Client(reconnection=False)
    client.connect(url, auth={"name": "silent"}, transports=[transport], wait_timeout=10)
    ack = client.call("join_session", {"session_id": session_id}, timeout=10)
    if not ack.get("ok"):
        sys.exit(f"join failed: {ack}")
    print("joined", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
