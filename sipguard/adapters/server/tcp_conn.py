"""One TCP connection of the shell: framing in, bounded writes out, and the limits it lives by.

Each connection owns a ``StreamFramer`` (RFC 3261 section 18.3: Content-Length delimits
messages on a stream) that turns received bytes into whole messages for the core.

Invariants:
- A connection whose peer is gone before it could be named (a reset at accept) is closed
  and counted; nothing here raises into the loop.
- A framing error closes that connection only.  A message over the size limit is answered
  ``513 Message Too Large`` (RFC 3261 section 21.5.14) when its head can be read, then the
  connection is closed.
- Outbound bytes never pile up without bound: once the transport holds more than
  ``write_high_water`` unsent octets (a peer that does not read), the connection is aborted.
- ``last_active`` and ``partial_since`` (monotonic seconds) tell the pool's sweeper when a
  connection went idle or started a message it has not finished (a slowloris stream).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

from sipguard.b2bua.headers import error_response
from sipguard.errors import SipParseError
from sipguard.sip.framing import StreamFramer

# How much of a message's start is kept, so an oversized one can still be answered 513.
_HEAD_KEPT = 16384


@dataclass(frozen=True, slots=True)
class TcpLimits:
    """Bounds on the TCP side; the defaults suit a trunk edge with a few hundred peers."""

    max_connections: int = 4096
    max_per_source: int = 64
    idle_timeout: float = 120.0  # no complete message for this long: closed
    message_timeout: float = 10.0  # a started message must be complete within this
    write_high_water: int = 1 << 20  # unsent octets before a connection is aborted


@dataclass(slots=True)
class TcpStats:
    """Counters for the TCP side."""

    accepted: int = 0
    connected: int = 0
    connect_failures: int = 0
    framing_errors: int = 0
    messages: int = 0
    dropped: int = 0
    refused: int = 0  # over the overall or per-source connection cap
    reset_at_accept: int = 0
    idle_closed: int = 0
    slow_closed: int = 0
    unlisted_closed: int = 0
    overflowed: int = 0  # aborted at the write high-water mark
    too_large: int = 0


class ConnOwner(Protocol):
    """What a connection needs from its pool."""

    stats: TcpStats
    limits: TcpLimits

    def register(self, conn: Conn, *, outbound: bool) -> bool:
        """Index a new connection; False when it must be refused."""
        ...

    def unregister(self, conn: Conn) -> None:
        """Forget a closed connection."""
        ...

    def received(self, conn: Conn, message: bytes) -> None:
        """Hand one framed message to the core."""
        ...


class Conn(asyncio.Protocol):
    """One TCP connection; see the module docstring."""

    def __init__(self, pool: ConnOwner, clock: Callable[[], float], *, outbound: bool) -> None:
        self._pool = pool
        self._clock = clock
        self.outbound = outbound
        self._framer = StreamFramer()
        self._head = b""
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] | None = None
        self.last_active = clock()
        self.partial_since: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = stream = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        name = stream.get_extra_info("peername")
        if not name:  # reset before accept finished: there is no peer to serve
            self._pool.stats.reset_at_accept += 1
            stream.abort()
            return
        self.peer = (str(name[0]), int(name[1]))
        if not self._pool.register(self, outbound=self.outbound):
            stream.abort()
            self.peer = None
            return
        sock = stream.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            return
        if self._framer.buffered == 0:
            self._head = data[:_HEAD_KEPT]
        elif len(self._head) < _HEAD_KEPT:
            self._head += data[: _HEAD_KEPT - len(self._head)]
        try:
            messages = self._framer.feed(data)
        except SipParseError as exc:
            self._framing_error(exc)
            return
        now = self._clock()
        for message in messages:
            if self.closing:  # the pool closed it (an unlisted peer): nothing more is read
                return
            self.last_active = now
            self._pool.received(self, message)
        self.partial_since = (self.partial_since or now) if self._framer.buffered else None

    def _framing_error(self, exc: SipParseError) -> None:
        stats = self._pool.stats
        stats.framing_errors += 1
        if exc.status_hint == 513:
            stats.too_large += 1
            answer = error_response(self._head, 513)
            if answer is not None:
                self.write(answer)
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            self._pool.unregister(self)

    def write(self, data: bytes) -> None:
        """Queue bytes on the connection; abort it past the write high-water mark."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if transport.get_write_buffer_size() > self._pool.limits.write_high_water:
            self._pool.stats.overflowed += 1
            transport.abort()

    @property
    def closing(self) -> bool:
        """True once the connection is closed or closing."""
        return self.transport is None or self.transport.is_closing()

    def close(self) -> None:
        """Close after flushing what is queued."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
