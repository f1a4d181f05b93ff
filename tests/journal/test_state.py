"""SqliteState: the State protocol's semantics on SQLite, and its safety across processes."""

from __future__ import annotations

import multiprocessing
from datetime import date, timedelta
from pathlib import Path

import pytest

from sipguard.journal.state import SqliteState
from sipguard.policy.state import MemoryState, State

from .conftest import T0

DAY = date(2026, 6, 1)


@pytest.fixture(params=["memory", "sqlite"])
def state(request: pytest.FixtureRequest, db: Path) -> State:
    """Both backends, so SqliteState is held to MemoryState's behaviour."""
    if request.param == "memory":
        return MemoryState()
    return SqliteState(db)


def test_call_slots_stop_at_limit(state: State) -> None:
    """take_call_slot counts up to the limit, then refuses without counting."""
    assert [state.take_call_slot("acme", "138", DAY, 2) for _ in range(3)] == [True, True, False]
    assert state.calls_on("acme", "138", DAY) == 2
    assert state.calls_on("acme", "138", DAY + timedelta(days=1)) == 0
    assert state.take_call_slot("acme", "139", DAY, 2)


def test_no_limit_always_counts(state: State) -> None:
    """limit=None counts every call."""
    for _ in range(5):
        assert state.take_call_slot("acme", "138", DAY, None)
    assert state.calls_on("acme", "138", DAY) == 5


def test_violations_count_within_window(state: State) -> None:
    """add_violation counts the rejections in (at - window, at]; older ones drop out."""
    window = timedelta(hours=1)
    assert state.add_violation("400", T0, window) == 1
    assert state.add_violation("400", T0 + timedelta(minutes=30), window) == 2
    assert state.add_violation("400", T0 + timedelta(hours=1), window) == 2
    assert state.add_violation("401", T0 + timedelta(hours=1), window) == 1


def test_suspend_is_idempotent_and_resume_clears(state: State) -> None:
    """A second suspend keeps the first; resume ends it and forgets violations."""
    state.add_violation("400", T0, timedelta(hours=1))
    state.suspend("400", T0, "NO_CONSENT", "policy")
    state.suspend("400", T0 + timedelta(hours=1), "manual", "ops")
    s = state.suspension("400")
    assert s is not None and (s.since, s.reason, s.by) == (T0, "NO_CONSENT", "policy")
    assert [x.number for x in state.suspensions()] == ["400"]
    assert state.resume("400") and not state.resume("400")
    assert state.suspension("400") is None and state.suspensions() == []
    assert state.add_violation("400", T0 + timedelta(minutes=1), timedelta(hours=1)) == 1


def test_state_persists_across_connections(db: Path) -> None:
    """Counts and suspensions written by one SqliteState are seen by a new one on the file."""
    first = SqliteState(db)
    first.take_call_slot("acme", "138", DAY, 2)
    first.suspend("400", T0, "manual", "ops")
    first.close()
    second = SqliteState(db)
    assert second.calls_on("acme", "138", DAY) == 1
    assert second.suspension("400") is not None


def _hammer(path: str, tries: int, out: multiprocessing.Queue[int]) -> None:
    state = SqliteState(path)
    won = sum(state.take_call_slot("acme", "138", DAY, 25) for _ in range(tries))
    out.put(won)


def test_processes_never_exceed_the_limit(db: Path) -> None:
    """Four processes racing take_call_slot together get exactly the limit, never more."""
    SqliteState(db).close()
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[int] = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(str(db), 40, out)) for _ in range(4)]
    for p in procs:
        p.start()
    wins = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert sum(wins) == 25
    assert SqliteState(db).calls_on("acme", "138", DAY) == 25
