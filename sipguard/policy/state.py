"""The state the policy reads and updates: daily call counts, violations, suspensions and
the inbound calls that are up (for forwarded calls, rules 1.1 section 3).

Invariants:
- The interface is small on purpose so that SQLite, Redis or PostgreSQL backends can
  implement it; every method that both reads and writes is atomic in a real backend.
- Times are timezone-aware datetimes passed in by the caller; nothing here reads a clock.
  ``MemoryState`` compares violation times as exact integer nanoseconds (``epoch_ns``), so
  an ``Instant`` from a capture keeps its full precision.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict, deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from sipguard.policy.instant import epoch_ns, window_ns


@dataclass(frozen=True, slots=True)
class Suspension:
    """A number whose outbound access is suspended until resumed by hand."""

    number: str
    since: datetime
    reason: str
    by: str


class State(Protocol):
    """Counts, violations and suspensions shared by every decision."""

    def take_call_slot(self, operator: str, callee: str, day: date, limit: int | None) -> bool:
        """Count one allowed call from ``operator`` to ``callee`` on local ``day``.

        Returns False, counting nothing, when ``limit`` calls are already counted.
        ``limit=None`` means no cap: the call is always counted.
        """
        ...

    def calls_on(self, operator: str, callee: str, day: date) -> int:
        """How many allowed calls are counted for (operator, callee, day)."""
        ...

    def add_violation(self, number: str, at: datetime, window: timedelta) -> int:
        """Record a counted rejection; return how many fall within ``(at - window, at]``."""
        ...

    def suspension(self, number: str) -> Suspension | None:
        """The number's current suspension, or None."""
        ...

    def suspend(self, number: str, since: datetime, reason: str, by: str) -> None:
        """Suspend a number's outbound access (idempotent: an existing suspension stays)."""
        ...

    def resume(self, number: str) -> bool:
        """End a suspension and forget the number's violations; False if none was in force."""
        ...

    def suspensions(self) -> list[Suspension]:
        """Every suspension in force."""
        ...

    # Behavioural limits (rules 1.1 section 5); times are epoch seconds.
    def calls_since(self, number: str, since: float) -> int:
        """How many allowed calls of ``number`` are recorded after ``since``."""
        ...

    def callee_seen(self, number: str, callee: str, since: float) -> tuple[bool, int]:
        """Whether ``number`` called ``callee`` after ``since``, and how many distinct callees."""
        ...

    def record_call(self, number: str, callee: str, at: float, keep: float) -> None:
        """Record an allowed call; what is older than ``at - keep`` may be forgotten."""
        ...

    def record_outcome(self, number: str, *, short: bool, keep: int) -> tuple[int, int]:
        """Record an answered call's end; return (ended, short) among the last ``keep``."""
        ...

    # rules 1.1 section 3: inbound calls that are up, for verifying forwarded calls
    def inbound_started(self, call_id: str, caller: str, number: str, at: datetime) -> None:
        """Record an allowed inbound call from ``caller`` to filed ``number``, set up at ``at``."""
        ...

    def inbound_ended(self, call_id: str) -> None:
        """Forget an inbound call that ended (unknown ids are ignored)."""
        ...

    def inbound_up(self, caller: str, number: str, since: datetime) -> bool:
        """True when an inbound call from ``caller`` to ``number``, started at ``since`` or
        later, has not ended."""
        ...


class MemoryState:
    """In-process implementation of :class:`State`, for ``check``, ``replay`` and tests."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, date], int] = {}
        self._violations: dict[str, deque[int]] = defaultdict(deque)
        self._suspended: dict[str, Suspension] = {}
        # number -> (call times, callee -> last time), least recently active first.
        self._outcomes: dict[str, deque[bool]] = {}
        self._recent: OrderedDict[str, tuple[deque[float], dict[str, float]]] = OrderedDict()
        self._inbound: dict[str, tuple[str, str, datetime]] = {}

    def take_call_slot(self, operator: str, callee: str, day: date, limit: int | None) -> bool:
        counts = self._counts
        key = (operator, callee, day)
        count = counts.get(key, 0)
        if limit is not None and count >= limit:
            return False
        counts[key] = count + 1
        return True

    def calls_on(self, operator: str, callee: str, day: date) -> int:
        return self._counts.get((operator, callee, day), 0)

    def add_violation(self, number: str, at: datetime, window: timedelta) -> int:
        times = self._violations[number]
        now = epoch_ns(at)  # exact: a capture's nanoseconds count (policy.instant)
        times.append(now)
        floor = now - window_ns(window)
        while times and times[0] <= floor:
            times.popleft()
        return len(times)

    def suspension(self, number: str) -> Suspension | None:
        return self._suspended.get(number)

    def suspend(self, number: str, since: datetime, reason: str, by: str) -> None:
        self._suspended.setdefault(number, Suspension(number, since, reason, by))

    def resume(self, number: str) -> bool:
        self._violations.pop(number, None)
        return self._suspended.pop(number, None) is not None

    def suspensions(self) -> list[Suspension]:
        return sorted(self._suspended.values(), key=lambda s: (s.since, s.number))

    def calls_since(self, number: str, since: float) -> int:
        found = self._recent.get(number)
        return 0 if found is None else sum(1 for t in found[0] if t > since)

    def callee_seen(self, number: str, callee: str, since: float) -> tuple[bool, int]:
        found = self._recent.get(number)
        if found is None:
            return False, 0
        last = found[1].get(callee)
        return last is not None and last > since, sum(1 for t in found[1].values() if t > since)

    def record_call(self, number: str, callee: str, at: float, keep: float) -> None:
        """Keep only what a window of ``keep`` seconds needs, for active numbers only."""
        recent = self._recent
        found = recent.pop(number, None)
        times, callees = found if found is not None else (deque(), {})
        recent[number] = (times, callees)  # now the most recently active
        old = at - keep
        times.append(at)
        while times and times[0] <= old:
            times.popleft()
        callees.pop(callee, None)
        callees[callee] = at  # insertion order is time order
        while callees and next(iter(callees.values())) <= old:
            del callees[next(iter(callees))]
        while recent:  # forget numbers idle for longer than the window
            first = next(iter(recent))
            if first == number or (recent[first][0] and recent[first][0][-1] > old):
                break
            del recent[first]

    def tracked_numbers(self) -> int:
        """How many numbers the behavioural windows hold (for the memory bound test)."""
        return len(self._recent)

    def record_outcome(self, number: str, *, short: bool, keep: int) -> tuple[int, int]:
        last = self._outcomes.get(number)
        if last is None or last.maxlen != keep:
            last = self._outcomes[number] = deque(last or (), maxlen=keep)
        last.append(short)
        return len(last), sum(last)

    def inbound_started(self, call_id: str, caller: str, number: str, at: datetime) -> None:
        self._inbound[call_id] = (caller, number, at)

    def inbound_ended(self, call_id: str) -> None:
        self._inbound.pop(call_id, None)

    def inbound_up(self, caller: str, number: str, since: datetime) -> bool:
        return any(
            (c, n) == (caller, number) and at >= since for c, n, at in self._inbound.values()
        )
