"""State through the journal service: atomic across processes, riding the decision commit."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from sipguard.journal import launch
from sipguard.journal.aclient import AsyncJournalClient
from sipguard.journal.behind import WriteBehindState
from sipguard.journal.client import RemoteState, ServiceClient
from sipguard.journal.listener import serve
from sipguard.journal.service import JournalService
from sipguard.journal.state import SqliteState, state_path_for
from sipguard.journal.wire import socket_path_for

from .conftest import T0, decision

DAY = date(2026, 6, 1)
LIMIT = 60


@pytest.fixture
def running(db: Path) -> Iterator[Path]:
    """A service process for ``db``; yields its socket."""
    sock = socket_path_for(db)
    proc = launch.spawn(launch.command(db, watch_pid=os.getpid()), sock)
    yield sock
    proc.terminate()
    proc.wait(10)


def _race(sock: str, tries: int, out: multiprocessing.SimpleQueue[int]) -> None:
    state = RemoteState(ServiceClient(sock))
    out.put(sum(state.take_call_slot("acme", "138", DAY, LIMIT) for _ in range(tries)))


def test_four_processes_racing_for_slots_never_pass_the_limit(db: Path, running: Path) -> None:
    """4 client processes take 40 slots each against a cap of 60: exactly 60 are granted."""
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.SimpleQueue[int] = ctx.SimpleQueue()
    procs = [ctx.Process(target=_race, args=(str(running), 40, out)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    granted = [out.get() for _ in procs]
    assert sum(granted) == LIMIT
    client = ServiceClient(running)
    client.sync()
    assert RemoteState(client).calls_on("acme", "138", DAY) == LIMIT
    assert SqliteState(state_path_for(db)).calls_on("acme", "138", DAY) == LIMIT


def test_a_count_is_durable_once_the_following_decision_is_acked(db: Path, running: Path) -> None:
    """A slot taken (answered at once) is in the state file when the next entry is acked."""
    client = ServiceClient(running)
    state = RemoteState(client)
    assert state.take_call_slot("acme", "139", DAY, 5)
    client.record(decision(1))
    assert SqliteState(state_path_for(db)).calls_on("acme", "139", DAY) == 1


def test_a_count_with_no_entry_behind_it_is_committed_soon(db: Path, running: Path) -> None:
    """A slot taken and nothing after it still reaches the state file within moments."""
    assert RemoteState(ServiceClient(running)).take_call_slot("acme", "140", DAY, 5)
    deadline = time.monotonic() + 5
    while SqliteState(state_path_for(db)).calls_on("acme", "140", DAY) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_state_ops_match_the_sqlite_semantics(running: Path) -> None:
    """Violations in their window, idempotent suspend, resume forgetting violations."""
    state = RemoteState(ServiceClient(running))
    window = timedelta(hours=1)
    assert [state.add_violation("400", T0 + timedelta(minutes=m), window) for m in (0, 30, 61)] \
        == [1, 2, 2]  # fmt: skip
    state.suspend("400", T0, "3 strikes", "policy")
    state.suspend("400", T0 + window, "again", "policy")
    found = state.suspension("400")
    assert found is not None and found.reason == "3 strikes" and found.since == T0
    assert [s.number for s in state.suspensions()] == ["400"]
    assert state.resume("400") and not state.resume("400")
    assert state.add_violation("400", T0 + window, window) == 1


def test_outside_writes_to_the_state_file_reach_the_service(db: Path, running: Path) -> None:
    """A suspension written straight into the file (sipguard numbers) is seen soon after."""
    SqliteState(state_path_for(db)).suspend("4008001234", T0, "operator", "ops")
    state = RemoteState(ServiceClient(running))
    deadline = time.monotonic() + 5
    while state.suspension("4008001234") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state.suspension("4008001234") is not None


def test_write_behind_state_rides_the_decision_and_refreshes_suspensions(db: Path) -> None:
    """The server's state answers from memory, persists with the next decision's commit,
    and takes suspensions changed in the file by another process."""

    async def main() -> None:
        service = JournalService(db)
        sock = socket_path_for(db)
        task = asyncio.create_task(serve(service, sock, None))
        while not launch.answers(sock):
            await asyncio.sleep(0.01)
        client = AsyncJournalClient(sock)
        await client.connect()
        state = WriteBehindState(SqliteState(state_path_for(db)), client)
        assert state.take_call_slot("acme", "138", DAY, 1)
        assert not state.take_call_slot("acme", "138", DAY, 1)
        await client.submit(decision(1))
        assert SqliteState(state_path_for(db)).calls_on("acme", "138", DAY) == 1
        outside = SqliteState(state_path_for(db))
        outside.suspend("4001112222", T0, "operator", "ops")
        state.refresh()
        assert state.suspension("4001112222") is not None
        outside.resume("4001112222")
        state.refresh()
        assert state.suspension("4001112222") is None
        client.close()
        os.kill(os.getpid(), signal.SIGINT)
        await task
        service.close()
        assert state.lost == 0

    asyncio.run(main())


def test_service_started_for_kamailio_outlives_its_starter_and_follows_its_pid(
    db: Path,
) -> None:
    """ensure_running starts a grandchild service that ends once the watched pid is gone."""
    sock = socket_path_for(db)
    sleeper = subprocess.Popen(["sleep", "30"])
    launch.ensure_running(launch.command(db, watch_pid=sleeper.pid), sock)
    launch.ensure_running(launch.command(db, watch_pid=sleeper.pid), sock)  # already there
    assert ServiceClient(sock).record(decision(1)).seq == 1
    sleeper.kill()
    sleeper.wait()
    deadline = time.monotonic() + 10
    while launch.answers(sock) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not launch.answers(sock)


def test_write_behind_state_counts_what_it_could_not_send(db: Path) -> None:
    """With the service away the server still decides from memory, and counts each change
    that could not be persisted (loudly: a metric and a log line)."""
    from sipguard import metrics

    before = metrics.REGISTRY.get_sample_value("sipguard_state_writes_lost_total") or 0.0
    state = WriteBehindState(SqliteState(state_path_for(db)), AsyncJournalClient(db))
    assert state.take_call_slot("acme", "138", DAY, 1)
    assert not state.take_call_slot("acme", "138", DAY, 1)
    assert state.add_violation("400", T0, timedelta(hours=1)) == 1
    assert state.lost == 2
    after = metrics.REGISTRY.get_sample_value("sipguard_state_writes_lost_total") or 0.0
    assert after - before == 2


def test_behavioural_windows_are_shared_by_every_client_of_the_service(running: Path) -> None:
    """Two workers' RemoteStates see one number's calls per minute, callees and short calls."""
    from sipguard.policy.state import MemoryState

    first, second = RemoteState(ServiceClient(running)), RemoteState(ServiceClient(running))
    plain = MemoryState()
    for state in (first, plain):
        state.record_call("4008001234", "13800000001", 100.0, 3600.0)
    for state in (second, plain):
        state.record_call("4008001234", "13800000002", 130.0, 3600.0)
    for state in (first, second):
        assert state.calls_since("4008001234", 99.0) == plain.calls_since("4008001234", 99.0) == 2
        assert state.callee_seen("4008001234", "13800000002", 120.0) == (True, 1)
        assert state.callee_seen("4008001234", "13800000009", 0.0) == (False, 2)
    assert first.record_outcome("4008001234", short=True, keep=3) == (1, 1)
    assert second.record_outcome("4008001234", short=False, keep=3) == (2, 1)
