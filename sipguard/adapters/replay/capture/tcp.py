"""TCP segments to in-order byte streams, one per direction (RFC 9293 section 3.4).

Invariants:
- Each direction ``(src, sport, dst, dport)`` is reassembled on its own; the bytes handed
  to its consumer are in sequence order, each byte exactly once, whatever the order,
  retransmission or overlap of the segments on the wire (the first copy of a byte wins).
- Sequence numbers are compared modulo 2**32, so streams that wrap are handled.
- A stream first seen in the middle (no SYN in the capture) starts at its first data
  segment; its consumer is told it starts mid-stream and must find a message boundary.
- A missing segment that never arrives is skipped once ``max_buffered`` bytes wait behind
  it; the consumer is told of the gap.  At most ``max_streams`` directions are tracked
  (least recently used evicted), so memory stays flat however long the capture.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

StreamKey = tuple[str, int, str, int]

_SYN = 0x02
_RST = 0x04
_MOD = 1 << 32
_HALF = 1 << 31


class StreamConsumer(Protocol):
    """What receives a direction's bytes: a framer that turns them into messages."""

    def data(self, chunk: bytes) -> list[bytes]:
        """Take the next in-order bytes; return the messages they complete."""
        ...

    def gap(self) -> None:
        """Bytes were lost before the next chunk: resynchronise on a message boundary."""
        ...


def _delta(seq: int, base: int) -> int:
    """``seq - base`` as a signed 32-bit distance."""
    return ((seq - base + _HALF) % _MOD) - _HALF


class _Direction:
    """Reassembly state of one direction of one connection."""

    __slots__ = ("buffered", "consumer", "next_seq", "waiting")

    def __init__(self, consumer: StreamConsumer) -> None:
        self.consumer = consumer
        self.next_seq: int | None = None
        self.waiting: dict[int, bytes] = {}
        self.buffered = 0

    def segment(self, seq: int, data: bytes, max_buffered: int) -> list[bytes]:
        if self.next_seq is None:
            self.next_seq = seq
            self.consumer.gap()
        out: list[bytes] = []
        ahead = _delta(seq, self.next_seq)
        if ahead > 0:
            if len(data) > len(self.waiting.get(seq, b"")):
                self.buffered += len(data) - len(self.waiting.get(seq, b""))
                self.waiting[seq] = data
            if self.buffered <= max_buffered:
                return out
            self.next_seq = min(self.waiting, key=lambda s: _delta(s, self.next_seq or 0))
            self.consumer.gap()
        else:
            self._deliver(-ahead, data, out)
        self._drain(out)
        return out

    def _deliver(self, skip: int, data: bytes, out: list[bytes]) -> None:
        if skip < len(data) and self.next_seq is not None:
            fresh = data[skip:]
            self.next_seq = (self.next_seq + len(fresh)) % _MOD
            out.extend(self.consumer.data(fresh))

    def _drain(self, out: list[bytes]) -> None:
        while self.waiting and self.next_seq is not None:
            base = self.next_seq
            ready = [s for s in self.waiting if _delta(s, base) <= 0]
            if not ready:
                return
            for seq in sorted(ready, key=lambda s: _delta(s, base)):
                data = self.waiting.pop(seq)
                self.buffered -= len(data)
                self._deliver(-_delta(seq, self.next_seq), data, out)


class TcpReassembler:
    """Feed TCP segments; get back the messages their streams' consumers complete."""

    def __init__(
        self,
        consumer_factory: Callable[[StreamKey], StreamConsumer],
        max_buffered: int = 256 * 1024,
        max_streams: int = 65536,
    ) -> None:
        self._factory = consumer_factory
        self._streams: OrderedDict[StreamKey, _Direction] = OrderedDict()
        self._max_buffered = max_buffered
        self._max_streams = max_streams

    def feed(
        self, src: str, dst: str, segment: bytes
    ) -> tuple[StreamKey, StreamConsumer, list[bytes]] | None:
        """Take one TCP segment (header included); None when it carries nothing new."""
        if len(segment) < 20:
            return None
        offset = (segment[12] >> 4) * 4
        if offset < 20:
            return None
        sport = (segment[0] << 8) | segment[1]
        dport = (segment[2] << 8) | segment[3]
        seq = int.from_bytes(segment[4:8], "big")
        flags = segment[13]
        key: StreamKey = (src, sport, dst, dport)
        if flags & (_SYN | _RST):
            self._streams.pop(key, None)
            if flags & _RST:
                return None
        state = self._streams.get(key)
        if state is None:
            state = _Direction(self._factory(key))
            self._streams[key] = state
            if len(self._streams) > self._max_streams:
                self._streams.popitem(last=False)
        else:
            self._streams.move_to_end(key)
        if flags & _SYN:
            state.next_seq = (seq + 1) % _MOD
            return None
        data = segment[offset:]
        if not data:
            return None
        return (key, state.consumer, state.segment(seq, data, self._max_buffered))

    def __len__(self) -> int:
        return len(self._streams)
