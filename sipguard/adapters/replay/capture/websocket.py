"""WebSocket framing (RFC 6455 section 5) for SIP over WebSocket (RFC 7118).

Invariants:
- ``WebSocketDecoder.feed`` takes stream bytes in order and returns the payload of every
  complete *data message*: text or binary frames joined with their continuation frames,
  unmasked with the frame's masking key.  Control frames (close, ping, pong) are skipped.
- RFC 7118 section 5 carries exactly one SIP message in each WebSocket message, so each
  returned payload is one SIP message candidate.
- ``is_upgrade`` recognises the HTTP/1.1 handshake (request with ``Upgrade: websocket`` or
  a ``101`` answer) that switches a TCP stream to WebSocket framing.
"""

from __future__ import annotations

import re

_UPGRADE = re.compile(rb"\r\nupgrade[ \t]*:[ \t]*websocket", re.IGNORECASE)
_MAX_MESSAGE = 1 << 20
_CONTINUATION = 0x0
_TEXT = 0x1
_BINARY = 0x2


def is_upgrade(head: bytes) -> bool:
    """True when an HTTP header block opens a WebSocket connection (request or 101)."""
    if head.startswith(b"HTTP/1.1 101"):
        return True
    return head.startswith(b"GET ") and _UPGRADE.search(head) is not None


def unmask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte masking key, repeated (RFC 6455 section 5.3)."""
    if not payload:
        return payload
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    as_int = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return as_int.to_bytes(len(payload), "big")


class WebSocketDecoder:
    """Incremental WebSocket frame decoder for one direction of a connection."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._message = bytearray()
        self._in_message = False
        self.broken = False

    def feed(self, chunk: bytes) -> list[bytes]:
        """Add stream bytes; return every data message they complete."""
        if self.broken:
            return []
        self._buf += chunk
        out: list[bytes] = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return out
            fin, opcode, payload = frame
            if opcode & 0x8:
                continue  # control frame
            if opcode in (_TEXT, _BINARY):
                self._message = bytearray(payload)
                self._in_message = True
            elif opcode == _CONTINUATION and self._in_message:
                self._message += payload
            else:
                continue
            if len(self._message) > _MAX_MESSAGE:
                self.broken = True
                return out
            if fin:
                out.append(bytes(self._message))
                self._message = bytearray()
                self._in_message = False

    def _next_frame(self) -> tuple[bool, int, bytes] | None:
        buf = self._buf
        if len(buf) < 2:
            return None
        fin = bool(buf[0] & 0x80)
        opcode = buf[0] & 0x0F
        masked = bool(buf[1] & 0x80)
        length = buf[1] & 0x7F
        pos = 2
        if length == 126:
            if len(buf) < 4:
                return None
            length, pos = int.from_bytes(buf[2:4], "big"), 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length, pos = int.from_bytes(buf[2:10], "big"), 10
        if length > _MAX_MESSAGE:
            self.broken = True
            return None
        key = b""
        if masked:
            if len(buf) < pos + 4:
                return None
            key, pos = bytes(buf[pos : pos + 4]), pos + 4
        if len(buf) < pos + length:
            return None
        payload = bytes(buf[pos : pos + length])
        del buf[: pos + length]
        return (fin, opcode, unmask(payload, key) if masked else payload)
