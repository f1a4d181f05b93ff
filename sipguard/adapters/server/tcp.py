"""TCP for the shell: listening servers, per-connection framing, connection reuse.

Each connection owns a ``StreamFramer`` (RFC 3261 section 18.3: Content-Length delimits
messages on a stream) that turns received bytes into whole messages for the core.

Invariants:
- Connections are indexed by the peer's (host, port); a response to a request that came in
  over TCP leaves on the same connection (RFC 3261 section 18.2.2).
- Sending to a peer with no connection opens one; bytes sent meanwhile are queued and flushed
  in order once it is up, or dropped and counted if the connect fails.
- A framing error closes that connection only; nothing here raises into the loop.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sipguard.errors import SipParseError
from sipguard.sip.framing import StreamFramer

MAX_PENDING = 256


@dataclass(slots=True)
class TcpStats:
    """Counters for the TCP side."""

    accepted: int = 0
    connected: int = 0
    connect_failures: int = 0
    framing_errors: int = 0
    messages: int = 0
    dropped: int = 0


class _Conn(asyncio.Protocol):
    """One TCP connection: frames inbound bytes, writes outbound ones."""

    def __init__(self, pool: TcpPool, outbound: bool) -> None:
        self._pool = pool
        self._outbound = outbound
        self._framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        name = transport.get_extra_info("peername")
        self.peer = (str(name[0]), int(name[1]))
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pool.register(self, self._outbound)

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._framer.feed(data)
        except SipParseError:
            self._pool.stats.framing_errors += 1
            if self.transport is not None:
                self.transport.close()
            return
        assert self.peer is not None
        for message in messages:
            self._pool.stats.messages += 1
            self._pool.deliver(message, self.peer[0], self.peer[1])

    def connection_lost(self, exc: Exception | None) -> None:
        self._pool.unregister(self)

    def write(self, data: bytes) -> None:
        """Queue bytes on the connection."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


class TcpPool:
    """Every TCP connection of the shell, keyed by peer, plus the listening servers."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, deliver: Callable[[bytes, str, int], None]
    ) -> None:
        self.stats = TcpStats()
        self.deliver = deliver
        self._loop = loop
        self._conns: dict[tuple[str, int], _Conn] = {}
        self._pending: dict[tuple[str, int], list[bytes]] = {}
        self._servers: list[asyncio.AbstractServer] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    async def listen(self, host: str, port: int) -> None:
        """Accept connections on ``host:port``."""
        server = await self._loop.create_server(
            lambda: _Conn(self, outbound=False), host, port, reuse_address=True
        )
        self._servers.append(server)

    def register(self, conn: _Conn, outbound: bool) -> None:
        """Index a new connection by its peer (the newest wins)."""
        assert conn.peer is not None
        if outbound:
            self.stats.connected += 1
        else:
            self.stats.accepted += 1
        self._conns[conn.peer] = conn

    def unregister(self, conn: _Conn) -> None:
        """Forget a closed connection."""
        if conn.peer is not None and self._conns.get(conn.peer) is conn:
            del self._conns[conn.peer]

    def send(self, data: bytes, host: str, port: int) -> None:
        """Send on the peer's connection, opening one if there is none."""
        key = (host, port)
        conn = self._conns.get(key)
        if conn is not None:
            conn.write(data)
            return
        pending = self._pending.get(key)
        if pending is not None:
            if len(pending) < MAX_PENDING:
                pending.append(data)
            else:
                self.stats.dropped += 1
            return
        self._pending[key] = [data]
        task = self._loop.create_task(self._connect(host, port))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, host: str, port: int) -> None:
        key = (host, port)
        try:
            _, conn = await asyncio.wait_for(
                self._loop.create_connection(lambda: _Conn(self, outbound=True), host, port),
                timeout=5.0,
            )
        except (OSError, TimeoutError):
            self.stats.connect_failures += 1
            self.stats.dropped += len(self._pending.pop(key, []))
            return
        self._conns[key] = conn
        for data in self._pending.pop(key, []):
            conn.write(data)

    async def close(self) -> None:
        """Stop listening and close every connection."""
        for server in self._servers:
            server.close()
        for conn in list(self._conns.values()):
            if conn.transport is not None:
                conn.transport.close()
        for task in list(self._tasks):
            task.cancel()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
