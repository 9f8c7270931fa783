"""Our WebSocket unmasking gives exactly the bytes eventlet's own does, for every frame shape."""

from __future__ import annotations

import random
import warnings

import pytest

from backend.websocket_frames import apply_mask

with warnings.catch_warnings():  # eventlet's import-time notice (docs/stack-notes.md, "Tests")
    warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
    from eventlet.websocket import RFC6455WebSocket

EVENTLETS = RFC6455WebSocket.__dict__["_apply_mask"].__func__


@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 7, 8, 125, 126, 1000, 65_537])
@pytest.mark.parametrize("offset", [0, 1, 2, 3, 6])
def test_same_bytes_as_eventlet(length: int, offset: int) -> None:
    rng = random.Random(length * 31 + offset)
    data = bytes(rng.getrandbits(8) for _ in range(length))
    mask = bytes(rng.getrandbits(8) for _ in range(4))
    assert apply_mask(data, mask, offset=offset) == EVENTLETS(data, mask, offset=offset)


def test_a_list_mask_and_a_length_shorter_than_the_data() -> None:
    """Sending masks with a list of ints; a frame may be unmasked from a longer buffer."""
    data = bytearray(b"hello, websocket")
    mask = [0x12, 0x34, 0x56, 0x78]
    assert apply_mask(data, mask, length=5) == EVENTLETS(data, mask, length=5)
    assert len(apply_mask(data, mask, length=5)) == 5


def test_masking_twice_gives_the_payload_back() -> None:
    payload = "über ünïcödé 🎉".encode()
    mask = b"\x01\x02\x03\x04"
    assert apply_mask(apply_mask(payload, mask), mask) == payload
