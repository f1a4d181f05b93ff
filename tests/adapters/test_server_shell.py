"""The asyncio shell against a scripted fake core: effects, journal gating, overload, errors."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from datetime import datetime
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from sipguard.adapters.server.shell import Server
from sipguard.b2bua.effects import (
    Addr,
    CallTimer,
    CallTimerKind,
    Decided,
    Effects,
    StartTimer,
    TimerKey,
    Transmit,
)
from sipguard.journal.record import Entry
from sipguard.policy.facts import CallFacts, Direction, Reason, Verdict

FACTS = CallFacts("c1", "127.0.0.1", 5000, "4008001234", "x", None, "13800138000")
VERDICT = Verdict(
    Reason.NO_CONSENT,
    Direction.OUTBOUND,
    "4008001234",
    "13800138000",
    "4008001234",
    "acme",
    "acme-sh-1",
)


ALLOWED = Verdict(
    Reason.ALLOWED,
    Direction.OUTBOUND,
    "4008001234",
    "13800138000",
    "4008001234",
    "acme",
    "acme-sh-1",
)


class FakeCore:
    """Answers PING, decides on DECIDE/ALLOW, arms a timer on TIMER and raises on BOOM."""

    def __init__(self) -> None:
        self.journal_ok = True
        self.seen: list[tuple[bytes, Addr]] = []
        self.unrecorded_calls: list[int | None] = []
        self.timer_source: Addr | None = None

    def release(self, call_key: int | None) -> bool:
        return True

    def unrecorded(self, call_key: int | None, now: float, wall: datetime) -> Effects:
        self.unrecorded_calls.append(call_key)
        return [Transmit(b"503", self.seen[-1][1])]

    def on_message(self, data: bytes, source: Addr, now: float, wall: datetime) -> Effects:
        assert wall.tzinfo is not None
        self.seen.append((data, source))
        if data == b"BOOM":
            raise ValueError("scripted failure")
        if data == b"DECIDE":
            final = Transmit(b"FINAL", source)
            return [Decided(FACTS, VERDICT, wall, after=(final,))]
        if data == b"ALLOW":
            leg_b = Transmit(b"LEG-B-INVITE", source)
            return [Decided(FACTS, ALLOWED, wall, after=(leg_b,), call_key=7)]
        if data == b"TIMER":
            self.timer_source = source
            return [StartTimer(CallTimer(1, CallTimerKind.RING), now + 0.05)]
        return [Transmit(b"PONG:" + data, source)]

    def on_timer(self, key: TimerKey, now: float, wall: datetime) -> Effects:
        assert key == CallTimer(1, CallTimerKind.RING)
        assert self.timer_source is not None
        return [Transmit(b"FIRED", self.timer_source)]


class GatedJournal:
    """A journal whose writes complete only when the test opens the gate (or fail)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.healthy = True
        self.records: list[Entry] = []
        self.gate = threading.Event()
        self.fail = fail

    def submit(self, record: Entry) -> concurrent.futures.Future[Entry]:
        self.records.append(record)
        fut: concurrent.futures.Future[Entry] = concurrent.futures.Future()

        def finish() -> None:
            self.gate.wait(5)
            if self.fail:
                fut.set_exception(OSError("disk gone"))
            else:
                fut.set_result(record)

        threading.Thread(target=finish, daemon=True).start()
        return fut


def client() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.0)  # non-blocking
    return sock


async def recv(sock: socket.socket, timeout: float = 2.0) -> bytes | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            return sock.recv(65535)
        except BlockingIOError:
            await asyncio.sleep(0.005)
    return None


async def started(
    core: FakeCore, journal: GatedJournal | None = None, queue_limit: int = 8192
) -> tuple[Server, Any]:
    server = Server(core, journal, structlog.get_logger(), queue_limit)
    bound = await server.start([("127.0.0.1", 0)])
    return server, bound[0]


def test_udp_request_gets_the_cores_transmit_back() -> None:
    """A datagram reaches the core with its source, and a Transmit goes back to that source."""

    async def main() -> None:
        core = FakeCore()
        server, at = await started(core)
        sock = client()
        sock.sendto(b"PING", at)
        assert await recv(sock) == b"PONG:PING"
        assert core.seen[0][1] == Addr("127.0.0.1", sock.getsockname()[1], "udp")
        await server.close()
        sock.close()

    asyncio.run(main())


def test_final_answer_waits_for_the_journal() -> None:
    """Decided.after runs only once the journal write is durable."""

    async def main() -> None:
        journal = GatedJournal()
        server, at = await started(FakeCore(), journal)
        sock = client()
        sock.sendto(b"DECIDE", at)
        assert await recv(sock, 0.3) is None
        assert len(journal.records) == 1
        journal.gate.set()
        assert await recv(sock) == b"FINAL"
        assert server.gate.decisions == {"NO_CONSENT": 1}
        await server.close()
        sock.close()

    asyncio.run(main())


