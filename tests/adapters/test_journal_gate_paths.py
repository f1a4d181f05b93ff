"""The journal gate's future-free path (``submit_then``, as the journal service client offers
it) pinned to the plain one (a journal that returns futures, from a thread or the loop):
the same effects released, the same lines logged, the same failures counted."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from structlog.testing import capture_logs
from test_server_shell import ALLOWED, FACTS, VERDICT, FakeCore

from sipguard.adapters.server.journal_gate import JournalGate
from sipguard.b2bua.effects import Addr, CallEnded, Decided, Effect, Malformed, Transmit
from sipguard.journal.record import Entry
from sipguard.policy.facts import CallFacts

T = TypeVar("T")
AT = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
SRC = Addr("127.0.0.2", 5060, "udp")


def _stored(entry: Entry, seq: int) -> Entry:
    return dataclasses.replace(entry, seq=seq)


class ThreadJournal:
    """Futures settled by a writer thread (as the in-process writer does)."""

    def __init__(self, *, fail: bool) -> None:
        self.healthy, self.fail, self.seq = True, fail, 0

    def submit(self, entry: Entry) -> concurrent.futures.Future[Entry]:
        fut: concurrent.futures.Future[Entry] = concurrent.futures.Future()
        self.seq += 1
        seq = self.seq

        def finish() -> None:
            if self.fail:
                fut.set_exception(OSError("disk gone"))
            else:
                fut.set_result(_stored(entry, seq))

        threading.Thread(target=finish, daemon=True).start()
        return fut


class LoopJournal(ThreadJournal):
    """asyncio futures settled on a later loop turn."""

    def submit(self, entry: Entry) -> asyncio.Future[Entry]:  # type: ignore[override]
        fut: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        self.seq += 1
        if self.fail:
            fut.get_loop().call_soon(fut.set_exception, OSError("disk gone"))
        else:
            fut.get_loop().call_soon(fut.set_result, _stored(entry, self.seq))
        return fut


class ThenJournal(ThreadJournal):
    """The future-free form: ``done(arg, stored or None)`` from a later loop turn."""

    def submit(self, entry: Entry) -> concurrent.futures.Future[Entry]:
        raise AssertionError("the gate must use submit_then when the journal offers it")

    def submit_then(self, entry: Entry, done: Callable[[T, Entry | None], None], arg: T) -> None:
        self.seq += 1
        stored = None if self.fail else _stored(entry, self.seq)
        asyncio.get_running_loop().call_soon(done, arg, stored)


def _effects() -> list[Effect]:
    allowed_facts = CallFacts("c2", "127.0.0.1", 5000, "4008001234", "x", None, "13800138000")
    return [
        Decided(FACTS, VERDICT, AT, after=(Transmit(b"403", SRC),)),
        Decided(allowed_facts, ALLOWED, AT, after=(Transmit(b"LEG-B", SRC),), call_key=7),
        Malformed(SRC, None, None, 400, "bad Via", AT, call_id="c3"),
        CallEnded("c2", None, AT, 486, "callee"),
    ]


def _run(journal: ThreadJournal) -> tuple[list[bytes], list[tuple[Any, ...]], int, bool]:
    sent: list[bytes] = []
    core = FakeCore()
    core.seen.append((b"", SRC))

    def execute(effects: Iterable[Effect]) -> None:
        sent.extend(e.data for e in effects if isinstance(e, Transmit))

    async def main() -> JournalGate:
        gate = JournalGate(asyncio.get_running_loop(), journal, core, execute)
        for effect in _effects():
            if isinstance(effect, Decided):
                gate.decided(effect)
            elif isinstance(effect, Malformed):
                gate.malformed(effect)
            elif isinstance(effect, CallEnded):
                gate.ended(effect)
        assert sent == []  # nothing released before its write settled
        await gate.drain(5.0)
        return gate

    with capture_logs() as logged:
        gate = asyncio.run(main())
    lines = sorted(
        (e["event"], e.get("call_id"), e.get("reason"), e.get("seq"), e.get("journal"))
        for e in logged if e["event"].startswith("call.")
    )  # fmt: skip
    return sorted(sent), lines, gate.failures, core.journal_ok


@pytest.mark.parametrize("outcome", ["stored", "failed"])
def test_submit_then_settles_as_futures_do(outcome: str) -> None:
    """Success and failure, through each kind of journal: identical outcomes.  A failed write
    still answers the rejection, refuses the allowed outbound call (503, no leg B), and
    logs each record with ``journal=unavailable``."""
    fail = outcome == "failed"
    plain = _run(ThreadJournal(fail=fail))
    assert _run(LoopJournal(fail=fail)) == plain
    assert _run(ThenJournal(fail=fail)) == plain
    sent, lines, failures, ok = plain
    assert len(lines) == 4
    if fail:
        assert sent == [b"403", b"503"] and failures == 4 and ok is False
        assert all(line[4] == "unavailable" for line in lines)
    else:
        assert sent == [b"403", b"LEG-B"] and failures == 0 and ok is True
        assert all(line[3] is not None for line in lines)


def test_drain_waits_for_writes_in_flight() -> None:
    """``drain`` returns once every write settled and released its effects."""
    sent: list[bytes] = []

    async def main() -> None:
        gate = JournalGate(asyncio.get_running_loop(), ThreadJournal(fail=False), FakeCore(),
                           lambda effects: sent.extend(e.data for e in effects
                                                       if isinstance(e, Transmit)))  # fmt: skip
        for _ in range(20):
            gate.decided(_effects()[0])  # type: ignore[arg-type]
        await gate.drain(5.0)
        assert sent == [b"403"] * 20

    asyncio.run(main())
