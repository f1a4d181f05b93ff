"""The shell carries ``Malformed`` to the journal: one decision entry, reason MALFORMED."""

from __future__ import annotations

import asyncio
import concurrent.futures
from datetime import UTC, datetime

from sipguard.adapters.server.shell import Server
from sipguard.b2bua.effects import Addr, Effects, Malformed, TimerKey
from sipguard.journal.record import Entry
from sipguard.policy.facts import Direction


class Journal:
    healthy = True

    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def submit(self, entry: Entry) -> concurrent.futures.Future[Entry | None]:
        self.entries.append(entry)
        fut: concurrent.futures.Future[Entry | None] = concurrent.futures.Future()
        fut.set_result(entry)
        return fut


class Core:
    journal_ok = True

    def on_message(self, data: bytes, source: Addr, now: float, wall: datetime) -> Effects:
        return []

    def on_timer(self, key: TimerKey, now: float, wall: datetime) -> Effects:
        return []


def test_malformed_becomes_a_journal_entry_with_source_and_trunk() -> None:
    async def run() -> Journal:
        journal = Journal()
        server = Server(Core(), journal, None)
        at = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
        src = Addr("127.0.0.2", 5062)
        effect = Malformed(src, Direction.OUTBOUND, "acme-sh-1", 400, 'two "From"', at, "c-1")
        server.execute([effect])
        await server.gate.drain(1.0)
        await server.close()
        return journal

    (entry,) = asyncio.run(run()).entries
    assert (entry.kind, entry.reason, entry.status, entry.verdict) == (
        "decision",
        "MALFORMED",
        400,
        "reject",
    )
    assert (entry.source, entry.trunk, entry.direction) == (
        "127.0.0.2:5062",
        "acme-sh-1",
        "outbound",
    )
    assert entry.call_id == "c-1" and entry.detail == '{"error":"two \\"From\\""}'
