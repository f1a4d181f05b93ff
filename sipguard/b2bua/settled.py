"""Settled transactions as compact records, until their last timer comes due.

A transaction that only waits out its last timer (RFC 3261 17.1.1.2 Timer D, 17.1.2.2
Timer K, 17.2.1 Timer I, 17.2.2 Timer J; RFC 6026 Timer M once its call is over) does one
of two things with whatever matches it: it sends bytes it already has (the final response
of a non-INVITE, the ACK of a final response), or it absorbs it.  Kept whole, with its
request, its response, its timers and the handlers that reach its call, each costs a score
of Python objects for up to 32 s, and every collector pass walks them all again.  Here it
is one plain tuple of atomic values: the collector stops tracking such a tuple at its first
pass over it, so records cost later passes nothing.

Invariants:
- a record matches what its transaction matched: the same key in the same table (one for
  server transactions, one for client transactions), until its deadline and not after;
- a server record answers each request that matches it with its bytes, or absorbs it when
  it has none (an INVITE in Confirmed absorbs its retransmissions and ACKs);
- a client record answers a response whose status is in ``[lo, hi]`` with its bytes and
  absorbs every other (the ACK of a 300-699 in Completed, the ACK of a 2xx in Accepted);
- a record past its deadline is dropped when it is looked up or at the latest at the next
  sweep; a table holds at most ``limit`` records: past it, the one due first gives way
  (a late retransmission to it is then handled as a new request, or dropped);
- ``Settled`` keeps one ``SWEEP`` timer armed while any record is left, at most one sweep
  per ``SWEEP_EVERY``; nothing here reads a clock.
"""

from __future__ import annotations

import heapq
from typing import Any

from sipguard.b2bua.completed import CompletedTable
from sipguard.b2bua.effects import SWEEP, Addr, Effects, StartTimer, Transmit
from sipguard.sip.timers import Timer, TimerConfig
from sipguard.sip.transaction import Kind, TxKey, TxState

SWEEP_EVERY = 1.0  # seconds, at least, between two sweeps

#: (deadline, lo, hi, bytes, host, port, transport): until ``deadline``, a match whose
#: status is in ``[lo, hi]`` (a request's counts as 0) gets ``bytes`` sent to the address.
Record = tuple[float, int, int, bytes, str, int, str]


def record_for(kind: Kind, state: TxState, deadline: float, wire: bytes, peer: Addr) -> Record:
    """The record of a transaction of ``kind`` settling in ``state``; ``wire`` is what it
    sent last (a non-INVITE server's final response, an INVITE client's ACK)."""
    if kind is Kind.NON_INVITE_SERVER:
        lo, hi = 0, 0
    elif kind is Kind.INVITE_CLIENT:
        lo, hi = (200, 299) if state is TxState.ACCEPTED else (300, 699)
    else:  # an INVITE server in Confirmed, a non-INVITE client in Completed: absorb
        lo, hi, wire = 1, 0, b""
    return (deadline, lo, hi, wire, peer.host, peer.port, peer.transport)


class SettledTable:
    """Records by transaction key, and their deadlines in one heap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._records: dict[TxKey, Record] = {}
        self._due: list[tuple[float, TxKey]] = []

    def __len__(self) -> int:
        return len(self._records)

    def tables(self) -> tuple[dict[Any, Any], ...]:
        """The dicts whose space a flood may leave (``sipguard.memo.shrink``)."""
        return (self._records,)

    def add(self, key: TxKey, record: Record) -> None:
        """Keep ``record`` under ``key`` until its deadline (replacing one that was there)."""
        records, due = self._records, self._due
        while key not in records and len(records) >= self.limit and due:
            at, old = heapq.heappop(due)
            if old in records and records[old][0] <= at:
                del records[old]
        records[key] = record
        heapq.heappush(due, (record[0], key))

    def match(self, key: TxKey, now: float) -> Record | None:
        """The live record under ``key`` at ``now``, if there is one."""
        record = self._records.get(key)
        if record is None:
            return None
        if record[0] <= now:
            del self._records[key]
            return None
        return record

    def answer(self, key: TxKey, status: int, now: float) -> Effects | None:
        """What the record of ``key`` does with a message of ``status`` (0 for a request):
        None when there is no record, else its bytes sent, or nothing (absorbed)."""
        record = self.match(key, now) if self._records else None
        if record is None:
            return None
        _, lo, hi, data, host, port, transport = record
        if not data or not lo <= status <= hi:
            return []
        return [Transmit(data, Addr(host, port, transport))]

    def sweep(self, now: float) -> float | None:
        """Drop every record due by ``now``; the next deadline, or None when none is left."""
        due, records = self._due, self._records
        while due and due[0][0] <= now:
            at, key = heapq.heappop(due)
            record = records.get(key)
            if record is not None and record[0] <= at:
                del records[key]
        while due and due[0][1] not in records:  # a replaced or looked-up record's entry
            heapq.heappop(due)
        return due[0][0] if due else None


class Settled:
    """The records of settled server and client transactions, and their one sweep timer;
    and the Completed INVITE server transactions (``completed``), which settle on an ACK."""

    def __init__(self, limit: int, config: TimerConfig) -> None:
        self.server = SettledTable(limit)
        self.client = SettledTable(limit)
        self.completed = CompletedTable(config, limit)
        self.config = config
        self._sweeping = False  # a SWEEP timer is armed

    def __len__(self) -> int:
        return len(self.server) + len(self.client) + len(self.completed)

    def tables(self) -> tuple[dict[Any, Any], ...]:
        """The dicts whose space a flood may leave (``sipguard.memo.shrink``)."""
        return self.server.tables() + self.client.tables() + self.completed.tables()

    def request(self, key: TxKey, now: float, *, ack: bool) -> Effects | None:
        """What the record of server key ``key`` does with a request (an ACK when ``ack``):
        None when no record matches.  The ACK of a Completed INVITE leaves its Confirmed
        record, which absorbs retransmissions until Timer I (none on a reliable transport)."""
        if not ack:
            sent = self.completed.resend(key, now)
            return sent if sent is not None else self.server.answer(key, 0, now)
        record = self.completed.acked(key, now)
        if record is None:
            return self.server.answer(key, 0, now)
        out: Effects = []
        wait = self.config.duration(Timer.I, reliable=record[6] != "udp")
        if wait > 0:
            peer = Addr(record[4], record[5], record[6])
            confirmed = record_for(Kind.INVITE_SERVER, TxState.CONFIRMED, now + wait, b"", peer)
            self.keep(key, confirmed, client=False, out=out)
        return out

    def knows_server(self, key: TxKey, now: float) -> bool:
        """True while a record of server key ``key`` is live."""
        return self.completed.knows(key, now) or self.server.match(key, now) is not None

    def keep(self, key: TxKey, record: Record, *, client: bool, out: Effects) -> None:
        """Keep ``record``; append the StartTimer of the sweep to ``out`` if none is armed."""
        (self.client if client else self.server).add(key, record)
        if not self._sweeping:
            self._sweeping = True
            out.append(StartTimer(SWEEP, record[0]))

    def sweep(self, now: float) -> Effects:
        """The SWEEP timer fired: drop the records that are due, come back for the rest."""
        due = [t for t in (self.server.sweep(now), self.client.sweep(now)) if t is not None]
        self._sweeping = bool(due)
        return [StartTimer(SWEEP, max(min(due), now + SWEEP_EVERY))] if due else []
