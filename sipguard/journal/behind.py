"""WriteBehindState: the server's State, in memory, every change sent to the journal service.

Invariants:
- Reads and decisions never leave the event loop: the state is a :class:`CachedState`
  loaded from the state file at start.  Each mutation is applied here first, then sent to
  the service on the journal connection, where it is committed in the same group commit as
  the decision record that follows it (so a count rides its decision's round trip).
- The behavioural windows of rules 1.1 section 5 are kept in memory only (they span at
  most an hour); nodes that must share them use the Redis state.
- Counts and violations go without an answer (the ack of the decision that follows covers
  them); suspend and resume are acked, so :meth:`refresh` knows which are in flight.
- What is sent is the effect, not the question: a call slot taken here is counted there
  unconditionally (``limit=None``), so the two sides never disagree on a cap.
- ``sipguard numbers suspend/resume`` writes the state file directly; :meth:`refresh` (called
  by the server every half second) takes suspensions from the file, except for numbers
  with a change of ours still in flight, and forgets the violations of a number resumed
  there.  A mutation the service could not take is counted and logged; memory keeps it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import structlog

from sipguard import metrics
from sipguard.journal.cache import CachedState, count_floor, encode_op
from sipguard.journal.state import SqliteState
from sipguard.policy.state import Suspension

_log = structlog.get_logger("sipguard.journal")


class StateSink(Protocol):
    """Where mutations go (the journal service connection)."""

    def submit_state(self, op: list[Any]) -> asyncio.Future[Any]:
        """Send one state op; the future completes once it is durable."""
        ...

    def tell_state(self, op: list[Any]) -> bool:
        """Send one state op that wants no answer; False if it could not be sent."""
        ...


class WriteBehindState:
    """Implements :class:`sipguard.policy.state.State` for the server."""

    def __init__(self, db: SqliteState, sink: StateSink) -> None:
        self.cache = CachedState()
        db.load(self.cache, counts_from=count_floor(datetime.now(UTC)))
        self.db = db
        self.sink = sink
        self.lost = 0
        self._inflight: dict[str, int] = {}

    def _send(self, op: list[Any], number: str) -> None:
        fut = self.sink.submit_state(op)
        self._inflight[number] = self._inflight.get(number, 0) + 1
        fut.add_done_callback(lambda f: self._sent(f, number))

    def _tell(self, op: list[Any]) -> None:
        if not self.sink.tell_state(op):
            self._lost("journal service not connected")

    def _lost(self, detail: str) -> None:
        self.lost += 1
        metrics.STATE_WRITES_LOST.inc()
        if self.lost & (self.lost - 1) == 0:  # 1, 2, 4, 8...: loud but bounded
            _log.error("state.write_lost", lost=self.lost, detail=detail)

    def _sent(self, fut: asyncio.Future[Any], number: str) -> None:
        left = self._inflight.get(number, 1) - 1
        if left:
            self._inflight[number] = left
        else:
            self._inflight.pop(number, None)
        if fut.cancelled() or fut.exception() is not None:
            self._lost(str(fut.exception()) if not fut.cancelled() else "cancelled")

    def take_call_slot(self, operator: str, callee: str, day: date, limit: int | None) -> bool:
        if not self.cache.take_call_slot(operator, callee, day, limit):
            return False
        self._tell(encode_op("take_call_slot", operator, callee, day, None))
        return True

    def calls_on(self, operator: str, callee: str, day: date) -> int:
        return self.cache.calls_on(operator, callee, day)

    def add_violation(self, number: str, at: datetime, window: timedelta) -> int:
        self._tell(encode_op("add_violation", number, at, window))
        return self.cache.add_violation(number, at, window)

    def suspension(self, number: str) -> Suspension | None:
        return self.cache.suspension(number)

    def suspend(self, number: str, since: datetime, reason: str, by: str) -> None:
        self.cache.suspend(number, since, reason, by)
        self._send(encode_op("suspend", number, since, reason, by), number)

    def resume(self, number: str) -> bool:
        self._send(encode_op("resume", number), number)
        return self.cache.resume(number)

    def suspensions(self) -> list[Suspension]:
        return self.cache.suspensions()

    # The behavioural windows stay in this process's memory (rules 1.1 section 5).
    def calls_since(self, number: str, since: float) -> int:
        return self.cache.calls_since(number, since)

    def callee_seen(self, number: str, callee: str, since: float) -> tuple[bool, int]:
        return self.cache.callee_seen(number, callee, since)

    def record_call(self, number: str, callee: str, at: float, keep: float) -> None:
        self.cache.record_call(number, callee, at, keep)

    def record_outcome(self, number: str, *, short: bool, keep: int) -> tuple[int, int]:
        return self.cache.record_outcome(number, short=short, keep=keep)

    # So do the inbound calls that are up, for verifying forwards (rules 1.1 section 3).
    def inbound_started(self, call_id: str, caller: str, number: str, at: datetime) -> None:
        self.cache.inbound_started(call_id, caller, number, at)

    def inbound_ended(self, call_id: str) -> None:
        self.cache.inbound_ended(call_id)

    def inbound_up(self, caller: str, number: str, since: datetime) -> bool:
        return self.cache.inbound_up(caller, number, since)

    def refresh(self) -> None:
        """Take suspensions changed in the file by another process (see the invariants)."""
        self.cache.forget_counts_before(count_floor(datetime.now(UTC)))
        disk = {s.number: s for s in self.db.suspensions()}
        held = self.cache.suspended
        for number in set(held) | set(disk):
            if number in self._inflight:
                continue
            if number in disk:
                held.setdefault(number, disk[number])
            elif held.pop(number, None) is not None:
                self.cache.violations.pop(number, None)

    def close(self) -> None:
        """Close the file used for reading."""
        self.db.close()
