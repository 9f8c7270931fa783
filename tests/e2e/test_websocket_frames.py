"""WebSocket frames on the real eventlet server: permessage-deflate only when configured, and
frames that still round-trip through our unmasking."""

from __future__ import annotations

import json

import pytest
import websocket

from tests.e2e.conftest import SQLITE_ONLY, create_session
from tests.e2e.server import ServerProcess

DEFLATE_OFFER = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"


def handshake(server: ServerProcess) -> websocket.WebSocket:
    url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    return websocket.create_connection(url, header=[DEFLATE_OFFER], timeout=10)


@SQLITE_ONLY
@pytest.mark.parametrize(("setting", "accepted"), [("false", False), ("true", True)])
def test_permessage_deflate_is_accepted_only_when_configured(
    start_server, setting: str, accepted: bool
) -> None:
    server = start_server(WEBSOCKET_COMPRESSION=setting)
    ws = handshake(server)
    try:
        extensions = (ws.getheaders() or {}).get("sec-websocket-extensions", "")
        assert ("permessage-deflate" in extensions) is accepted
        if not accepted:  # (websocket-client itself cannot read compressed frames)
            assert ws.recv().startswith("0{")
    finally:
        ws.close()


@SQLITE_ONLY
def test_a_large_masked_frame_is_read_intact(server) -> None:
    """A 15 KB event of multi-byte UTF-8 (masked, as every client frame is) reaches the
    handler byte for byte: the node it adds comes back identical in the document."""
    session_id = create_session(server)
    ws = handshake(server)
    try:
        assert ws.recv().startswith("0{")
        ws.send("40")
        assert ws.recv().startswith("40")
        ws.send("420" + json.dumps(["join_session", {"session_id": session_id}]))
        assert json.loads(ws.recv()[3:])[0]["ok"] is True
        text = "äb€🎉" * 1_500
        op = {"type": "add_node", "node_id": "big", "props": {"text": text}}
        event = ["operation", {"session_id": session_id, "op": op}]
        ws.send("421" + json.dumps(event, ensure_ascii=False))
        assert json.loads(ws.recv()[3:])[0] == {"ok": True, "version": 1}
    finally:
        ws.close()
    document = server_document(server, session_id)
    assert document["nodes"] == [{"node_id": "big", "props": {"text": text}}]


def server_document(server: ServerProcess, session_id: str) -> dict:
    import requests

    return requests.get(f"{server.api}/sessions/{session_id}/document", timeout=10).json()
