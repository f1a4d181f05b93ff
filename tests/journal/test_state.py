"""SqliteState: the State protocol's semantics on SQLite, and its safety across processes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from sipguard.journal.state import SqliteState, state_path_for
from sipguard.policy.state import MemoryState, State

from .conftest import T0

DAY = date(2026, 6, 1)
ROOT = Path(__file__).resolve().parents[2]


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


_HAMMER = """
import sys
from datetime import date
from sipguard.journal.state import SqliteState, state_path_for
state = SqliteState(sys.argv[1])
print(sum(state.take_call_slot("acme", "138", date(2026, 6, 1), 25) for _ in range(40)))
"""


def test_processes_never_exceed_the_limit(db: Path) -> None:
    """Four processes racing take_call_slot together get exactly the limit, never more."""
    SqliteState(db).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", _HAMMER, str(db)], stdout=subprocess.PIPE,
                         text=True, env=env)
        for _ in range(4)
    ]  # fmt: skip
    wins = [int(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(wins) == 25
    assert SqliteState(db).calls_on("acme", "138", DAY) == 25


def test_state_lives_beside_the_journal_in_its_own_file(tmp_path: Path) -> None:
    """The default state file sits next to the journal, never in the journal file itself."""
    assert state_path_for(tmp_path / "journal.db") == tmp_path / "journal.state.db"
    assert state_path_for(tmp_path / "calls") == tmp_path / "calls.state.db"
    assert state_path_for("var/j.sqlite") == Path("var/j.state.sqlite")


def test_inbound_calls_are_up_until_they_end(state: State) -> None:
    """rules 1.1 section 3: a started inbound call is up from its start until it ends."""
    state.inbound_started("in-1", "13800138000", "95123", T0)
    assert state.inbound_up("13800138000", "95123", T0 - timedelta(seconds=30))
    assert state.inbound_up("13800138000", "95123", T0)
    assert not state.inbound_up("13800138000", "95123", T0 + timedelta(microseconds=1))
    assert not state.inbound_up("13900139000", "95123", T0 - timedelta(seconds=30))
    assert not state.inbound_up("13800138000", "4008001234", T0 - timedelta(seconds=30))
    state.inbound_ended("in-unknown")
    state.inbound_ended("in-1")
    assert not state.inbound_up("13800138000", "95123", T0 - timedelta(seconds=30))
