"""The asyncio shell that drives the sans-IO B2BUA: sockets, timers, journal, reload.

The core (``sipguard.b2bua``) turns each input into a list of effects; this module is the
only place that carries them out.  It owns the UDP endpoints and TCP connections, the timer
heap, the hand-off to the journal, decision logging and the counters behind the metrics.

Invariants:
- Every input reaches the core with ``now`` from the loop's monotonic clock and ``wall`` as an
  aware UTC datetime; effects are executed in the order the core returned them.
- ``execute`` matches every member of the closed ``Effect`` union and ends in
  ``assert_never``: an effect the shell does not carry out is a type error, not a log line.
- ``Decided.after`` (the final answer to a screened INVITE) runs only once the journal has
  settled the decision record (see ``journal_gate`` for the failure rule).
- No exception raised by the core for one message stops the server: it is counted and logged,
  at a limited rate.
- A UDP datagram's source reaches the core as ``Addr(host, port, "udp")``; the (immutable)
  ``Addr`` of up to ``SOURCES_MAX`` recent sources is reused rather than built per datagram.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Protocol, assert_never

from structlog.typing import BindableLogger

from sipguard.adapters.server.journal_gate import GateCore, Journal, JournalGate
from sipguard.adapters.server.tcp import TcpLimits, TcpPool
from sipguard.adapters.server.tcp_conn import TcpStats
from sipguard.adapters.server.timers import TimerHeap
from sipguard.adapters.server.udp import UdpEndpoint, UdpStats, bind_udp
from sipguard.b2bua.effects import (
    Addr,
    CallEnded,
    CancelTimer,
    Decided,
    Effect,
    Effects,
    Malformed,
    StartTimer,
    TimerKey,
    Transmit,
)
from sipguard.b2bua.strangers import CoreStats
from sipguard.logs import log_garbage
from sipguard.memo import shrink
from sipguard.ratelimit import RateLimiter

_FREE_PORT_TRIES = 20
SOURCES_MAX = 4096  # UDP source addresses whose Addr is kept for reuse (then started again)


class Core(GateCore, Protocol):
    """What the shell (and its journal gate and metrics) needs from the B2BUA core."""

    def on_message(self, data: bytes, source: Addr, now: float, wall: datetime) -> Effects:
        """Handle one datagram or framed stream message."""
        ...

    def on_timer(self, key: TimerKey, now: float, wall: datetime) -> Effects:
        """Handle a timer that came due."""
        ...

    @property
    def active_calls(self) -> int:
        """Calls set up or being set up (for the metrics)."""
        ...

    @property
    def transactions(self) -> int:
        """Live transactions of both legs (for the metrics)."""
        ...

    @property
    def settled(self) -> int:
        """Settled transactions kept as records (for the metrics)."""
        ...

    @property
    def stats(self) -> CoreStats:
        """503s by cause and unlisted sources (for the metrics)."""
        ...


class Sender(Protocol):
    """Where a UDP datagram of one address family goes out (a ``UdpEndpoint``)."""

    def send(self, data: bytes, host: str, port: int) -> None:
        """Send one datagram; errors are counted, never raised."""
        ...


class Server:
    """Carries out the core's effects on real sockets and clocks."""

    def __init__(
        self,
        core: Core,
        journal: Journal | None,
        log: BindableLogger | None,
        queue_limit: int = 8192,
        *,
        tcp: TcpLimits | None = None,
        listed: Callable[[str], bool] | None = None,
    ) -> None:
        self.core = core
        self.log = log
        self.udp_stats = UdpStats()
        self.errors = 0
        self._queue_limit = queue_limit
        self._loop = asyncio.get_running_loop()
        self.gate = JournalGate(self._loop, journal, core, self.execute)
        self._udp: list[UdpEndpoint] = []
        self._udp_by_family: dict[int, Sender] = {}
        self._udp_sources: dict[tuple[str, int], Addr] = {}
        self._tcp = TcpPool(self._loop, self._on_tcp, tcp, listed)
        self._timers: TimerHeap[TimerKey] = TimerHeap(self._loop, self._on_timer)
        self._garbage = RateLimiter("serve.errors", rate=1.0, burst=10)

    @property
    def tcp_stats(self) -> TcpStats:
        """The TCP counters."""
        return self._tcp.stats

    @property
    def timers(self) -> int:
        """How many timers are armed."""
        return len(self._timers)

    async def start(self, listen: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
        """Bind UDP and TCP on every address; returns the bound (host, port) pairs."""
        bound: list[tuple[str, int]] = []
        for host, port in listen:
            endpoint = await self._bind(host, port)
            self._udp.append(endpoint)
            self._udp_by_family.setdefault(endpoint.family, endpoint)
            bound.append(endpoint.local)
        return bound

    async def _bind(self, host: str, port: int) -> UdpEndpoint:
        """UDP and TCP on one port.  Port 0 takes a free UDP port; if TCP already holds that
        number elsewhere, another is tried (a few times), so both always share one port."""
        for attempt in range(_FREE_PORT_TRIES):
            sock = bind_udp(host, port)
            endpoint = UdpEndpoint(
                self._loop, sock, self._on_udp, self.udp_stats, queue_limit=self._queue_limit
            )
            try:
                await self._tcp.listen(*endpoint.local)
            except OSError:
                endpoint.close()
                if port != 0 or attempt == _FREE_PORT_TRIES - 1:
                    raise
                continue
            return endpoint
        raise AssertionError("unreachable")

    def sweep(self) -> None:
        """Give back the space of the shell's tables that emptied (``sipguard.memo``)."""
        shrink(*self.gate.tables(), *self._timers.tables())

    async def close(self, grace: float = 1.0) -> None:
        """Let pending journal writes finish (up to ``grace`` s), then close everything."""
        await self.gate.drain(grace)
        for endpoint in self._udp:
            endpoint.close()
        self._udp.clear()
        self._timers.close()
        await self._tcp.close()

    def check_journal(self) -> None:
        """Tell the core whether the journal can still make records durable."""
        self.gate.check()

    # -- inputs -------------------------------------------------------------------------

    def _on_udp(self, data: bytes, host: str, port: int) -> None:
        source = self._udp_sources.get((host, port))
        self._feed(data, source if source is not None else self._udp_source(host, port))

    def _udp_source(self, host: str, port: int) -> Addr:
        if len(self._udp_sources) >= SOURCES_MAX:
            self._udp_sources.clear()
        source = self._udp_sources[host, port] = Addr(host, port, "udp")
        return source

    def _on_tcp(self, data: bytes, host: str, port: int) -> None:
        self._feed(data, Addr(host, port, "tcp"))

    def _feed(self, data: bytes, source: Addr) -> None:
        now = self._loop.time()
        try:
            effects = self.core.on_message(data, source, now, datetime.now(UTC))
        except Exception as exc:  # one bad message must never stop the server
            self._count_error(now, "serve.message_failed", exc, source)
            return
        self.execute(effects)

    def _on_timer(self, key: TimerKey) -> None:
        now = self._loop.time()
        try:
            effects = self.core.on_timer(key, now, datetime.now(UTC))
        except Exception as exc:  # a failing timer must not stop the others
            self._count_error(now, "serve.timer_failed", exc, None)
            return
        self.execute(effects)

    def _count_error(self, now: float, event: str, exc: Exception, source: Addr | None) -> None:
        self.errors += 1
        where = f"{source.host}:{source.port}/{source.transport}" if source else None
        log_garbage(self._garbage, now, event, error=repr(exc), source=where)

    # -- effects ------------------------------------------------------------------------

    def execute(self, effects: Iterable[Effect]) -> None:
        """Carry out effects in order; an effect not handled here fails type checking."""
        for effect in effects:
            match effect:
                case Transmit():
                    self._transmit(effect)
                case StartTimer(key=key, at=at):
                    self._timers.start(key, at)
                case CancelTimer(key=key):
                    self._timers.cancel(key)
                case Decided():
                    self.gate.decided(effect)
                case CallEnded():
                    self.gate.ended(effect)
                case Malformed():
                    self.gate.malformed(effect)
                case _:
                    assert_never(effect)

    def _transmit(self, effect: Transmit) -> None:
        dest = effect.dest
        if dest.transport == "tcp":
            self._tcp.send(effect.data, dest.host, dest.port)
            return
        family = 10 if ":" in dest.host else 2  # AF_INET6 / AF_INET
        endpoint = self._udp_by_family.get(family)
        if endpoint is None:
            self.udp_stats.send_errors += 1
            return
        endpoint.send(effect.data, dest.host, dest.port)
