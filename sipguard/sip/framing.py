"""Framing of SIP messages on a byte stream (RFC 3261 section 18.3, RFC 5626 section 3.5.1).

Invariants:
- on a stream every message must carry exactly one valid Content-Length; without it the
  message boundary is unknowable and the stream is broken (``SipParseError`` 400);
- CRLFs between messages (keep-alive pings and pongs) are skipped, never emitted;
- the buffer is bounded: a head or a whole message over ``max_size`` octets raises
  ``SipParseError`` 513 (Message Too Large);
- after an error the framer holds nothing and the caller should close the connection;
- framing is linear in the octets received, however they are chunked: the search for the
  end of a head resumes where the last one stopped, and a head's Content-Length is read
  once, not again on each feed while its body arrives.
"""

from __future__ import annotations

from sipguard.errors import SipParseError

MAX_MESSAGE = 65536
_CL_NAMES = (b"content-length", b"l")


class StreamFramer:
    """Split a TCP/TLS byte stream into whole SIP messages."""

    __slots__ = ("_buf", "_scanned", "_total", "max_size")

    def __init__(self, max_size: int = MAX_MESSAGE) -> None:
        self._buf = bytearray()
        self._scanned = 0  # octets of the buffer known to hold no CRLFCRLF end
        self._total: int | None = None  # length of the message whose head is complete
        self.max_size = max_size

    @property
    def buffered(self) -> int:
        """Octets received but not yet part of a complete message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received octets; return every message now complete, in order."""
        self._buf += data
        out: list[bytes] = []
        try:
            while True:
                message = self._next()
                if message is None:
                    return out
                out.append(message)
        except SipParseError:
            self._buf.clear()
            self._scanned, self._total = 0, None
            raise

    def _next(self) -> bytes | None:
        buf = self._buf
        total = self._total
        if total is None:
            total = self._head_total(buf)
            if total is None:
                return None
            self._total = total
        if len(buf) < total:
            return None
        message = bytes(buf[:total])
        del buf[:total]
        self._scanned, self._total = 0, None
        return message

    def _head_total(self, buf: bytearray) -> int | None:
        """Length of the message at the buffer's start once its head is in, else None."""
        skip = 0
        while skip < len(buf) and buf[skip] in (13, 10):
            skip += 1
        if skip:
            del buf[:skip]
            self._scanned = 0
        if not buf:
            return None
        end = buf.find(b"\r\n\r\n", max(0, self._scanned - 3))
        if end < 0:
            self._scanned = len(buf)
            if len(buf) > self.max_size:
                raise SipParseError("message head too large", 513)
            return None
        total = end + 4 + _content_length(bytes(buf[:end]))
        if total > self.max_size:
            raise SipParseError(f"message of {total} octets is too large", 513)
        return total


def _content_length(head: bytes) -> int:
    """Find the single Content-Length value in a raw head (folded lines allowed)."""
    values: list[bytes] = []
    lines = head.split(b"\r\n")
    for i, line in enumerate(lines[1:], start=1):
        name, colon, value = line.partition(b":")
        if colon and name.rstrip().lower() in _CL_NAMES:
            j = i + 1
            while j < len(lines) and lines[j][:1] in (b" ", b"\t"):
                value += b" " + lines[j]
                j += 1
            values.append(value.strip())
    if not values:
        raise SipParseError("no Content-Length on a stream transport")
    if len(values) > 1:
        raise SipParseError("more than one Content-Length")
    text = values[0]
    if not text.isdigit() or len(text) > 10:
        raise SipParseError(f"bad Content-Length {text[:20]!r}")
    return int(text)
