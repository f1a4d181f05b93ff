"""A journal that failed a commit is probed until it writes again: health returns by itself."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sipguard.journal.entries import admin_entry
from sipguard.journal.supervise import ServiceJournal
from sipguard.journal.wire import FrameReader, body_entry, frame


class Running:
    """Stands for the service's child process: still running."""

    def poll(self) -> None:
        return None


async def _fake_service(path: Path, failures: int, seen: list[list[Any]]) -> asyncio.Server:
    """A service whose first ``failures`` appends fail as on a full disk, then succeed."""
    left = [failures]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameReader()
        while data := await reader.read(65536):
            for msg in frames.feed(data):
                seen.append(msg)
                if left[0] > 0:
                    left[0] -= 1
                    writer.write(frame([msg[0], "error", "full", "database or disk is full"]))
                else:
                    writer.write(frame([msg[0], "ok", len(seen), "0" * 64, "1" * 64]))
        writer.close()

    return await asyncio.start_unix_server(handle, str(path))


def test_a_failing_journal_is_probed_until_it_writes_then_healthy(tmp_path: Path) -> None:
    async def main() -> None:
        seen: list[list[Any]] = []
        path = tmp_path / "j.sock"
        server = await _fake_service(path, failures=2, seen=seen)
        journal = ServiceJournal([], path)
        journal._proc = Running()  # type: ignore[assignment]
        await journal.client.connect()
        failed = journal.submit(admin_entry("resume", datetime.now(UTC), number="4008001234"))
        await asyncio.wait([failed])
        assert failed.exception() is not None and not journal.healthy
        journal.probe(every=0.0)
        journal.probe(every=0.0)  # one probe at a time
        assert journal.probes == 1
        for _ in range(100):
            await asyncio.sleep(0.01)
            journal.probe(every=0.0)
            if journal.healthy:
                break
        assert journal.healthy and journal.probes == 2  # the first probe failed too
        probe = body_entry(seen[-1][2])
        assert probe.kind == "admin" and probe.action == "journal_recovered"
        assert probe.detail is not None and "failing_since" in probe.detail
        journal.probe(every=0.0)
        assert journal.probes == 2  # healthy: no more probes
        journal.client.close()
        server.close()

    asyncio.run(main())
