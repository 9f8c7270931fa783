"""How eventlet's WebSocket handles frames, tuned by `app.py` (nothing here imports eventlet,
so each piece is tested on its own).

Unmasking (RFC 6455 section 5.3) on whole integers instead of byte by byte: every frame a
browser or Socket.IO client sends is masked, and eventlet unmasks it with a generator that
builds one `bytes` object per byte (a 1 KiB operation: ~1,000 Python-level steps). XOR-ing the
payload as one big integer with the repeated 4-byte key gives the same bytes in a handful of C
calls.

Declining `permessage-deflate` (WEBSOCKET_COMPRESSION=false): eventlet accepts the offer every
Socket.IO client makes and then keeps a zlib compressor per socket (256 KiB, measured with
tracemalloc: 262 KiB of the 325 KiB Python heap each client cost) and deflates every frame to
every recipient separately, though our frames are mostly a few hundred bytes of JSON.
"""

from __future__ import annotations

from collections.abc import Sequence


def apply_mask(
    data: bytes | bytearray | memoryview,
    mask: bytes | Sequence[int],
    length: int | None = None,
    offset: int = 0,
) -> bytes:
    """The first `length` bytes of `data` XOR-ed with the 4-byte `mask`, the mask starting at
    its byte `offset % 4` (a frame read in several pieces continues where the last piece left
    off): the signature and result of `eventlet.websocket.RFC6455WebSocket._apply_mask`."""
    if length is None:
        length = len(data)
    if length <= 0:
        return b""
    key = bytes(mask)
    shift = offset % 4
    key = key[shift:] + key[:shift]
    stream = (key * (length // 4 + 1))[:length]
    payload = int.from_bytes(bytes(data[:length]), "little")
    return (payload ^ int.from_bytes(stream, "little")).to_bytes(length, "little")


def decline_permessage_deflate(_handshake: object, _offered: object) -> None:
    """eventlet's `WebSocketWSGI._negotiate_permessage_deflate`, answering every offer with
    "no extension": the handshake then carries no Sec-WebSocket-Extensions header and frames
    travel uncompressed, which RFC 7692 lets either side choose."""
    return None
