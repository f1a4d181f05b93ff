"""The calls the B2BUA is carrying, and how each is found from the wire.

Invariants:
- every call is reachable from ``calls`` (by key), ``legs`` (by Call-ID and our tag) and
  ``invites`` (by the caller's INVITE server-transaction key) from ``register`` until
  ``end`` drops all three at once; the calls' transactions then finish on their own timers;
- ``held`` maps a call to leg B's INVITE transaction until the shell reports the call's
  decision durable; a held INVITE has not reached the wire;
- ``end`` reports each call's outcome (``CallEnded``) exactly once and cancels its timers;
  a call's timers are started and stopped through ``arm``/``disarm``, so ``Call.armed``
  says which are live and no CancelTimer is sent for a timer never started.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sipguard.b2bua.call import Call, CallState, Side
from sipguard.b2bua.effects import (
    CallEnded,
    CallTimer,
    CallTimerKind,
    CancelTimer,
    Effects,
    StartTimer,
)
from sipguard.b2bua.tx_entry import TxEntry
from sipguard.sip.transaction import TxKey


class CallTable:
    """Calls by key, legs by (Call-ID, our tag), calls by their caller's INVITE."""

    def __init__(self) -> None:
        self.calls: dict[int, Call] = {}
        self.legs: dict[tuple[str, str], tuple[Call, Side]] = {}
        self.invites: dict[TxKey, Call] = {}
        # Leg B's INVITE transaction while its call's decision is being journaled.
        self.held: dict[int, TxEntry] = {}
        #: Calls up or being set up, per trunk (rules 1.1 section 5, max_concurrent_calls).
        self.per_trunk: Counter[str] = Counter()
        self._keys = itertools.count(1)
        #: called with each call as it ends, for effects of its own (CallSetup forgets the
        #: inbound calls it recorded, and settles leg B's answered INVITE transaction)
        self.on_end: Callable[[Call], Effects] | None = None

    def tables(self) -> tuple[dict[Any, Any], ...]:
        """The dicts whose space a flood may leave (``sipguard.memo.shrink``)."""
        return (self.calls, self.legs, self.invites, self.held)

    def __len__(self) -> int:
        return len(self.calls)

    def next_key(self) -> int:
        """A key no call of this table has had."""
        return next(self._keys)

    def leg(self, call_id: str, our_tag: str | None) -> tuple[Call, Side] | None:
        """The call and side whose leg has ``call_id`` and our tag ``our_tag``."""
        return self.legs.get((call_id, our_tag or ""))

    def register(self, call: Call) -> None:
        """Make ``call`` reachable by key, by each leg's tag and by the caller's INVITE."""
        self.calls[call.key] = call
        self.legs[(call.a.call_id, call.a.tag)] = (call, Side.A)
        self.legs[(call.b.call_id, call.b.tag)] = (call, Side.B)
        self.invites[call.a.invite_tx] = call
        if call.verdict.trunk is not None:
            self.per_trunk[call.verdict.trunk] += 1

    def end(self, call: Call, status: int, by: str, wall: datetime) -> Effects:
        """Mark ``call`` over, forget it, and report its outcome for the journal."""
        if call.ended:
            return []
        call.state = CallState.ENDED
        known = self.calls.pop(call.key, None) is not None
        self.legs.pop((call.a.call_id, call.a.tag), None)
        self.legs.pop((call.b.call_id, call.b.tag), None)
        self.invites.pop(call.a.invite_tx, None)
        trunk = call.verdict.trunk
        if trunk is not None and known:
            self.per_trunk[trunk] -= 1
            if self.per_trunk[trunk] <= 0:
                del self.per_trunk[trunk]
        out: Effects = [CancelTimer(CallTimer(call.key, kind)) for kind in sorted(call.armed)]
        call.armed.clear()
        out.append(CallEnded(call.a.call_id, call.answered_at, wall, status, by))
        if self.on_end is not None:
            out += self.on_end(call)
        return out

    def arm(self, call: Call, kind: CallTimerKind, at: float) -> StartTimer:
        """Start (or restart) one of ``call``'s timers."""
        call.armed.add(kind)
        return StartTimer(CallTimer(call.key, kind), at)

    def disarm(self, call: Call, kind: CallTimerKind) -> Effects:
        """Stop one of ``call``'s timers if it is armed."""
        if kind not in call.armed:
            return []
        call.armed.discard(kind)
        return [CancelTimer(CallTimer(call.key, kind))]
