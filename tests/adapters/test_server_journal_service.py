"""The server on the real journal service: durable before the answer, 503 while it is down,
back once the supervisor restarted it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from test_server_shell import FakeCore, client, recv, started

from sipguard.journal import launch
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
        assert await recv(sock) == b"LEG-B-INVITE"
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
        assert await recv(sock) == b"503"
        assert core.unrecorded_calls == [7]
        for _ in range(300):
            if journal.healthy:
                break
            await asyncio.sleep(0.02)
        assert journal.healthy and journal.restarts == 1
        server.check_journal()
        sock.sendto(b"ALLOW", at)
        assert await recv(sock, 5) == b"LEG-B-INVITE"
        supervisor.cancel()
        await server.close()
        journal.close()
        sock.close()

    asyncio.run(main())
    assert [e.reason for e in JournalStore(db).entries()] == ["ALLOWED"]
