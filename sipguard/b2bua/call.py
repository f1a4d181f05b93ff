"""A call: two legs of one B2BUA, each a UAS-or-UAC dialog of its own (RFC 3261 section 12).

Invariants:
- leg A is the dialog with the caller (we are its UAS), leg B the dialog with the callee
  (we are its UAC); they share nothing on the wire: Call-ID, tags, branches and CSeq
  numbers of B are ours, so each leg can be matched by ``(call_id, our tag)``; a leg keeps
  its Call-ID, our tag and its INVITE's CSeq number, so they are never parsed back;
- a call moves forward only: CALLING -> EARLY -> CONFIRMED -> ENDED (or straight to ENDED);
- RSeq numbers of reliable provisionals (RFC 3262) are renumbered per leg; ``rseq_map``
  maps the number A sees to the number B sent, so a PRACK from A can be translated;
- ``relay`` is the header allow-list the call started with: every message relayed between
  its legs is filtered by it, so a reload changes it for new calls only;
- ``reinvite`` holds, per leg, the re-INVITE whose 2xx that leg's peer still has to ACK; the
  ACK (matched by CSeq number) stops its retransmissions, as for the first INVITE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sipguard.b2bua.effects import Addr, CallTimerKind
from sipguard.policy.facts import CallFacts, Verdict
from sipguard.sip.dialog import Dialog
from sipguard.sip.message import Request
from sipguard.sip.transaction import TxKey


class Side(StrEnum):
    """Which leg: A faces the caller, B the callee."""

    A = "a"
    B = "b"

    @property
    def other(self) -> Side:
        """The opposite leg."""
        return Side.B if self is Side.A else Side.A


class CallState(StrEnum):
    """Where a call is in its life."""

    CALLING = "calling"
    EARLY = "early"
    CONFIRMED = "confirmed"
    ENDED = "ended"


@dataclass(slots=True)
class Leg:
    """One dialog of a call: the peer, our tag, the INVITE on this leg, the dialog."""

    side: Side
    peer: Addr
    call_id: str
    tag: str
    invite: Request
    invite_tx: TxKey
    invite_seq: int  # the INVITE's CSeq number
    dialog: Dialog | None = None


@dataclass(slots=True)
class Call:
    """Two legs and what the B2BUA remembers between them."""

    key: int
    a: Leg
    b: Leg
    facts: CallFacts
    verdict: Verdict
    relay: frozenset[str]  # lookup keys of the headers that cross between the legs
    state: CallState = CallState.CALLING
    answered_at: datetime | None = None
    rseq_out: int = 0
    rseq_map: dict[int, int] = field(default_factory=dict)
    pending_ack: dict[Side, tuple[int, bool]] = field(default_factory=dict)
    # A re-INVITE we answered on a leg: its CSeq number and server transaction, until ACKed.
    reinvite: dict[Side, tuple[int, TxKey]] = field(default_factory=dict)
    b_ack: bytes | None = None  # the ACK of leg B's 2xx, as sent (and sent again)
    # The call's own timers that are armed (only those are cancelled).
    armed: set[CallTimerKind] = field(default_factory=set)

    def leg(self, side: Side) -> Leg:
        """The leg on ``side``."""
        return self.a if side is Side.A else self.b

    @property
    def ended(self) -> bool:
        """True once the call is over (legs may still be finishing transactions)."""
        return self.state is CallState.ENDED
