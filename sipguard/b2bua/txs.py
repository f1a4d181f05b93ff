"""The B2BUA's transaction table: creates, matches and runs section 17 transactions.

Invariants:
- every live transaction is in ``by_id`` and in exactly one of ``server``/``client``, keyed
  per RFC 3261 sections 17.2.3 and 17.1.3; it is removed the moment it reports Terminated,
  so the table never grows with finished work;
- transaction effects become shell effects here: Send -> Transmit to the transaction's peer,
  Arm/Disarm -> StartTimer/CancelTimer keyed ``("tx", id, timer)``; PassUp and TimedOut go to
  the handlers the TU registered;
- a transaction is reliable when its peer's transport is not UDP.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sipguard.b2bua.effects import Addr, CancelTimer, StartTimer, Transmit
from sipguard.sip.message import Message, Request
from sipguard.sip.timers import Timer, TimerConfig
from sipguard.sip.transaction import (
    Arm,
    Disarm,
    PassUp,
    Send,
    Terminated,
    TimedOut,
    Transaction,
    TxEffect,
    TxKey,
    client_key,
    kind_for,
    server_key,
)
from sipguard.sip.wire import serialise

UpHandler = Callable[[Message, float, datetime], list[Any]]
TimeoutHandler = Callable[[float, datetime], list[Any]]


@dataclass(slots=True)
class TxEntry:
    """A live transaction, its peer and what the TU does with its results."""

    id: int
    tx: Transaction
    peer: Addr
    key: TxKey
    on_up: UpHandler | None = None
    on_timeout: TimeoutHandler | None = None


class Transactions:
    """Live transactions by id and by matching key."""

    def __init__(self, config: TimerConfig) -> None:
        self.config = config
        self.server: dict[TxKey, TxEntry] = {}
        self.client: dict[TxKey, TxEntry] = {}
        self.by_id: dict[int, TxEntry] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self.by_id)

    def new_server(self, request: Request, peer: Addr) -> TxEntry:
        """Register the server transaction ``request`` creates."""
        key = server_key(request)
        tx = Transaction(kind_for(request, False), request, peer.transport != "udp", self.config)
        entry = TxEntry(next(self._ids), tx, peer, key)
        self.server[key] = entry
        self.by_id[entry.id] = entry
        return entry

    def new_client(
        self,
        request: Request,
        peer: Addr,
        on_up: UpHandler | None = None,
        on_timeout: TimeoutHandler | None = None,
    ) -> TxEntry:
        """Register the client transaction that will send ``request`` to ``peer``."""
        key = client_key(request)
        tx = Transaction(kind_for(request, True), request, peer.transport != "udp", self.config)
        entry = TxEntry(next(self._ids), tx, peer, key, on_up, on_timeout)
        self.client[key] = entry
        self.by_id[entry.id] = entry
        return entry

    def fire(self, tx_id: int, timer: str, now: float, wall: datetime) -> list[Any]:
        """A transaction timer came due (ignored when the transaction is gone)."""
        entry = self.by_id.get(tx_id)
        if entry is None:
            return []
        return self.run(entry, entry.tx.fire(Timer(timer), now), now, wall)

    def run(self, entry: TxEntry, effects: list[TxEffect], now: float, wall: datetime) -> list[Any]:
        """Turn one transaction's effects into shell effects, calling the TU's handlers."""
        out: list[Any] = []
        for e in effects:
            if isinstance(e, Send):
                out.append(Transmit(serialise(e.message), entry.peer))
            elif isinstance(e, Arm):
                out.append(StartTimer(("tx", entry.id, e.timer.value), e.at))
            elif isinstance(e, Disarm):
                out.append(CancelTimer(("tx", entry.id, e.timer.value)))
            elif isinstance(e, PassUp):
                if entry.on_up is not None:
                    out.extend(entry.on_up(e.message, now, wall))
            elif isinstance(e, TimedOut):
                if entry.on_timeout is not None:
                    out.extend(entry.on_timeout(now, wall))
            elif isinstance(e, Terminated):
                self._forget(entry)
        return out

    def discard(self, entry: TxEntry) -> None:
        """Forget a transaction that never reached the wire (its effects were not run)."""
        self._forget(entry)

    def _forget(self, entry: TxEntry) -> None:
        self.by_id.pop(entry.id, None)
        table = self.client if entry.tx.is_client else self.server
        if table.get(entry.key) is entry:
            del table[entry.key]
