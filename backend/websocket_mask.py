"""WebSocket masking (RFC 6455 section 5.3) done on whole integers instead of byte by byte.

Every frame a browser or Socket.IO client sends is masked. eventlet's WebSocket unmasks it with
a generator that builds one `bytes` object per byte: a 1 KiB operation cost ~1,000 Python-level
steps before python-engineio saw it, a few percent of the server's CPU under load
(docs/benchmarks.md). XOR-ing the payload as one big integer with the repeated 4-byte key gives
the same bytes in a handful of C calls. `app.py` installs it into eventlet's WebSocket class;
nothing here imports eventlet, so the function is tested on its own.
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
