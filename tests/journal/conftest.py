"""Shared fixtures for the journal tests: a journal file, sample facts and verdicts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sipguard.journal.entries import decision_entry
from sipguard.journal.record import Entry
from sipguard.policy.facts import CallFacts, Direction, Reason, Verdict
from tests.redis_server import redis_url  # noqa: F401  (a private redis-server per module)

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 6, 1, 10, 0, 0, tzinfo=CST)


def facts(call_id: str = "a-leg@test", ip: str = "192.0.2.10") -> CallFacts:
    """Facts of an outbound INVITE from the acme trunk."""
    return CallFacts(call_id, ip, 5060, "4008001234", "192.0.2.10", None, "13800138000")


def verdict(reason: Reason = Reason.ALLOWED, callee: str = "13800138000") -> Verdict:
    """An outbound verdict for the filed number 4008001234."""
    return Verdict(
        reason,
        Direction.OUTBOUND,
        "4008001234",
        callee,
        "4008001234",
        "acme",
        "acme-sh-1",
        credential="C-1" if reason is Reason.ALLOWED else None,
    )


def decision(i: int, at: datetime = T0, reason: Reason = Reason.ALLOWED) -> Entry:
    """The decision entry of call number ``i``."""
    return decision_entry(facts(f"call-{i}"), verdict(reason), at, rules_hash="r1")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Path of a fresh journal file."""
    return tmp_path / "journal.db"
