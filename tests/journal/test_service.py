"""The journal service: acks only once durable, group commit, failures, death and restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sipguard import metrics
from sipguard.journal import launch
from sipguard.journal.aclient import AsyncJournalClient
from sipguard.journal.client import ServiceClient
from sipguard.journal.listener import serve
from sipguard.journal.record import Entry
from sipguard.journal.service import JournalService
from sipguard.journal.store import JournalStore
from sipguard.journal.wire import FrameReader, entry_body, socket_path_for
from sipguard.journal.writer import JournalUnavailable

from .conftest import decision


class FakeConn:
    """Collects what the service sends to one client."""

    def __init__(self) -> None:
        self.reader = FrameReader()
        self.replies: list[list[Any]] = []
        self.stats: list[list[Any]] = []

    def send(self, data: bytes) -> None:
        for reply in self.reader.feed(data):
            (self.stats if reply[0] == 0 else self.replies).append(reply)


def test_append_is_acked_only_after_its_commit(db: Path) -> None:
    """Nothing is answered on receipt; after the commit the entry is on disk, then acked."""
    service = JournalService(db, schedule=lambda f, d: None)
    conn = FakeConn()
    service.handle(conn, [1, "append", entry_body(decision(1))])  # type: ignore[arg-type]
    service.handle(conn, [2, "sync"])  # type: ignore[arg-type]
    assert conn.replies == []
    assert JournalStore(db).count() == 0
    service.commit()
    assert JournalStore(db).count() == 1
    assert [r[:3] for r in conn.replies] == [[1, "ok", 1], [2, "ok", None]]
    assert [s[:3] for s in conn.stats] == [[0, "stats", 1]]
    service.close()


def test_failed_commit_fails_the_batch_and_the_service_goes_on(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit error answers every request of the batch with its error; the next works.

    Text that is not UTF-8 is refused on receipt, for its own request only."""
    service = JournalService(db, schedule=lambda f, d: None)
    conn = FakeConn()

    def locked(entries: object) -> list[Entry]:
        raise sqlite3.OperationalError("database is locked")

    with monkeypatch.context() as m:
        m.setattr(service.store, "append_bodies", locked)  # the service's path in SQLite
        service.handle(conn, [1, "append", entry_body(decision(1))])  # type: ignore[arg-type]
        service.commit()
    bad = Entry(kind="decision", ts=1, at="x", call_id="a\udcffb@x")  # not built by a builder
    service.handle(conn, [2, "append", entry_body(bad)])  # type: ignore[arg-type]
    service.commit()
    service.handle(conn, [3, "append", entry_body(decision(3))])  # type: ignore[arg-type]
    service.commit()
    assert [r[:3] for r in conn.replies] == [[1, "error", "io"], [2, "error", "request"],
                                             [3, "ok", 1]]  # fmt: skip
    service.close()


