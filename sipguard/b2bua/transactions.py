"""The B2BUA's transaction table: creates, matches and runs section 17 transactions.

Invariants:
- every live transaction is in ``by_id`` and in exactly one of ``server``/``client``, keyed
  per RFC 3261 sections 17.2.3 and 17.1.3, until it reports Terminated or settles;
- transaction effects become shell effects here: Send -> Transmit to the transaction's peer,
  Arm/Disarm -> StartTimer/CancelTimer keyed ``TxTimer(id, timer)``; PassUp and TimedOut go
  to the handlers the TU registered;
- a transaction that arms its last timer (D, I, J or K) settles: it leaves the table for a
  record in ``settled.server`` or ``settled.client`` (``b2bua/settled.py``) with that deadline
  and the bytes it would send, no StartTimer goes out for that timer, and one ``SWEEP`` timer
  drops due records; an INVITE client transaction in Accepted settles when its call ends
  (``settle_accepted``), its 2xx retransmissions then getting the call's ACK; an INVITE
  server transaction entering Completed leaves for a record in ``settled.completed``
  (``b2bua/completed.py``), which runs its Timers G and H (no StartTimer goes out for them);
- a server transaction takes at most one final response (``respond`` is a no-op after one),
  then keeps a slim request and, beside the bytes it sent (``TxEntry.wire``, which its
  retransmissions send), a ``stand_in`` of its response (``slimming``); an INVITE client
  transaction in Accepted keeps a slim request too (the TU re-ACKs from the dialog);
- a transaction is reliable when its peer's transport is not UDP; it never settles (its
  last timer is zero); a server transaction's responses go where ``reply_to`` says;
- a transaction in Completed, Confirmed or Accepted drops its messages' memoised values;
- an INVITE client transaction we CANCELled is forgotten 64*T1 after the CANCEL if it is
  still waiting for a final response (RFC 3261 section 9.1), so a lost 487 leaks nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sipguard.b2bua.completed import completed_record
from sipguard.b2bua.effects import (
    Addr,
    CancelTimer,
    Effects,
    StartTimer,
    Transmit,
    TxTimer,
)
from sipguard.b2bua.headers import make_response
from sipguard.b2bua.reply_route import reply_to
from sipguard.b2bua.settled import Settled, record_for
from sipguard.b2bua.slimming import forget_parsed, slim, stand_in
from sipguard.b2bua.tx_entry import TimeoutHandler, TxEntry, UpHandler
from sipguard.sip.message import Message, Request, Response
from sipguard.sip.timers import Timer, TimerConfig
from sipguard.sip.transaction import (
    Arm,
    Disarm,
    Kind,
    PassUp,
    Send,
    Terminated,
    TimedOut,
    Transaction,
    TxEffect,
    TxKey,
    TxState,
    client_key,
    kind_for,
    server_key,
)
from sipguard.sip.wire import serialise

_SETTLED = frozenset({TxState.COMPLETED, TxState.CONFIRMED, TxState.ACCEPTED})
_ACCEPTED, _COMPLETED = TxState.ACCEPTED, TxState.COMPLETED
_INVITE_SERVER = Kind.INVITE_SERVER
_LAST = frozenset({Timer.D, Timer.I, Timer.J, Timer.K})  # armed on entering the wait-out


def _resends(entry: TxEntry) -> bool:
    """True for an INVITE server transaction in Completed: it becomes a ``completed`` record."""
    return entry.tx.state is _COMPLETED and entry.tx.kind is _INVITE_SERVER


class Transactions:
    """Live transactions by id and by matching key."""

    def __init__(self, config: TimerConfig, max_settled: int = 100_000) -> None:
        self.config = config
        self.server: dict[TxKey, TxEntry] = {}
        self.client: dict[TxKey, TxEntry] = {}
        self.by_id: dict[int, TxEntry] = {}
        self.settled = Settled(max_settled, config)  # transactions that only wait or resend
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self.by_id)

    def tables(self) -> tuple[dict[Any, Any], ...]:
        """The dicts whose space a flood may leave (``sipguard.memo.shrink``)."""
        return (self.server, self.client, self.by_id, *self.settled.tables())

    def new_server(self, request: Request, peer: Addr) -> TxEntry:
        """Register the server transaction ``request`` from ``peer`` creates; its responses
        go where section 18.2.2 says (``reply_to``)."""
        key = server_key(request)
        peer = reply_to(request, peer)
        kind = kind_for(request, client=False)
        tx = Transaction(kind, request, peer.transport != "udp", self.config)
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
        key: TxKey | None = None,
    ) -> TxEntry:
        """Register the client transaction that will send ``request`` to ``peer``.

        ``key`` is ``client_key(request)`` when the caller knows it (the branch it minted).
        """
        key = key or client_key(request)
        kind = kind_for(request, client=True)
        tx = Transaction(kind, request, peer.transport != "udp", self.config)
        entry = TxEntry(next(self._ids), tx, peer, key, on_up, on_timeout)
        self.client[key] = entry
        self.by_id[entry.id] = entry
        return entry

    def send(
        self, request: Request, peer: Addr, now: float, wall: datetime, key: TxKey | None = None
    ) -> Effects:
        """Send ``request`` in a new client transaction whose responses are absorbed."""
        entry = self.new_client(request, peer, key=key)
        return self.run(entry, entry.tx.start(now), now, wall)

    def receive(self, entry: TxEntry, request: Request, now: float, wall: datetime) -> Effects:
        """Feed ``request`` (first copy or a retransmission) to a server transaction."""
        return self.run(entry, entry.tx.receive_request(request, now), now, wall)

    def reply(self, entry: TxEntry, response: Response, now: float, wall: datetime) -> Effects:
        """Send ``response`` on a server transaction unless it already sent a final one."""
        if entry.answered:
            return []
        out = self.run(entry, entry.tx.respond(response, now), now, wall)
        if response.status >= 200 and not entry.slimmed and entry.id in self.by_id:
            entry.tx.request, entry.slimmed = slim(entry.tx.request), True
        return out

    def respond(
        self, entry: TxEntry | None, status: int, tag: str | None, now: float, wall: datetime
    ) -> Effects:
        """Send ``status`` on a server transaction if it still takes responses."""
        if entry is None or entry.answered:
            return []
        return self.reply(entry, make_response(entry.tx.request, status, tag), now, wall)

    def answer(
        self,
        req: Request,
        source: Addr,
        status: int,
        tag: str,
        now: float,
        wall: datetime,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> Effects:
        """Answer ``req`` with ``status`` through a new server transaction."""
        entry = self.new_server(req, source)
        out = self.receive(entry, req, now, wall)
        return out + self.reply(entry, make_response(req, status, tag, extra), now, wall)

    def give_up_later(self, entry: TxEntry | None, now: float) -> Effects:
        """RFC 3261 9.1: an INVITE we CANCELled that has no final response 64*T1 later is
        destroyed (its peer may never send the 487).  Timer B is the engine's own only while
        it is Calling; from Proceeding on the key is free for this give-up."""
        if entry is None or entry.tx.state is not TxState.PROCEEDING:
            return []
        entry.cancelled = True
        give_up = now + self.config.duration(Timer.B, reliable=False)
        return [StartTimer(TxTimer(entry.id, Timer.B), give_up)]

    def fire(self, timer: TxTimer, now: float, wall: datetime) -> Effects:
        """A transaction timer came due (ignored when the transaction is gone)."""
        entry = self.by_id.get(timer.tx_id)
        if entry is None:
            return []
        if entry.cancelled and timer.timer is Timer.B and Timer.B not in entry.tx.armed:
            if entry.tx.state is TxState.PROCEEDING:  # still no final response: give up
                self._forget(entry)
            return []
        return self.run(entry, entry.tx.fire(timer.timer, now), now, wall)

    def run(
        self, entry: TxEntry, effects: Iterable[TxEffect], now: float, wall: datetime
    ) -> Effects:
        """Turn one transaction's effects into shell effects, calling the TU's handlers."""
        out: Effects = []
        for e in effects:
            self._apply(entry, e, now, wall, out)
        state = entry.tx.state
        if state in _SETTLED:
            if entry.id in self.by_id and _resends(entry):
                self._complete(entry, out)
                return out
            if entry.id in self.by_id and entry.last_at is not None:
                self._settle(entry, entry.last_at, out)
                return out
            if state is _ACCEPTED and not entry.slimmed and entry.tx.is_client:
                entry.tx.request, entry.slimmed = slim(entry.tx.request), True
            sent = entry.sent
            if sent is not None and sent is entry.tx.last_response and len(sent.headers):
                entry.sent = entry.tx.last_response = stand_in(sent)
            forget_parsed(entry.tx)
        return out

    def settle_accepted(self, key: TxKey, ack: bytes | None) -> Effects:
        """The call of the INVITE client transaction ``key`` ended: if it is in Accepted,
        its 2xx retransmissions get ``ack`` from now on, from a record due when Timer M is,
        and Timer M is cancelled."""
        entry = self.client.get(key)
        at = entry.tx.armed.get(Timer.M) if entry is not None else None
        if entry is None or at is None or ack is None or entry.tx.state is not _ACCEPTED:
            return []
        out: Effects = [CancelTimer(TxTimer(entry.id, Timer.M))]
        entry.wire = ack
        self._settle(entry, at, out)
        return out

    def knows_server(self, key: TxKey, now: float) -> bool:
        """True while a server transaction of ``key`` is live or settled."""
        return key in self.server or self.settled.knows_server(key, now)

    def _settle(self, entry: TxEntry, deadline: float, out: Effects) -> None:
        """Replace ``entry`` by its record (see the module header)."""
        tx = entry.tx
        record = record_for(tx.kind, tx.state, deadline, entry.wire, entry.peer)
        self._forget(entry)
        self.settled.keep(entry.key, record, client=tx.is_client, out=out)

    def _complete(self, entry: TxEntry, out: Effects) -> None:
        """Replace a Completed INVITE server transaction by its ``settled.completed`` record,
        which runs the Timers G and H its transaction armed."""
        tx, armed = entry.tx, entry.tx.armed
        h_at, g_at = armed[Timer.H], armed.get(Timer.G)
        record = completed_record(h_at, g_at, tx.interval(Timer.G), entry.wire, entry.peer)
        self._forget(entry)
        self.settled.completed.keep(entry.key, record, out)

    def _apply(self, entry: TxEntry, e: TxEffect, now: float, wall: datetime, out: Effects) -> None:
        """Append to ``out`` what one transaction effect means for the shell."""
        match e:
            case Send(message=message):
                out.append(Transmit(self._wire(entry, message), entry.peer))
            case Arm(timer=timer, at=at):
                self._arm(entry, timer, at, out)
            case Disarm(timer=timer):
                out.append(CancelTimer(TxTimer(entry.id, timer)))
            case PassUp(message=message):
                if entry.on_up is not None:
                    out.extend(entry.on_up(message, now, wall))
            case TimedOut():
                if entry.on_timeout is not None:
                    out.extend(entry.on_timeout(now, wall))
            case Terminated():
                self._forget(entry)

    @staticmethod
    def _arm(entry: TxEntry, timer: Timer, at: float, out: Effects) -> None:
        if timer in _LAST:  # the wait-out: the transaction settles (``run``)
            entry.last_at = at
        elif not _resends(entry):  # a Completed INVITE's G and H are its record's (``run``)
            out.append(StartTimer(TxTimer(entry.id, timer), at))

    @staticmethod
    def _wire(entry: TxEntry, message: Message) -> bytes:
        """The bytes of ``message``; those of the response a server transaction sends now
        are kept for its retransmissions (``run`` swaps in the ``stand_in`` once it settles)."""
        if message is entry.sent:
            return entry.wire
        data = serialise(message)
        if message is entry.tx.last_response:
            entry.sent, entry.wire = message, data
        elif entry.tx.is_client and message is not entry.tx.request:  # an ACK we built
            entry.wire = data
        return data

    def discard(self, entry: TxEntry) -> None:
        """Forget a transaction that never reached the wire (its effects were not run)."""
        self._forget(entry)

    def _forget(self, entry: TxEntry) -> None:
        self.by_id.pop(entry.id, None)
        table = self.client if entry.tx.is_client else self.server
        if table.get(entry.key) is entry:
            del table[entry.key]
