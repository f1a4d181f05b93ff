"""Violation windows at nanosecond precision in every State backend (rules 1.1 section 3).

Five violations whose oldest lies exactly ``violation_window`` before the newest fall
outside ``(at - window, at]``; one nanosecond later the oldest is inside and five count.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from sipguard.journal import SqliteState
from sipguard.policy.instant import Instant
from sipguard.policy.state import MemoryState, State
from tests.redis_server import REDIS

HOUR = timedelta(hours=1)
T0 = 1_780_000_000 * 10**9 + 123_456_789  # a time whose nanoseconds are not zero


def _five(state: State, gap_ns: int) -> int:
    """Record five violations, the last ``gap_ns`` after the first; the final count."""
    times = [T0, T0 + 1, T0 + 2, T0 + 3, T0 + gap_ns]
    counts = [state.add_violation("4008001234", Instant.from_ns(t), HOUR) for t in times]
    return counts[-1]


BACKENDS: list[str] = ["memory", "sqlite", "redis"]


@pytest.fixture(params=BACKENDS)
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], State]:
    """A factory of empty states of one backend."""
    kind = request.param
    if kind == "redis":
        if REDIS is None:
            pytest.skip("redis-server binary not installed")
        url = request.getfixturevalue("redis_url")
    counter = iter(range(100))

    def build() -> State:
        n = next(counter)
        if kind == "memory":
            return MemoryState()
        if kind == "sqlite":
            return SqliteState(tmp_path / f"state{n}.db")
        import redis

        from sipguard.journal.redis_state import RedisState

        redis.Redis.from_url(url).flushdb()
        return RedisState.from_url(url)

    return build


def test_exactly_at_the_window_edge_the_oldest_is_out(make: Callable[[], State]) -> None:
    """The oldest violation exactly one window before the newest does not count."""
    assert _five(make(), 3600 * 10**9) == 4


def test_one_nanosecond_inside_the_window_all_five_count(make: Callable[[], State]) -> None:
    """59:59.999999999 is inside the hour: five violations count."""
    assert _five(make(), 3600 * 10**9 - 1) == 5


def test_a_state_file_from_before_nanoseconds_gains_the_column(tmp_path: Path) -> None:
    """An older state file (violations without ``sub_ns``) opens and keeps its rows."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE violations (number TEXT NOT NULL, ts INTEGER NOT NULL)")
        conn.execute("INSERT INTO violations VALUES ('n', ?)", (T0 // 1000,))
    state = SqliteState(path)
    assert state.add_violation("n", Instant.from_ns(T0 + 10), HOUR) == 2
    state.close()
