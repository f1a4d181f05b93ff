"""TCP for the shell: listening servers, connection reuse, and the limits that keep TCP safe.

Invariants:
- Connections are indexed by the peer's (host, port); a response to a request that came in
  over TCP leaves on the same connection (RFC 3261 section 18.2.2).
- Sending to a peer with no connection opens one; bytes sent meanwhile are queued (at most
  ``MAX_PENDING`` messages) and flushed in order once it is up, or dropped and counted if the
  connect fails.
- Accepted connections are capped overall (``max_connections``) and per source address
  (``max_per_source``); one over a cap is closed at once and counted.  Outbound connections
  to our own next hops are never refused.
- A sweeper closes connections idle past ``idle_timeout`` and streams whose started message
  is not complete within ``message_timeout`` (slowloris).  A connection from an address that
  ``listed`` does not know is closed after its first message has been answered.
- Every limit is counted in :class:`TcpStats`; nothing here raises into the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from typing import Any

from sipguard.adapters.server.tcp_conn import Conn, TcpLimits, TcpStats

MAX_PENDING = 256
SWEEP_EVERY = 1.0

__all__ = ["MAX_PENDING", "TcpLimits", "TcpPool", "TcpStats"]


class TcpPool:
    """Every TCP connection of the shell, keyed by peer, plus the listening servers."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[bytes, str, int], None],
        limits: TcpLimits | None = None,
        listed: Callable[[str], bool] | None = None,
    ) -> None:
        self.stats = TcpStats()
        self.limits = limits or TcpLimits()
        self.deliver = deliver
        self.listed = listed
        self._loop = loop
        self._conns: dict[tuple[str, int], Conn] = {}
        self._accepted: set[Conn] = set()
        self._per_source: Counter[str] = Counter()
        self._pending: dict[tuple[str, int], list[bytes]] = {}
        self._servers: list[asyncio.AbstractServer] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def open_connections(self) -> int:
        """Accepted connections currently open."""
        return len(self._accepted)

    async def listen(self, host: str, port: int) -> None:
        """Accept connections on ``host:port``."""
        server = await self._loop.create_server(
            lambda: Conn(self, self._loop.time, outbound=False), host, port, reuse_address=True
        )
        self._servers.append(server)
        if self._sweeper is None:
            self._sweeper = self._loop.call_later(self._sweep_every, self._sweep)

    def register(self, conn: Conn, *, outbound: bool) -> bool:
        """Index a new connection by its peer (the newest wins); False when over a cap."""
        assert conn.peer is not None
        if outbound:
            self.stats.connected += 1
            self._conns[conn.peer] = conn
            return True
        host = conn.peer[0]
        limits = self.limits
        if (
            len(self._accepted) >= limits.max_connections
            or self._per_source[host] >= limits.max_per_source
        ):
            self.stats.refused += 1
            return False
        self.stats.accepted += 1
        self._accepted.add(conn)
        self._per_source[host] += 1
        self._conns[conn.peer] = conn
        return True

    def unregister(self, conn: Conn) -> None:
        """Forget a closed connection."""
        assert conn.peer is not None
        if self._conns.get(conn.peer) is conn:
            del self._conns[conn.peer]
        if conn in self._accepted:
            self._accepted.discard(conn)
            host = conn.peer[0]
            self._per_source[host] -= 1
            if self._per_source[host] <= 0:
                del self._per_source[host]

    def received(self, conn: Conn, message: bytes) -> None:
        """Hand a framed message to the core; close an unlisted peer's connection after it."""
        assert conn.peer is not None
        self.stats.messages += 1
        self.deliver(message, conn.peer[0], conn.peer[1])
        if not conn.outbound and self.listed is not None and not self.listed(conn.peer[0]):
            self.stats.unlisted_closed += 1
            conn.close()

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
                self._loop.create_connection(
                    lambda: Conn(self, self._loop.time, outbound=True), host, port
                ),
                timeout=5.0,
            )
        except (OSError, TimeoutError):
            self.stats.connect_failures += 1
            self.stats.dropped += len(self._pending.pop(key, []))
            return
        self._conns[key] = conn
        for data in self._pending.pop(key, []):
            conn.write(data)

    def _sweep(self) -> None:
        """Close idle and slow connections, then run again (at most ``SWEEP_EVERY`` s later)."""
        now = self._loop.time()
        idle_before = now - self.limits.idle_timeout
        slow_before = now - self.limits.message_timeout
        for conn in list(self._accepted):
            if conn.partial_since is not None and conn.partial_since < slow_before:
                self.stats.slow_closed += 1
                conn.close()
            elif conn.last_active < idle_before:
                self.stats.idle_closed += 1
                conn.close()
        self._sweeper = self._loop.call_later(self._sweep_every, self._sweep)

    @property
    def _sweep_every(self) -> float:
        limits = self.limits
        return min(SWEEP_EVERY, limits.message_timeout / 2, limits.idle_timeout / 2)

    async def close(self) -> None:
        """Stop listening and close every connection."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for server in self._servers:
            server.close()
        for conn in [*self._conns.values(), *self._accepted]:
            conn.close()
        for task in list(self._tasks):
            task.cancel()
        for server in self._servers:
            with contextlib.suppress(RuntimeError):
                await server.wait_closed()
        self._servers.clear()
