"""Socket.IO packets whose JSON cannot be decoded still reach the namespace, as a refusal.

python-socketio decodes a packet's JSON with the standard library before any handler runs. A
payload nested past the interpreter's recursion limit, an integer longer than Python parses
(4,300 digits) or plain malformed JSON raised inside the server: the client got no ack and the
log a traceback per packet. Here such an event becomes `UNDECODABLE_EVENT` with its ack id kept,
so the namespace answers it with `invalid_payload` like any other bad payload.
"""

from __future__ import annotations

from typing import Any

from socketio import packet

from ..schemas import undecodable_json_reason


class _Undecodable:
    """The event "name" of a packet whose JSON failed to decode: not a string, so no client
    can send it, and no `on_<name>` handler can match it."""

    def __repr__(self) -> str:
        return "<undecodable event>"


UNDECODABLE_EVENT: Any = _Undecodable()


class GuardedPacket(packet.Packet):
    """python-socketio's packet (given as its `serializer`), but a decoding failure of the JSON
    part keeps the packet's namespace and ack id and replaces only the data."""

    def decode(self, encoded_packet: Any) -> int:
        try:
            return super().decode(encoded_packet)
        except (RecursionError, ValueError) as error:
            reason = undecodable_json_reason(error, "The payload")
            if self.packet_type in (packet.EVENT, packet.BINARY_EVENT):
                # Answered at once, so the binary attachments announced are not waited for;
                # should they come, they decode as nothing and are dropped.
                self.packet_type = packet.EVENT
                self.data = [UNDECODABLE_EVENT, reason]
            elif self.packet_type == packet.CONNECT:
                # Not an object, so the connect handler refuses it as a malformed auth.
                self.data = reason
            elif self.packet_type in (packet.ACK, packet.BINARY_ACK):
                # We never ask clients for acks: an answer nobody awaits is dropped.
                self.packet_type, self.data = packet.ACK, None
            else:
                raise
            return 0
