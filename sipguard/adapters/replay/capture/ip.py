"""IPv4 (RFC 791) and IPv6 (RFC 8200) decoding with fragment reassembly.

Invariants:
- ``IpDecoder.feed`` returns ``(src, dst, proto, payload)`` for a whole datagram, or None
  while fragments are still missing (or the packet is not usable IP).
- The payload is trimmed to the IP length field: Ethernet padding never reaches UDP/TCP.
- IPv6 extension headers (hop-by-hop, routing, destination options, AH, fragment) are
  walked to the upper-layer protocol (RFC 8200 section 4).
- Reassembly (RFC 791 section 3.2, RFC 8200 section 4.5) keys fragments by (src, dst, id,
  proto); overlapping bytes keep the first copy seen; a datagram is released once every
  byte from 0 to the end of the last fragment is present.  Pending datagrams expire after
  ``timeout_ns`` of capture time and at most ``max_pending`` are kept, so memory stays flat.
"""

from __future__ import annotations

import socket
from collections import OrderedDict

Datagram = tuple[str, str, int, bytes]

_V6_EXTENSIONS = frozenset({0, 43, 60})
_V6_FRAGMENT = 44
_V6_AH = 51
_V6_NO_NEXT = 59
_MAX_DATAGRAM = 65535 + 40


class _Pending:
    """The fragments of one datagram received so far."""

    __slots__ = ("first_ns", "parts", "size", "total")

    def __init__(self, first_ns: int) -> None:
        self.first_ns = first_ns
        self.parts: list[tuple[int, bytes]] = []
        self.total: int | None = None
        self.size = 0

    def add(self, offset: int, data: bytes, *, last: bool) -> bytes | None:
        """Store one fragment; return the whole payload once it is complete."""
        self.parts.append((offset, data))
        self.size += len(data)
        if last:
            self.total = offset + len(data)
        if self.total is None or self.size < self.total:
            return None
        return self._assemble(self.total)

    def _assemble(self, total: int) -> bytes | None:
        buf = bytearray(total)
        covered = 0
        for offset, data in sorted(self.parts, key=lambda p: p[0]):
            if offset > covered:
                return None  # a hole remains
            end = min(offset + len(data), total)
            if end > covered:
                buf[covered:end] = data[covered - offset : end - offset]
                covered = end
        return bytes(buf) if covered >= total else None


class IpDecoder:
    """Decode IP packets, reassembling fragmented datagrams across calls to ``feed``."""

    def __init__(self, timeout_ns: int = 60_000_000_000, max_pending: int = 4096) -> None:
        self._pending: OrderedDict[tuple[object, ...], _Pending] = OrderedDict()
        self._timeout = timeout_ns
        self._max = max_pending
        self.reassembled = 0
        self.expired = 0

    def feed(self, ethertype: int, data: bytes, ts_ns: int) -> Datagram | None:
        """Decode one IP packet (0x0800 or 0x86DD) captured at ``ts_ns``."""
        if ethertype == 0x0800:
            return self._ipv4(data, ts_ns)
        return self._ipv6(data, ts_ns)

    def _ipv4(self, data: bytes, ts_ns: int) -> Datagram | None:
        if len(data) < 20 or data[0] >> 4 != 4:
            return None
        ihl = (data[0] & 0x0F) * 4
        total = (data[2] << 8) | data[3]
        if ihl < 20 or total < ihl:
            return None
        payload = data[ihl:total]
        proto = data[9]
        src = socket.inet_ntop(socket.AF_INET, data[12:16])
        dst = socket.inet_ntop(socket.AF_INET, data[16:20])
        frag = ((data[6] << 8) | data[7]) & 0x3FFF
        if frag:  # MF set or non-zero offset
            ident = (data[4] << 8) | data[5]
            offset, last = (frag & 0x1FFF) * 8, not frag & 0x2000
            whole = self._fragment(
                (4, src, dst, ident, proto), offset, payload, last=last, ts_ns=ts_ns
            )
            if whole is None:
                return None
            payload = whole
        return (src, dst, proto, payload)

    def _ipv6(self, data: bytes, ts_ns: int) -> Datagram | None:
        if len(data) < 40 or data[0] >> 4 != 6:
            return None
        plen = (data[4] << 8) | data[5]
        proto = data[6]
        src = socket.inet_ntop(socket.AF_INET6, data[8:24])
        dst = socket.inet_ntop(socket.AF_INET6, data[24:40])
        payload = data[40 : 40 + plen] if plen else data[40:]
        walked = _walk_v6(proto, payload)
        if walked is None:
            return None
        proto, payload, fragment = walked
        if fragment is not None and (fragment[0] or not fragment[2]):
            offset, ident, last = fragment
            key = (6, src, dst, ident, proto)
            whole = self._fragment(key, offset, payload, last=last, ts_ns=ts_ns)
            if whole is None:
                return None
            rest = _walk_v6(proto, whole)  # headers inside the fragmentable part
            if rest is None:
                return None
            proto, payload = rest[0], rest[1]
        return (src, dst, proto, payload)

    def _fragment(
        self, key: tuple[object, ...], offset: int, data: bytes, *, last: bool, ts_ns: int
    ) -> bytes | None:
        self._expire(ts_ns)
        pending = self._pending.get(key)
        if pending is None:
            pending = _Pending(ts_ns)
            self._pending[key] = pending
            if len(self._pending) > self._max:
                self._pending.popitem(last=False)
                self.expired += 1
        if offset + len(data) > _MAX_DATAGRAM:
            del self._pending[key]
            return None
        whole = pending.add(offset, data, last=last)
        if whole is not None:
            del self._pending[key]
            self.reassembled += 1
        return whole

    def _expire(self, ts_ns: int) -> None:
        while self._pending:
            key, oldest = next(iter(self._pending.items()))
            if ts_ns - oldest.first_ns <= self._timeout:
                return
            del self._pending[key]
            self.expired += 1


def _walk_v6(proto: int, payload: bytes) -> tuple[int, bytes, tuple[int, int, bool] | None] | None:
    """Skip IPv6 extension headers to the upper layer; note a fragment header on the way."""
    fragment: tuple[int, int, bool] | None = None
    while proto in _V6_EXTENSIONS or proto in (_V6_AH, _V6_FRAGMENT):
        if len(payload) < 8:
            return None
        if proto == _V6_FRAGMENT:
            off_m = (payload[2] << 8) | payload[3]
            fragment = (off_m & 0xFFF8, int.from_bytes(payload[4:8], "big"), not off_m & 1)
            proto, payload = payload[0], payload[8:]
            if fragment[0] or not fragment[2]:
                break  # the rest is the fragmentable part, read after reassembly
            continue
        size = (payload[1] + 2) * 4 if proto == _V6_AH else (payload[1] + 1) * 8
        proto, payload = payload[0], payload[size:]
    if proto == _V6_NO_NEXT:
        return None
    return (proto, payload, fragment)
