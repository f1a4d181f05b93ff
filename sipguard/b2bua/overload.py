"""Admission control: a token bucket per trunk (max_cps) and a global concurrent-call cap.

Invariants:
- pure: time comes in as ``now`` (monotonic seconds); nothing here reads a clock;
- a bucket starts full (``burst`` tokens) and refills at ``rate`` tokens per second;
- a refused call consumes nothing; the caller answers it 503 with Retry-After and counts it
  in ``Rejected`` under its ``Cause``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Cause(StrEnum):
    """Why a request was answered 503 (the metrics label)."""

    OVERLOAD = "overload"  # the concurrent-call cap
    MAX_CPS = "max_cps"  # the trunk's call rate
    JOURNAL = "journal"  # the journal cannot make an outbound decision durable
    TRANSACTIONS = "transactions"  # the bound on live transactions
    TRUNK_FULL = "trunk_full"  # the trunk's max_concurrent_calls


@dataclass(slots=True)
class Rejected:
    """503s answered, by cause."""

    counts: dict[Cause, int] = field(default_factory=lambda: dict.fromkeys(Cause, 0))

    def count(self, cause: Cause) -> None:
        """One more 503 for ``cause``."""
        self.counts[cause] += 1


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` banked."""

    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float | None = None

    def take(self, now: float) -> bool:
        """Take one token if there is one."""
        if self.stamp is None:
            self.tokens = self.burst
        else:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass(slots=True)
class Overload:
    """Per-trunk call rate limits and a cap on concurrent calls."""

    max_concurrent: int | None = None
    trunk_cps: dict[str, float] = field(default_factory=dict)
    default_cps: float | None = None
    retry_after: int = 5
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def admit(self, trunk: str | None, active: int, now: float) -> bool:
        """True when a new call from ``trunk`` may start with ``active`` calls running."""
        return self.refusal(trunk, active, now) is None

    def refusal(self, trunk: str | None, active: int, now: float) -> Cause | None:
        """Why a new call from ``trunk`` may not start now, or None when it may."""
        if self.max_concurrent is not None and active >= self.max_concurrent:
            return Cause.OVERLOAD
        if trunk is None:
            return None
        rate = self.trunk_cps.get(trunk, self.default_cps)
        if rate is None:
            return None
        bucket = self._buckets.get(trunk)
        if bucket is None:
            bucket = self._buckets[trunk] = TokenBucket(rate, max(1.0, rate))
        return None if bucket.take(now) else Cause.MAX_CPS

    def set_rates(self, trunk_cps: dict[str, float]) -> None:
        """New per-trunk limits (a reload); a trunk whose rate changed starts a fresh bucket."""
        for trunk, bucket in list(self._buckets.items()):
            if trunk_cps.get(trunk, self.default_cps) != bucket.rate:
                del self._buckets[trunk]
        self.trunk_cps = dict(trunk_cps)