def test_failed_journal_write_tells_core_and_still_answers() -> None:
    """A failed journal write sets journal_ok False, logs the full record, still answers."""

    async def main() -> None:
        journal = GatedJournal(fail=True)
        journal.gate.set()
        core = FakeCore()
        server, at = await started(core, journal)
        sock = client()
        with capture_logs() as logged:
            sock.sendto(b"DECIDE", at)
            assert await recv(sock) == b"FINAL"
        assert core.journal_ok is False
        assert server.gate.failures == 1
        decision = [e for e in logged if e["event"] == "call.decision"]
        assert decision[0]["journal"] == "unavailable"
        assert decision[0]["reason"] == "NO_CONSENT"
        await server.close()
        sock.close()

    asyncio.run(main())


def test_unhealthy_journal_is_reported_to_core() -> None:
    """check_journal mirrors the writer's health into the core, both ways."""

    async def main() -> None:
        journal = GatedJournal()
        core = FakeCore()
        server, _ = await started(core, journal)
        journal.healthy = False
        server.check_journal()
        assert core.journal_ok is False
        journal.healthy = True
        server.check_journal()
        assert core.journal_ok is True
        await server.close()

    asyncio.run(main())


def test_timer_effect_fires_into_core() -> None:
    """A StartTimer effect comes back as on_timer at its deadline."""

    async def main() -> None:
        server, at = await started(FakeCore())
        sock = client()
        sock.sendto(b"TIMER", at)
        assert await recv(sock) == b"FIRED"
        assert server.timers == 0
        await server.close()
        sock.close()

    asyncio.run(main())


def test_core_exception_is_counted_and_server_goes_on() -> None:
    """A message the core fails on is counted; the next message is still served."""

    async def main() -> None:
        server, at = await started(FakeCore())
        sock = client()
        sock.sendto(b"BOOM", at)
        sock.sendto(b"PING", at)
        assert await recv(sock) == b"PONG:PING"
        assert server.errors == 1
        await server.close()
        sock.close()

    asyncio.run(main())


def test_overload_drops_and_counts_beyond_queue_bound() -> None:
    """With the loop busy, datagrams beyond the intake bound are dropped and counted."""

    async def main() -> None:
        server, at = await started(FakeCore(), queue_limit=10)
        sock = client()
        for i in range(200):
            sock.sendto(b"X%d" % i, at)
        await asyncio.sleep(0.2)
        stats = server.udp_stats
        assert stats.received == 200
        assert stats.dropped > 0
        assert stats.sent == stats.received - stats.dropped
        await server.close()
        sock.close()

    asyncio.run(main())


def test_unrecorded_outbound_call_is_refused_not_bridged() -> None:
    """When an allowed outbound decision cannot be journaled, leg B is held and A gets 503."""

    async def main() -> None:
        journal = GatedJournal(fail=True)
        journal.gate.set()
        core = FakeCore()
        server, at = await started(core, journal)
        sock = client()
        sock.sendto(b"ALLOW", at)
        assert await recv(sock) == b"503"
        assert await recv(sock, 0.2) is None  # the held INVITE for leg B never leaves
        assert core.unrecorded_calls == [7]
        await server.close()
        sock.close()

    asyncio.run(main())


def test_ipv6_listen_address_serves_udp() -> None:
    """A [::1] listen address takes datagrams and answers over IPv6, source included."""

    async def main() -> None:
        core = FakeCore()
        server = Server(core, None, structlog.get_logger())
        (at,) = await server.start([("::1", 0)])
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.bind(("::1", 0))
        sock.settimeout(0.0)  # non-blocking
        sock.sendto(b"PING6", at[:2])
        assert await recv(sock) == b"PONG:PING6"
        assert core.seen[0][1] == Addr("::1", sock.getsockname()[1], "udp")
        await server.close()
        sock.close()

    asyncio.run(main())


def test_reused_source_addresses_are_the_plain_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Addr the core sees for a datagram is ``Addr(host, port, "udp")``, whether it is
    built for it or kept from an earlier datagram, past the bound on kept sources too."""
    from sipguard.adapters.server import shell

    monkeypatch.setattr(shell, "SOURCES_MAX", 3)

    async def main() -> None:
        core = FakeCore()
        server, _ = await started(core)
        ports = [5000 + i % 5 for i in range(40)]
        for port in ports:
            server._on_udp(b"PING", "127.0.0.9", port)
        assert [source for _, source in core.seen] == [Addr("127.0.0.9", p, "udp") for p in ports]
        assert len(server._udp_sources) <= 3
        await server.close()

    asyncio.run(main())
