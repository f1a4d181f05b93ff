"""SCTP DATA chunks to user messages (RFC 9260 section 3.3.1) for SIP over SCTP (RFC 4168).

Invariants:
- Only DATA (type 0) and I-DATA (type 64, RFC 8260) chunks are read; every other chunk
  is skipped by its length, padded to 4 bytes.
- An unfragmented chunk (B and E flags set) is one user message; fragments are joined per
  (association direction, stream) from a B chunk to the next E chunk, in TSN order as
  they arrive.  A chunk whose TSN was already delivered on that direction is a
  retransmission and is dropped.
- State is bounded: at most ``max_assocs`` directions are remembered.
"""

from __future__ import annotations

from collections import OrderedDict

_DATA = 0
_IDATA = 64
_FLAG_END = 0x01
_FLAG_BEGIN = 0x02
_MAX_FRAGMENTED = 1 << 20
_SEEN_TSNS = 256

SctpMessage = tuple[int, int, bytes]
"""(source port, destination port, user message)."""


class _Assoc:
    __slots__ = ("partial", "seen")

    def __init__(self) -> None:
        self.partial: dict[int, bytearray] = {}
        self.seen: OrderedDict[int, None] = OrderedDict()

    def fresh(self, tsn: int) -> bool:
        if tsn in self.seen:
            return False
        self.seen[tsn] = None
        if len(self.seen) > _SEEN_TSNS:
            self.seen.popitem(last=False)
        return True


class SctpDecoder:
    """Feed SCTP packets; get back the complete user messages they carry."""

    def __init__(self, max_assocs: int = 4096) -> None:
        self._assocs: OrderedDict[tuple[str, str, int, int], _Assoc] = OrderedDict()
        self._max = max_assocs

    def feed(self, src: str, dst: str, packet: bytes) -> list[SctpMessage]:
        """Decode one SCTP packet (common header included)."""
        if len(packet) < 12:
            return []
        sport = (packet[0] << 8) | packet[1]
        dport = (packet[2] << 8) | packet[3]
        assoc = self._assoc((src, dst, sport, dport))
        out: list[SctpMessage] = []
        pos = 12
        while pos + 4 <= len(packet):
            ctype, flags = packet[pos], packet[pos + 1]
            length = (packet[pos + 2] << 8) | packet[pos + 3]
            if length < 4:
                break
            chunk = packet[pos : pos + length]
            if ctype in (_DATA, _IDATA):
                message = self._data(assoc, ctype, flags, chunk)
                if message is not None:
                    out.append((sport, dport, message))
            pos += (length + 3) & ~3
        return out

    def _assoc(self, key: tuple[str, str, int, int]) -> _Assoc:
        assoc = self._assocs.get(key)
        if assoc is None:
            assoc = _Assoc()
            self._assocs[key] = assoc
            if len(self._assocs) > self._max:
                self._assocs.popitem(last=False)
        return assoc

    @staticmethod
    def _data(assoc: _Assoc, ctype: int, flags: int, chunk: bytes) -> bytes | None:
        header = 16 if ctype == _DATA else 20
        if len(chunk) < header:
            return None
        tsn = int.from_bytes(chunk[4:8], "big")
        stream = (chunk[8] << 8) | chunk[9]
        payload = chunk[header:]
        if not assoc.fresh(tsn):
            return None
        if flags & _FLAG_BEGIN and flags & _FLAG_END:
            return payload
        if flags & _FLAG_BEGIN:
            assoc.partial[stream] = bytearray(payload)
            return None
        partial = assoc.partial.get(stream)
        if partial is None:
            return None  # its first fragment was not captured
        partial += payload
        if len(partial) > _MAX_FRAGMENTED:
            del assoc.partial[stream]
            return None
        if flags & _FLAG_END:
            del assoc.partial[stream]
            return bytes(partial)
        return None
