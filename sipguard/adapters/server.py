"""The asyncio shell that drives the sans-IO B2BUA: sockets, timers, journal, reload.

The core (``sipguard.b2bua``) turns each input into a list of effects; this module is the
only place that carries them out.  It owns the UDP endpoints and TCP connections, the timer
heap, the hand-off to the journal, decision logging and the counters behind the metrics.

Invariants:
- Every input reaches the core with ``now`` from the loop's monotonic clock and ``wall`` as an
  aware UTC datetime; effects are executed in the order the core returned them.
- ``Decided.after`` (the final answer to a screened INVITE) runs only once the journal has made
  the decision durable (RFC 3261 section 17.2.1 lets the INVITE wait meanwhile: the server
  transaction absorbs retransmissions).  If the journal fails, the core is told
  (``journal_ok = False``) and the ``after`` effects are not run.
- No exception raised by the core for one message stops the server: it is counted and logged,
  at a limited rate.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from sipguard.adapters.tcp import TcpPool
from sipguard.adapters.timers import TimerHeap
from sipguard.adapters.udp import UdpEndpoint, UdpStats, bind_udp
from sipguard.b2bua.effects import Addr, CallEnded, CancelTimer, Decided, StartTimer, Transmit


class Core(Protocol):
    """What the shell needs from the B2BUA core."""

    journal_ok: bool

    def on_message(self, data: bytes, source: Addr, now: float, wall: datetime) -> list[Any]:
        """Handle one datagram or framed stream message."""
        ...

    def on_timer(self, key: Hashable, now: float, wall: datetime) -> list[Any]:
        """Handle a timer that came due."""
        ...


class Journal(Protocol):
    """What the shell needs from the journal writer."""

    @property
    def healthy(self) -> bool:
        """False once the writer can no longer make records durable."""
        ...

    def submit(self, record: Any) -> concurrent.futures.Future[Any]:
        """Queue a record; the future completes once it is durable."""
        ...


class RateLimiter:
    """Allows ``burst`` events per ``period`` seconds and counts the ones it suppresses."""

    def __init__(self, burst: int = 10, period: float = 10.0) -> None:
        self._burst = burst
        self._period = period
        self._window = float("-inf")
        self._used = 0
        self.suppressed = 0

    def allow(self, now: float) -> bool:
        """True when one more event may be logged at ``now``."""
        if now - self._window >= self._period:
            self._window = now
            self._used = 0
        if self._used < self._burst:
            self._used += 1
            return True
        self.suppressed += 1
        return False


def _failure(future: concurrent.futures.Future[Any]) -> BaseException | None:
    if future.cancelled():
        return concurrent.futures.CancelledError()
    return future.exception()


def _identity(record: Any) -> Any:
    return record


class Server:
    """Carries out the core's effects on real sockets and clocks."""

    def __init__(
        self,
        core: Core,
        journal: Journal | None,
        log: Any,
        decision_record: Callable[[Decided], Any] = _identity,
        outcome_record: Callable[[CallEnded], Any] = _identity,
        queue_limit: int = 8192,
    ) -> None:
        self.core = core
        self.journal = journal
        self.log = log
        self.udp_stats = UdpStats()
        self.errors = 0
        self.decisions: dict[str, int] = {}
        self.journal_failures = 0
        self._decision_record = decision_record
        self._outcome_record = outcome_record
        self._queue_limit = queue_limit
        self._loop = asyncio.get_running_loop()
        self._udp: list[UdpEndpoint] = []
        self._udp_by_family: dict[int, UdpEndpoint] = {}
        self._tcp = TcpPool(self._loop, self._on_tcp)
        self._timers = TimerHeap(self._loop, self._on_timer)
        self._garbage = RateLimiter()
        self._inflight: set[concurrent.futures.Future[Any]] = set()
        self._handlers: dict[type, Callable[[Any], None]] = {
            Transmit: self._transmit,
            StartTimer: self._start_timer,
            CancelTimer: self._cancel_timer,
            Decided: self._decided,
            CallEnded: self._call_ended,
        }

    @property
    def tcp_stats(self) -> Any:
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
            endpoint = UdpEndpoint(
                self._loop,
                bind_udp(host, port),
                self._on_udp,
                self.udp_stats,
                queue_limit=self._queue_limit,
            )
            self._udp.append(endpoint)
            self._udp_by_family.setdefault(endpoint.family, endpoint)
            local = endpoint.local
            await self._tcp.listen(local[0], local[1])
            bound.append(local)
        return bound

    async def close(self, grace: float = 1.0) -> None:
        """Let pending journal writes finish (up to ``grace`` s), then close everything."""
        if self._inflight:
            waiting = [asyncio.wrap_future(f) for f in list(self._inflight)]
            await asyncio.wait(waiting, timeout=grace)
            await asyncio.sleep(0)
        for endpoint in self._udp:
            endpoint.close()
        self._udp.clear()
        self._timers.close()
        await self._tcp.close()

    def check_journal(self) -> None:
        """Tell the core whether the journal can still make records durable."""
        if self.journal is None:
            return
        healthy = bool(self.journal.healthy)
        if healthy != self.core.journal_ok:
            self.core.journal_ok = healthy
            if healthy:
                self.log.warning("journal.recovered")
            else:
                self.log.error("journal.unhealthy")

    # -- inputs -------------------------------------------------------------------------

    def _on_udp(self, data: bytes, host: str, port: int) -> None:
        self._feed(data, Addr(host, port, "udp"))

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

    def _on_timer(self, key: Hashable) -> None:
        now = self._loop.time()
        try:
            effects = self.core.on_timer(key, now, datetime.now(UTC))
        except Exception as exc:  # a failing timer must not stop the others
            self._count_error(now, "serve.timer_failed", exc, None)
            return
        self.execute(effects)

    def _count_error(self, now: float, event: str, exc: Exception, source: Addr | None) -> None:
        self.errors += 1
        if self._garbage.allow(now):
            where = f"{source.host}:{source.port}/{source.transport}" if source else None
            self.log.warning(
                event, error=repr(exc), source=where, suppressed=self._garbage.suppressed
            )

    # -- effects ------------------------------------------------------------------------

    def execute(self, effects: Iterable[Any]) -> None:
        """Carry out effects in order."""
        handlers = self._handlers
        for effect in effects:
            handler = handlers.get(type(effect))
            if handler is None:
                self.log.warning("serve.unknown_effect", effect=type(effect).__name__)
                continue
            handler(effect)

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

    def _start_timer(self, effect: StartTimer) -> None:
        self._timers.start(effect.key, effect.at)

    def _cancel_timer(self, effect: CancelTimer) -> None:
        self._timers.cancel(effect.key)

    def _decided(self, effect: Decided) -> None:
        verdict = effect.verdict
        reason = verdict.reason.value
        self.decisions[reason] = self.decisions.get(reason, 0) + 1
        self.log.info("call.decided", **verdict.to_json_dict(effect.facts, effect.at.isoformat()))
        if self.journal is None:
            self.execute(effect.after)
            return
        future = self.journal.submit(self._decision_record(effect))
        self._inflight.add(future)
        loop = self._loop

        def done(fut: concurrent.futures.Future[Any]) -> None:
            with contextlib.suppress(RuntimeError):  # a closed loop: the server is gone
                loop.call_soon_threadsafe(self._durable, effect, fut)

        future.add_done_callback(done)

    def _durable(self, effect: Decided, future: concurrent.futures.Future[Any]) -> None:
        self._inflight.discard(future)
        exc = _failure(future)
        if exc is not None:
            self.journal_failures += 1
            self.core.journal_ok = False
            self.log.error("journal.write_failed", call_id=effect.facts.call_id, error=repr(exc))
            return
        self.execute(effect.after)

    def _call_ended(self, effect: CallEnded) -> None:
        self.log.info(
            "call.ended",
            call_id=effect.call_id,
            final_status=effect.final_status,
            ended_by=effect.ended_by,
        )
        if self.journal is None:
            return
        future = self.journal.submit(self._outcome_record(effect))
        future.add_done_callback(self._outcome_done)

    def _outcome_done(self, future: concurrent.futures.Future[Any]) -> None:
        if _failure(future) is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nothing left to tell
                self._loop.call_soon_threadsafe(self._journal_failed)

    def _journal_failed(self) -> None:
        self.journal_failures += 1
        self.core.journal_ok = False
        self.log.error("journal.write_failed")
