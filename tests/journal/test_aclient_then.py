"""The journal client's future-free ``submit_then`` against the plain ``submit``, on the real
service: same stored entries, same order, each settled exactly once, failures included."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

from sipguard import metrics
from sipguard.journal.aclient import AsyncJournalClient
from sipguard.journal.record import Entry
from sipguard.journal.store import JournalStore
from sipguard.journal.writer import JournalUnavailable

from .conftest import decision
from .test_service import running

__all__ = ["running"]  # the fixture, shared with test_service


def test_submit_then_stores_what_submit_stores_in_call_order(
    db: Path, running: tuple[subprocess.Popen[bytes], Path]
) -> None:
    """Interleaved plain and future-free submissions: each gets its stored entry, and the
    journal holds them in the order they were made, as with futures alone."""
    _, sock = running

    async def main() -> None:
        client = AsyncJournalClient(sock)
        await client.connect()
        settled: dict[int, Entry | None] = {}
        futures = {}
        for i in range(40):
            if i % 2:
                client.submit_then(decision(i), settled.__setitem__, i)
            else:
                futures[i] = client.submit(decision(i))
        plain = {i: await fut for i, fut in futures.items()}
        while len(settled) < 20:
            await asyncio.sleep(0.01)
        both = {**plain, **settled}
        assert all(isinstance(both[i], Entry) for i in range(40))
        assert [both[i].call_id for i in range(40)] == [f"call-{i}" for i in range(40)]  # type: ignore[union-attr]
        seqs = [both[i].seq for i in range(40)]  # type: ignore[union-attr]
        assert seqs == sorted(seqs) and len(set(seqs)) == 40
        client.close()

    asyncio.run(main())
    assert [e.call_id for e in JournalStore(db).entries()] == [f"call-{i}" for i in range(40)]


def test_submit_then_settles_once_with_none_when_the_service_dies(
    running: tuple[subprocess.Popen[bytes], Path],
) -> None:
    """kill -9 with requests in flight: every ``done`` is called once, with None, where the
    plain futures fail with JournalUnavailable; health drops."""
    proc, sock = running

    async def main() -> None:
        client = AsyncJournalClient(sock)
        await client.connect()
        calls: list[tuple[int, Entry | None]] = []
        proc.send_signal(signal.SIGSTOP)
        for i in range(30):
            client.submit_then(decision(i), lambda i, s: calls.append((i, s)), i)
        futures = [client.submit(decision(i)) for i in range(30, 40)]
        await asyncio.sleep(0.05)
        proc.kill()
        results = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 10)
        assert all(isinstance(r, JournalUnavailable) for r in results)
        assert sorted(calls, key=lambda c: c[0]) == [(i, None) for i in range(30)]
        assert not client.healthy

    asyncio.run(main())


def test_submit_then_without_a_connection_fails_on_a_later_turn(tmp_path: Path) -> None:
    """Not connected: ``done(arg, None)``, never from inside the call (as a failed future
    would run its callbacks), so the caller's own effects finish first."""

    async def main() -> None:
        client = AsyncJournalClient(tmp_path / "none.sock")
        calls: list[Entry | None] = []
        client.submit_then(decision(1), lambda _, s: calls.append(s), None)
        assert calls == []
        await asyncio.sleep(0)
        assert calls == [None]

    asyncio.run(main())


def test_a_failing_callback_does_not_break_the_connection(
    running: tuple[subprocess.Popen[bytes], Path],
) -> None:
    """A ``done`` that raises is logged; the next requests are answered as usual."""
    _, sock = running

    def boom(_: int, __: Entry | None) -> None:
        raise RuntimeError("scripted")

    async def main() -> None:
        client = AsyncJournalClient(sock)
        await client.connect()
        client.submit_then(decision(1), boom, 1)
        stored = await asyncio.wait_for(client.submit(decision(2)), 10)
        assert stored is not None and stored.call_id == "call-2"
        assert client.healthy
        client.close()

    asyncio.run(main())


def test_metrics_moved_per_read_match_counting_each_reply(
    running: tuple[subprocess.Popen[bytes], Path],
) -> None:
    """The queue depth rises by one per request and is back where it was once all are
    answered; the records counter rose by one per entry acked, as when each reply counted."""
    _, sock = running
    get = metrics.REGISTRY.get_sample_value

    async def main() -> None:
        client = AsyncJournalClient(sock)
        await client.connect()
        depth0 = get("sipguard_journal_queue_depth") or 0.0
        records0 = get("sipguard_journal_records_total") or 0.0
        settled: list[Entry | None] = []
        for i in range(25):
            client.submit_then(decision(i), lambda _, s: settled.append(s), None)
        futures = [client.submit(decision(i)) for i in range(25, 30)]
        futures.append(client.sync())
        assert get("sipguard_journal_queue_depth") == depth0 + 31
        await asyncio.gather(*futures)
        while len(settled) < 25:
            await asyncio.sleep(0.01)
        assert get("sipguard_journal_queue_depth") == depth0
        assert get("sipguard_journal_records_total") == records0 + 30
        client.close()

    asyncio.run(main())
