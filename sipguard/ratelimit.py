"""A token bucket for anything that must not flood: log lines about untrusted input, answers.

Invariants:
- Time comes in as an argument (any monotonic clock in seconds), so tests need no sleep and
  the same limiter works on the event loop, in a writer thread or inside a Kamailio worker.
- Every refused event is counted, both here (``take_suppressed``) and in the metrics.
- It imports nothing of sipguard but ``metrics``, so the journal and the logging can both
  use it without importing each other.
"""

from __future__ import annotations

from sipguard import metrics


class RateLimiter:
    """A token bucket: ``rate`` events per second on average, bursts up to ``burst``.

    Time comes in as an argument (any monotonic clock in seconds), so tests need no sleep.
    """

    def __init__(self, name: str, rate: float, burst: int) -> None:
        self.name = name
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._last: float | None = None
        self._suppressed = 0

    def allow(self, now: float) -> bool:
        """True if an event at ``now`` may be logged; a refused event is counted."""
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self._suppressed += 1
        metrics.LOG_SUPPRESSED.labels(limiter=self.name).inc()
        return False

    def take_suppressed(self) -> int:
        """How many events were refused since the last call (and reset the count)."""
        count, self._suppressed = self._suppressed, 0
        return count
