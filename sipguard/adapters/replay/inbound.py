"""Inbound calls that are up, kept from the capture for forwarded calls (rules 1.1 s. 3).

Invariants:
- An allowed inbound call is recorded in the policy ``State`` when its INVITE is screened,
  at its capture time; it ends at a BYE or CANCEL of its Call-ID, or at a final non-2xx
  response to its INVITE, in capture order.
- Only Call-IDs of recorded calls are looked at: while none is up, other messages are not
  parsed at all.  A message that does not parse is skipped (the call stays up).
"""

from __future__ import annotations

from datetime import datetime

from sipguard.errors import SipParseError
from sipguard.policy import CallFacts, State, Verdict
from sipguard.policy.facts import Direction
from sipguard.sip import Request, Response, parse

_ENDS = (b"BYE ", b"CANCEL ", b"SIP/2.0 ")


class InboundCalls:
    """Records allowed inbound calls in ``state`` and ends them as the capture does."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._up: set[str] = set()

    def screened(self, facts: CallFacts, verdict: Verdict, at: datetime) -> None:
        """Record the call if it is an allowed inbound call with a caller number."""
        caller, number = verdict.caller, verdict.number
        up = verdict.allowed and verdict.direction is Direction.INBOUND
        if up and caller is not None and number is not None:
            self.state.inbound_started(facts.call_id, caller, number, at)
            self._up.add(facts.call_id)

    def observe(self, data: bytes) -> None:
        """End a recorded call at its BYE, CANCEL or final non-2xx INVITE response."""
        if not self._up or not data.startswith(_ENDS):
            return
        try:
            message = parse(data)
            call_id = message.call_id
            if call_id not in self._up:
                return
            if isinstance(message, Response):
                ends = message.status >= 300 and message.cseq.method == "INVITE"
            else:
                ends = isinstance(message, Request) and message.method in ("BYE", "CANCEL")
        except SipParseError:
            return
        if ends:
            self._up.discard(call_id)
            self.state.inbound_ended(call_id)
