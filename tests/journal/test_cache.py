"""CachedState: MemoryState's semantics in memory, its SQL log, and what it keeps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sipguard.journal.cache import CachedState, apply_op, count_floor, encode_op
from sipguard.journal.state import SqliteState
from sipguard.policy.state import MemoryState

from .conftest import T0

DAY = date(2026, 6, 1)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("slot"), st.sampled_from(["138", "139"]), st.integers(0, 3)),
        st.tuples(st.just("violation"), st.sampled_from(["400", "401"]), st.integers(0, 120)),
        st.tuples(st.just("suspend"), st.sampled_from(["400", "401"]), st.integers(0, 120)),
        st.tuples(st.just("resume"), st.sampled_from(["400", "401"]), st.integers(0, 0)),
    ),
    max_size=40,
)


def _run(state: object, op: tuple[str, str, int]) -> object:
    name, key, n = op
    at = T0 + timedelta(minutes=n)
    if name == "slot":
        return state.take_call_slot("acme", key, DAY, n)  # type: ignore[attr-defined]
    if name == "violation":
        return state.add_violation(key, at, timedelta(hours=1))  # type: ignore[attr-defined]
    if name == "suspend":
        return state.suspend(key, at, "r", "policy")  # type: ignore[attr-defined]
    return state.resume(key)  # type: ignore[attr-defined]


@given(OPS)
def test_cached_state_answers_like_memory_state(ops: list[tuple[str, str, int]]) -> None:
    """Any sequence of operations gets the same answers from both (times in order)."""
    ops = sorted(ops, key=lambda o: o[2] if o[0] != "slot" else -1)
    cached, memory = CachedState(persist=True), MemoryState()
    assert [_run(cached, o) for o in ops] == [_run(memory, o) for o in ops]
    assert cached.suspensions() == memory.suspensions()


def test_the_sql_log_makes_the_file_say_the_same(tmp_path: Path) -> None:
    """Drained statements committed to a state file give a new cache the same state."""
    cached = CachedState(persist=True)
    for _ in range(3):
        cached.take_call_slot("acme", "138", DAY, None)
    cached.add_violation("400", T0, timedelta(hours=1))
    cached.suspend("401", T0, "r", "ops")
    db = SqliteState(tmp_path / "s.db")
    db.commit(cached.drain())
    assert not cached.dirty
    again = CachedState()
    db.load(again)
    assert again.counts == cached.counts and again.suspended == cached.suspended
    assert again.violations == cached.violations


def test_only_recent_counts_are_loaded_and_kept(tmp_path: Path) -> None:
    """Counts before the floor day are not loaded and are forgotten when the day moves on;
    a count written again never lowers the file's figure."""
    db = SqliteState(tmp_path / "s.db")
    seed = CachedState(persist=True)
    for day in (DAY - timedelta(days=5), DAY):
        seed.take_call_slot("acme", "138", day, None)
        seed.take_call_slot("acme", "138", day, None)
    db.commit(seed.drain())
    fresh = CachedState(persist=True)
    db.load(fresh, counts_from=DAY - timedelta(days=1))
    assert list(fresh.counts) == [("acme", "138", DAY.isoformat())]
    assert fresh.forget_counts_before(DAY + timedelta(days=1)) == 1
    assert fresh.forget_counts_before(DAY) == 0  # the floor never moves back
    fresh.take_call_slot("acme", "138", DAY, None)
    db.commit(fresh.drain())
    assert db.calls_on("acme", "138", DAY) == 2
    assert count_floor(datetime(2026, 6, 3, 1, tzinfo=UTC)) == DAY


def test_wire_ops_round_trip() -> None:
    """encode_op and apply_op carry dates, times and windows across as text."""
    state = CachedState()
    assert apply_op(state, encode_op("take_call_slot", "acme", "138", DAY, 1)) is True
    assert apply_op(state, encode_op("add_violation", "400", T0, timedelta(hours=1))) == 1
    apply_op(state, encode_op("suspend", "400", T0, "r", "ops"))
    assert apply_op(state, encode_op("suspension", "400")) == ["400", T0.isoformat(), "r", "ops"]
    assert apply_op(state, ["suspensions"]) == [["400", T0.isoformat(), "r", "ops"]]


def test_a_pair_result_travels_as_the_list_its_sender_decodes() -> None:
    """callee_seen's (seen, distinct) comes back as a list, so a decide's expectation, which
    arrives as a JSON list, compares equal to it."""
    state = CachedState()
    apply_op(state, encode_op("record_call", "4008001234", "13800000002", 100.0, 60.0))
    result = apply_op(state, encode_op("callee_seen", "4008001234", "13800000002", 50.0))
    assert result == [True, 1] and isinstance(result, list)
