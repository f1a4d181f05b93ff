"""INVITE server transactions in Completed, as compact records (RFC 3261 section 17.2.1).

An INVITE answered with a final response of 300-699 waits for its ACK: over UDP it sends the
response again on Timer G (T1, doubling, capped at T2) until the ACK comes or Timer H (64*T1)
gives up, and it answers every retransmission of the INVITE with the same response.  A
caller that never ACKs (a flood of rejected INVITEs above all) would keep a live transaction
each for 32 s, with its request, its timers and their keys.  All of it is a few values
instead: the bytes it sends, their destination, Timer H's deadline, and Timer G's next
deadline and interval, in one tuple of atomic values that the collector stops tracking at
its first pass.

Invariants:
- a record matches what its transaction matched (its server key) until Timer H's deadline
  and not after; an INVITE that matches it gets its bytes again, an ACK ends it (the caller
  then keeps the Confirmed transaction's record, ``settled``), and nothing else matches it;
- Timer G's schedule is the transaction's: each firing sends the bytes once and the next
  interval is ``TimerConfig.next_interval``; a reliable transport arms no Timer G
  (``at`` = infinity), so its record only waits for the ACK or Timer H;
- Timer H tells the transaction user nothing: a call whose INVITE was refused has ended;
- one ``RESEND`` timer is armed for the earliest deadline of any record while one is left;
  stale heap entries (an ACKed record, a replaced schedule) are skipped when they surface;
- at most ``limit`` records: past it, the one whose next deadline comes first gives way (a
  late ACK to it is then handled as an ACK outside any transaction, and absorbed);
- no I/O, no clock (``now`` comes in), no logging.
"""

from __future__ import annotations

import heapq
import math
from typing import Any

from sipguard.b2bua.effects import RESEND, Addr, Effects, StartTimer, Transmit
from sipguard.sip.timers import Timer, TimerConfig
from sipguard.sip.transaction import TxKey

#: (Timer H's deadline, Timer G's next deadline, Timer G's interval, bytes, host, port,
#: transport)
Record = tuple[float, float, float, bytes, str, int, str]
_G = Timer.G


class CompletedTable:
    """Completed INVITE server transactions by key, and their next deadlines in a heap."""

    def __init__(self, config: TimerConfig, limit: int) -> None:
        self.config = config
        self.limit = limit
        self._records: dict[TxKey, Record] = {}
        self._due: list[tuple[float, TxKey]] = []  # (next deadline, key); stale ones skipped
        self._armed: float | None = None  # the deadline the RESEND timer is armed for

    def __len__(self) -> int:
        return len(self._records)

    def tables(self) -> tuple[dict[Any, Any], ...]:
        """The dicts whose space a flood may leave (``sipguard.memo.shrink``)."""
        return (self._records,)

    def keep(self, key: TxKey, record: Record, out: Effects) -> None:
        """Keep ``record`` under ``key``; append the (re-)arming of RESEND to ``out``."""
        records, due = self._records, self._due
        while key not in records and len(records) >= self.limit and due:
            at, old = heapq.heappop(due)
            if self._current(at, old):
                del records[old]
        records[key] = record
        at = _next(record)
        heapq.heappush(due, (at, key))
        if self._armed is None or at < self._armed:
            self._armed = at
            out.append(StartTimer(RESEND, at))

    def resend(self, key: TxKey, now: float) -> Effects | None:
        """An INVITE of ``key`` at ``now``: its record's bytes again, or None without one."""
        record = self._live(key, now)
        return None if record is None else [_send(record)]

    def acked(self, key: TxKey, now: float) -> Record | None:
        """The ACK of ``key`` at ``now``: its record, which ends (None without one)."""
        record = self._live(key, now)
        if record is not None:
            del self._records[key]
        return record

    def knows(self, key: TxKey, now: float) -> bool:
        """True while a record of ``key`` is live at ``now``."""
        return self._live(key, now) is not None

    def fire(self, now: float) -> Effects:
        """The RESEND timer fired: send what Timer G asks for, drop what Timer H ends."""
        self._armed = None
        out: Effects = []
        due, records = self._due, self._records
        while due and due[0][0] <= now:
            at, key = heapq.heappop(due)
            if not self._current(at, key):
                continue  # ended or rescheduled since
            record = records[key]
            if record[0] <= at:  # Timer H
                del records[key]
                continue
            out.append(_send(record))
            interval = self.config.next_interval(_G, record[2])
            h_at, _, _, data, host, port, transport = record
            records[key] = record = (h_at, now + interval, interval, data, host, port, transport)
            heapq.heappush(due, (_next(record), key))
        while due and not self._current(*due[0]):
            heapq.heappop(due)
        if due:
            self._armed = due[0][0]
            out.append(StartTimer(RESEND, self._armed))
        return out

    def _current(self, at: float, key: TxKey) -> bool:
        """True when the heap entry ``(at, key)`` is its record's next deadline (not stale)."""
        record = self._records.get(key)
        return record is not None and _next(record) == at

    def _live(self, key: TxKey, now: float) -> Record | None:
        record = self._records.get(key) if self._records else None
        if record is not None and record[0] <= now:
            del self._records[key]
            return None
        return record


def completed_record(
    h_at: float, g_at: float | None, interval: float | None, wire: bytes, peer: Addr
) -> Record:
    """The record of a Completed INVITE server transaction (``g_at`` None: no Timer G)."""
    g = math.inf if g_at is None else g_at
    return (h_at, g, interval or 0.0, wire, peer.host, peer.port, peer.transport)


def _next(record: Record) -> float:
    return min(record[0], record[1])


def _send(record: Record) -> Transmit:
    return Transmit(record[3], Addr(record[4], record[5], record[6]))
