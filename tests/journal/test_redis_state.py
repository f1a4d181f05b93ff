"""RedisState against a real redis-server on loopback: State semantics and atomic slots."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from sipguard.journal.redis_state import RedisState
from tests.redis_server import REDIS

from .conftest import T0

pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server binary not installed")
redis = pytest.importorskip("redis")
DAY = date(2026, 6, 1)


@pytest.fixture
def state(redis_url: str) -> RedisState:
    """A RedisState on an empty database."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return RedisState(client)


def test_slots_stop_at_limit(state: RedisState) -> None:
    """take_call_slot counts up to the limit, then refuses; None means no cap."""
    assert [state.take_call_slot("acme", "138", DAY, 2) for _ in range(3)] == [True, True, False]
    assert state.calls_on("acme", "138", DAY) == 2
    assert all(state.take_call_slot("acme", "139", DAY, None) for _ in range(4))
    assert state.calls_on("acme", "139", DAY) == 4 and state.calls_on("x", "1", DAY) == 0


def test_violations_window(state: RedisState) -> None:
    """add_violation counts rejections in (at - window, at]."""
    window = timedelta(hours=1)
    assert state.add_violation("400", T0, window) == 1
    assert state.add_violation("400", T0 + timedelta(minutes=30), window) == 2
    assert state.add_violation("400", T0 + timedelta(hours=1), window) == 2


def test_suspend_resume(state: RedisState) -> None:
    """Suspensions are idempotent, listed, and resume clears them and the violations."""
    state.add_violation("400", T0, timedelta(hours=1))
    state.suspend("400", T0, "NO_CONSENT", "policy")
    state.suspend("400", T0 + timedelta(hours=1), "manual", "ops")
    s = state.suspension("400")
    assert s is not None and (s.since, s.reason, s.by) == (T0, "NO_CONSENT", "policy")
    assert [x.number for x in state.suspensions()] == ["400"]
    assert state.resume("400") and not state.resume("400")
    assert state.suspension("400") is None and state.suspensions() == []
    assert state.add_violation("400", T0 + timedelta(minutes=1), timedelta(hours=1)) == 1


def test_concurrent_clients_never_exceed_limit(state: RedisState, redis_url: str) -> None:
    """Eight clients racing take_call_slot get exactly the limit between them."""
    wins: list[int] = []

    def hammer() -> None:
        own = RedisState(redis.Redis.from_url(redis_url))
        wins.append(sum(own.take_call_slot("acme", "138", DAY, 30) for _ in range(20)))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(wins) == 30 and state.calls_on("acme", "138", DAY) == 30


def test_behaviour_windows(state: RedisState, redis_url: str) -> None:
    """calls_since, callee_seen and record_call as the limits read them; keys expire."""
    from tests.policy.test_limits import _window_contract

    _window_contract(state)
    client = redis.Redis.from_url(redis_url)
    assert 0 < client.ttl("sipguard:rate:400") <= 3601


def test_outcome_window(state: RedisState) -> None:
    from tests.policy.test_limits import _outcome_contract

    _outcome_contract(state)

def test_inbound_calls_are_up_until_they_end(state: RedisState) -> None:
    at = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    state.inbound_started("in-1", "13800138000", "95123", at)
    assert state.inbound_up("13800138000", "95123", at - timedelta(seconds=30))
    assert not state.inbound_up("13800138000", "95123", at + timedelta(microseconds=1))
    assert not state.inbound_up("13900139000", "95123", at - timedelta(seconds=30))
    state.inbound_ended("in-unknown")
    state.inbound_ended("in-1")
    assert not state.inbound_up("13800138000", "95123", at - timedelta(seconds=30))
