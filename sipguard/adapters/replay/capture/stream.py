"""SIP message framing on a captured byte stream (RFC 3261 section 18.3), with resync.

Invariants:
- A message ends after the blank line plus ``Content-Length`` body bytes (compact form
  ``l`` accepted; a missing length means an empty body).  Several messages in one chunk
  and one message across many chunks both come out whole and in order.
- Unlike a live server, a capture may start in the middle of a stream or lose segments:
  when the framer is not at a message boundary it discards bytes up to the next line
  that is a SIP request or status line, and carries on from there.
- Keep-alive CRLFs (RFC 5626 section 4.4.1) between messages are skipped.
- A stream that opens with an HTTP WebSocket handshake is switched to WebSocket framing
  (RFC 7118); each WebSocket message is then one SIP message.
- Buffered bytes are bounded (``_MAX_HEADER`` without a blank line forces a resync).
"""

from __future__ import annotations

import re

from sipguard.adapters.replay.capture.websocket import WebSocketDecoder, is_upgrade

START_LINE = re.compile(rb"[A-Z][A-Za-z_.!%*+`'~-]{1,31} [^ \r\n]+ SIP/2\.0\r?\n|SIP/2\.0 \d{3} ")
_START_ANYWHERE = re.compile(
    rb"(?:^|\n)([A-Z][A-Za-z_.!%*+`'~-]{1,31} [^ \r\n]+ SIP/2\.0\r?\n|SIP/2\.0 \d{3} )"
)
_LENGTH = re.compile(rb"\n(?:content-length|l)[ \t]*:[ \t]*(\d+)", re.IGNORECASE)
_MAX_HEADER = 64 * 1024
_MAX_BODY = 1 << 20


def looks_like_sip(payload: bytes) -> bool:
    """True when a datagram or message starts with a SIP request or status line."""
    return START_LINE.match(payload) is not None


class SipStream:
    """The consumer of one TCP direction: bytes in, SIP messages (bytes) out."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._synced = True
        self._fresh = True
        self._ws: WebSocketDecoder | None = None
        self.resyncs = 0

    @property
    def transport(self) -> str:
        """``ws`` once the stream switched to WebSocket framing, else ``tcp``."""
        return "ws" if self._ws is not None else "tcp"

    def gap(self) -> None:
        """Bytes were lost or the stream started mid-way: find the next message start."""
        self._synced = False
        self._buf.clear()
        if self._ws is not None:
            self._ws.broken = True

    def data(self, chunk: bytes) -> list[bytes]:
        """Take the next in-order bytes; return the SIP messages they complete."""
        if self._ws is not None:
            return [m for m in self._ws.feed(chunk) if looks_like_sip(m)]
        self._buf += chunk
        if self._fresh and not self._check_handshake():
            return []
        out: list[bytes] = []
        while True:
            message = self._next_message()
            if message is None:
                break
            out.append(message)
        if self._ws is not None:  # switched part-way through this chunk
            rest = bytes(self._buf)
            self._buf.clear()
            out.extend(m for m in self._ws.feed(rest) if looks_like_sip(m))
        return out

    def _check_handshake(self) -> bool:
        """At the start of a stream, detect an HTTP upgrade; False while undecided."""
        buf = self._buf
        if not (buf.startswith(b"GET ") or buf.startswith(b"HTTP/")):
            self._fresh = False
            return True
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > _MAX_HEADER:
                self._fresh = False
                return True
            return False
        self._fresh = False
        if is_upgrade(bytes(buf[: end + 2])):
            self._ws = WebSocketDecoder()
            del buf[: end + 4]
        return True

    def _resync(self) -> bool:
        """Drop bytes up to the next start line; False when none is buffered yet."""
        match = _START_ANYWHERE.search(self._buf)
        if match is None:
            keep = self._buf[-256:]
            self._buf = bytearray(keep)
            return False
        del self._buf[: match.start(1)]
        self._synced = True
        self.resyncs += 1
        return True

    def _next_message(self) -> bytes | None:
        if self._ws is not None or not self._at_start_line():
            return None
        return self._take_message()

    def _at_start_line(self) -> bool:
        """Skip keep-alive CRLFs and resync; True when the buffer starts with a start line."""
        buf = self._buf
        while buf[:2] == b"\r\n":
            del buf[:2]
        if not buf:
            return False
        if not self._synced and not self._resync():
            return False
        buf = self._buf
        if START_LINE.match(buf[:200]) is None:
            if len(buf) < 200 and b"\n" not in buf:
                return False  # the start line is still arriving
            self._synced = False
            return self._resync() and self._at_start_line()
        return True

    def _take_message(self) -> bytes | None:
        """Cut one whole message (head and Content-Length body) off the buffer, if it is in."""
        buf = self._buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > _MAX_HEADER:
                self._synced = False
                del buf[:1]
            return None
        found = _LENGTH.search(buf, 0, end + 2)
        body = int(found.group(1)) if found else 0
        if body > _MAX_BODY:
            body = 0
        total = end + 4 + body
        if len(buf) < total:
            return None
        message = bytes(buf[:total])
        del buf[:total]
        return message
