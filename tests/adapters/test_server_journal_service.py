"""The server on the real journal service: durable before the answer, 503 while it is down,
back once the supervisor restarted it."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

from test_server_shell import FakeCore, client, recv, started

from sipguard.journal import launch
from sipguard.journal.record import Entry
from sipguard.journal.store import JournalStore
from sipguard.journal.supervise import ServiceJournal
from sipguard.journal.wire import socket_path_for


def _journal(db: Path) -> ServiceJournal:
    return ServiceJournal(launch.command(db, watch_pid=os.getpid()), socket_path_for(db))


def test_allowed_call_goes_ahead_only_once_its_record_is_durable(tmp_path: Path) -> None:
    """The leg-B INVITE leaves after the service acked the decision, which is then on disk."""
    db = tmp_path / "journal.db"

    async def main() -> None:
        journal = _journal(db)
        await journal.start()
        server, at = await started(FakeCore(), journal)
        sock = client()
        sock.sendto(b"ALLOW", at)
        assert await recv(sock, 10) == b"LEG-B-INVITE"  # one fsync: on a busy disk, slow
        assert [e.reason for e in JournalStore(db).entries()] == ["ALLOWED"]
        await server.close()
        journal.close()
        sock.close()

    asyncio.run(main())


def test_dead_service_refuses_outbound_then_is_restarted(tmp_path: Path) -> None:
    """kill -9 of the service: health drops, an allowed outbound call gets 503; the
    supervisor starts it again and the next call is recorded and bridged."""
    db = tmp_path / "journal.db"

    async def main() -> None:
        journal = _journal(db)
        await journal.start()
        supervisor = asyncio.create_task(journal.supervise(every=0.05))
        core = FakeCore()
        server, at = await started(core, journal)
        sock = client()
        assert journal._proc is not None
        journal._proc.kill()
        await asyncio.sleep(0.01)
        while journal.client.connected:
            await asyncio.sleep(0.01)
        assert not journal.healthy
        sock.sendto(b"ALLOW", at)
        assert await recv(sock, 10) == b"503"
        assert core.unrecorded_calls == [7]
        for _ in range(1000):  # a restart is a fresh interpreter: give a busy machine 20 s
            if journal.healthy:
                break
            await asyncio.sleep(0.02)
        assert journal.healthy and journal.restarts == 1
        server.check_journal()
        sock.sendto(b"ALLOW", at)
        assert await recv(sock, 10) == b"LEG-B-INVITE"
        supervisor.cancel()
        await server.close()
        journal.close()
        sock.close()

    asyncio.run(main())
    assert [e.reason for e in JournalStore(db).entries()] == ["ALLOWED"]


def test_a_second_server_shares_the_running_service(tmp_path: Path) -> None:
    """When a service already holds the journal, a second supervisor connects to it, calls
    it healthy and does not keep starting new ones."""
    db = tmp_path / "journal.db"

    async def main() -> None:
        first, second = _journal(db), _journal(db)
        await first.start()
        await second.start()
        supervisor = asyncio.create_task(second.supervise(every=0.02))
        await asyncio.sleep(0.3)
        assert second.healthy and second.restarts == 0
        stored = await second.submit(admin_record(db))
        assert stored is not None and stored.seq == 1
        supervisor.cancel()
        second.close()
        first.close()

    asyncio.run(main())


def admin_record(db: Path) -> Entry:
    from sipguard.journal.entries import admin_entry

    return admin_entry("check", datetime.now(UTC), detail={"journal": db.name})