def test_a_failing_state_file_does_not_stop_the_journal(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """State statements that cannot be written wait for the next batch; entries go on."""
    from datetime import date

    from sipguard.journal.cache import encode_op
    from sipguard.journal.state import SqliteState, state_path_for

    service = JournalService(db, schedule=lambda f, d: None)
    conn = FakeConn()
    real = service.state_db.commit

    def full(statements: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    slot = encode_op("take_call_slot", "acme", "138", date(2026, 6, 1), None)
    with monkeypatch.context() as m:
        m.setattr(service.state_db, "commit", full)
        service.handle(conn, [1, "do", slot])  # type: ignore[arg-type]
        service.handle(conn, [2, "append", entry_body(decision(1))])  # type: ignore[arg-type]
        service.commit()
    assert [r[:3] for r in conn.replies] == [[1, "ok", True], [2, "ok", 1]]
    assert service.state.dirty
    monkeypatch.setattr(service.state_db, "commit", real)
    service.handle(conn, [3, "sync"])  # type: ignore[arg-type]
    service.commit()
    assert SqliteState(state_path_for(db)).calls_on("acme", "138", date(2026, 6, 1)) == 1
    service.close()


def test_malformed_requests_get_an_error_reply(db: Path) -> None:
    """An unknown op or a bad body is answered as an error, and nothing is queued."""
    service = JournalService(db, schedule=lambda f, d: None)
    conn = FakeConn()
    service.handle(conn, [5, "frobnicate"])  # type: ignore[arg-type]
    service.handle(conn, [6, "append", [1, 2]])  # type: ignore[arg-type]
    service.handle(conn, [7, "do", ["no_such_op"]])  # type: ignore[arg-type]
    assert [r[:3] for r in conn.replies] == [[5, "error", "request"], [6, "error", "request"],
                                             [7, "error", "request"]]  # fmt: skip
    service.close()


def test_submissions_of_one_loop_pass_share_commits(db: Path) -> None:
    """500 entries submitted at once are acked in order from far fewer commits."""

    async def main() -> tuple[list[Entry | None], int]:
        service = JournalService(db)
        sock = socket_path_for(db)
        task = asyncio.create_task(serve(service, sock, None))
        while not launch.answers(sock):
            await asyncio.sleep(0.01)
        client = AsyncJournalClient(sock)
        await client.connect()
        stored = await asyncio.gather(*(client.submit(decision(i)) for i in range(500)))
        client.close()
        os.kill(os.getpid(), signal.SIGINT)
        await task
        service.close()
        return stored, service.commits

    before = metrics.REGISTRY.get_sample_value("sipguard_journal_batch_size_sum") or 0.0
    stored, commits = asyncio.run(main())
    after = metrics.REGISTRY.get_sample_value("sipguard_journal_batch_size_sum") or 0.0
    assert after - before == 500  # the service's batch statistics reach the server's metrics
    assert [e.seq for e in stored if e is not None] == list(range(1, 501))
    assert [e.call_id for e in JournalStore(db).entries()] == [f"call-{i}" for i in range(500)]
    assert 1 <= commits < 50
    assert JournalStore(db).verify().ok


@pytest.fixture
def running(db: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A service process for ``db`` that ends with the test (or with this process)."""
    sock = socket_path_for(db)
    proc = launch.spawn(launch.command(db, watch_pid=os.getpid()), sock)
    yield proc, sock
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)


def test_blocking_client_records_and_survives_a_restart(
    db: Path, running: tuple[subprocess.Popen[bytes], Path]
) -> None:
    """The blocking client appends; when the service dies it fails, then reconnects."""
    proc, sock = running
    client = ServiceClient(sock, timeout=5)
    assert client.record(decision(1)).seq == 1
    proc.kill()
    proc.wait(5)
    with pytest.raises(JournalUnavailable):
        client.record(decision(2))
    again = launch.spawn(launch.command(db, watch_pid=os.getpid()), sock)
    try:
        assert client.record(decision(3)).seq == 2
    finally:
        again.terminate()
        again.wait(10)
    assert JournalStore(db).verify().ok


def test_a_second_service_for_the_same_journal_exits_at_once(
    db: Path, running: tuple[subprocess.Popen[bytes], Path]
) -> None:
    """The lock keeps one service per journal; the second leaves with status 3."""
    second = subprocess.run(launch.command(db), timeout=30)
    assert second.returncode == 3
    assert ServiceClient(running[1]).record(decision(1)).seq == 1


def test_no_service_means_journal_unavailable(tmp_path: Path) -> None:
    """Both clients fail at once, with JournalUnavailable, when nothing listens."""
    with pytest.raises(JournalUnavailable):
        ServiceClient(tmp_path / "none.sock").record(decision(1))

    async def main() -> None:
        client = AsyncJournalClient(tmp_path / "none.sock")
        with pytest.raises(JournalUnavailable):
            await client.connect()
        assert not client.healthy
        with pytest.raises(JournalUnavailable):
            await client.submit(decision(1))

    asyncio.run(main())


def test_requests_in_flight_fail_when_the_service_dies(
    running: tuple[subprocess.Popen[bytes], Path],
) -> None:
    """kill -9 of the service fails the asyncio client's pending futures; health drops."""
    proc, sock = running

    async def main() -> None:
        client = AsyncJournalClient(sock)
        await client.connect()
        assert (await client.submit(decision(0))) is not None
        proc.send_signal(signal.SIGSTOP)
        pending = [client.submit(decision(i)) for i in range(1, 50)]
        await asyncio.sleep(0.05)
        proc.kill()
        results = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 10)
        assert all(isinstance(r, JournalUnavailable) for r in results)
        assert not client.healthy

    asyncio.run(main())


def test_socket_is_private_and_an_overlong_path_is_refused(
    tmp_path: Path, running: tuple[subprocess.Popen[bytes], Path]
) -> None:
    """Only the owner may connect; a socket path AF_UNIX cannot hold is a clear error."""
    assert running[1].stat().st_mode & 0o777 == 0o600
    deep = tmp_path / ("d" * 120) / "journal.db"
    deep.parent.mkdir()
    done = subprocess.run(launch.command(deep), capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "too long" in done.stderr


def test_append_later_is_committed_without_a_wait_and_in_order(
    db: Path, running: tuple[subprocess.Popen[bytes], Path]
) -> None:
    """An entry sent without waiting is durable by the ack of the next request, in order."""
    _, sock = running
    client = ServiceClient(sock, timeout=5)
    client.append_later(decision(1))
    client.append_later(decision(2))
    assert client.record(decision(3)).seq == 3
    store = JournalStore(db)
    assert [e.call_id for e in store.entries()] == ["call-1", "call-2", "call-3"]
    assert store.verify().ok and client.failed_later == 0


def test_a_failed_later_commit_is_counted_by_the_next_exchange(tmp_path: Path) -> None:
    """The service's error answer to an entry sent without waiting is counted, not lost."""
    import socket
    import threading

    from sipguard.journal.wire import frame

    path = tmp_path / "fake.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        reader = FrameReader()
        seen: list[list[Any]] = []
        while len(seen) < 2:
            seen += reader.feed(conn.recv(65536))
        conn.sendall(frame([0, "error", "full", "disk full"]) + frame([seen[1][0], "ok", None]))
        conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    client = ServiceClient(path, timeout=5)
    client.append_later(decision(1))
    client.sync()
    thread.join(5)
    assert client.failed_later == 1
    server.close()
