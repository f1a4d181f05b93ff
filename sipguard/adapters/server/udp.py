"""UDP endpoints for the shell: drained non-blocking sockets and a bounded intake queue.

asyncio's datagram transport costs one callback and several objects per datagram, which
dominates a SIP server's CPU.  Here the loop only watches the socket for readability; the
reader drains it with ``recvfrom`` until it would block (or a batch limit is reached), into a
bounded queue that is handed to the core in batches, so timers and TCP keep their turn under
load.  The first batch is handed over at once, in the same callback (no extra loop turn per
wake-up); what is left waits for the next turn.

Invariants:
- The queue never holds more than ``queue_limit`` datagrams nor more than ``queue_bytes``
  octets (a flood of 60 KB datagrams must not hold 8,192 of them); when full, datagrams are
  still read (so the kernel buffer keeps draining) but dropped and counted in
  ``stats.dropped``.
- Datagrams reach ``deliver`` in the order they were read, at most ``batch`` per callback:
  a drain that finds the queue empty delivers its first batch itself, otherwise the step
  already scheduled does (both paths are tested against each other).
- A socket error on receive or send is counted and never propagates into the loop.
- IPv6 sockets are v6-only, so one IPv4 and one IPv6 endpoint may share a port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RCVBUF = 4 * 1024 * 1024
MAX_DATAGRAM = 65535
QUEUE_BYTES = 8 * 1024 * 1024  # about 8,192 ordinary 1 KB requests


@dataclass(slots=True)
class UdpStats:
    """Counters for one or more UDP endpoints."""

    received: int = 0
    dropped: int = 0
    sent: int = 0
    send_errors: int = 0
    recv_errors: int = 0


def bind_udp(host: str, port: int) -> socket.socket:
    """A non-blocking UDP socket bound to ``host:port`` with large kernel buffers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            with contextlib.suppress(OSError):  # capped by net.core.rmem_max anyway
                sock.setsockopt(socket.SOL_SOCKET, opt, RCVBUF)
        sock.bind((host, port))
        sock.settimeout(0.0)  # non-blocking, as setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class UdpEndpoint:
    """One bound UDP socket, read by draining and fed to ``deliver(data, (host, port))``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        deliver: Callable[[bytes, str, int], None],
        stats: UdpStats,
        queue_limit: int = 8192,
        batch: int = 128,
        queue_bytes: int = QUEUE_BYTES,
    ) -> None:
        self.sock = sock
        self.family = sock.family
        self._loop = loop
        self._deliver = deliver
        self._stats = stats
        self._queue: deque[tuple[bytes, Any]] = deque()  # (data, an AF_INET or AF_INET6 address)
        self._limit = queue_limit
        self._max_bytes = queue_bytes
        self._bytes = 0  # octets in the queue
        self._batch = batch
        self._scheduled = False
        self._closed = False
        loop.add_reader(sock.fileno(), self._on_readable)

    @property
    def local(self) -> tuple[str, int]:
        """The bound (host, port)."""
        name = self.sock.getsockname()
        return str(name[0]), int(name[1])

    def send(self, data: bytes, host: str, port: int) -> None:
        """Send one datagram; errors are counted, never raised."""
        try:
            self.sock.sendto(data, (host, port))
            self._stats.sent += 1
        except OSError:
            self._stats.send_errors += 1

    def close(self) -> None:
        """Stop reading and close the socket; queued datagrams are discarded."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self._queue.clear()
        self._bytes = 0

    def _on_readable(self) -> None:
        recv = self.sock.recvfrom
        queue = self._queue
        stats = self._stats
        for _ in range(self._batch * 2):
            try:
                data, addr = recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                stats.recv_errors += 1
                break
            stats.received += 1
            if len(queue) >= self._limit or self._bytes + len(data) > self._max_bytes:
                stats.dropped += 1
                continue
            self._bytes += len(data)
            queue.append((data, addr))
        if queue and not self._scheduled:
            self._process()  # the queue held nothing older: this drain's first batch goes now

    def _process(self) -> None:
        self._scheduled = False
        queue = self._queue
        deliver = self._deliver
        for _ in range(min(self._batch, len(queue))):
            data, addr = queue.popleft()
            self._bytes -= len(data)
            deliver(data, addr[0], addr[1])
        if queue and not self._closed:
            self._scheduled = True
            self._loop.call_soon(self._process)
