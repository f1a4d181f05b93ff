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


@dataclass(slots=True, init=False)
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

    def __init__(
        self,
        side: Side,
        peer: Addr,
        call_id: str,
        tag: str,
        invite: Request,
        invite_tx: TxKey,
        invite_seq: int,
        dialog: Dialog | None = None,
    ) -> None:
        self.side, self.peer, self.call_id, self.tag = side, peer, call_id, tag
        self.invite, self.invite_tx, self.invite_seq = invite, invite_tx, invite_seq
        self.dialog = dialog


@dataclass(slots=True, init=False)
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

    def __init__(
        self,
        key: int,
        a: Leg,
        b: Leg,
        facts: CallFacts,
        verdict: Verdict,
        relay: frozenset[str],
        state: CallState = CallState.CALLING,
        answered_at: datetime | None = None,
        rseq_out: int = 0,
        rseq_map: dict[int, int] | None = None,
        pending_ack: dict[Side, tuple[int, bool]] | None = None,
        reinvite: dict[Side, tuple[int, TxKey]] | None = None,
        b_ack: bytes | None = None,
        armed: set[CallTimerKind] | None = None,
    ) -> None:
        self.key, self.a, self.b, self.facts, self.verdict = key, a, b, facts, verdict
        self.relay, self.state, self.answered_at = relay, state, answered_at
        self.rseq_out = rseq_out
        self.rseq_map = {} if rseq_map is None else rseq_map
        self.pending_ack = {} if pending_ack is None else pending_ack
        self.reinvite = {} if reinvite is None else reinvite
        self.b_ack = b_ack
        self.armed = set() if armed is None else armed

    def leg(self, side: Side) -> Leg:
        """The leg on ``side``."""
        return self.a if side is Side.A else self.b

    @property
    def ended(self) -> bool:
        """True once the call is over (legs may still be finishing transactions)."""
        return self.state is CallState.ENDED
