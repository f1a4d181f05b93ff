"""Check 2a, FORWARD_UNVERIFIED: forwarded calls verified against inbound calls that are up
(rules 1.1 section 3).

Invariants:
- Applies only to forwarded requests on a trunk with ``forwarding: true``, right after
  CALLER_HIDDEN; on any other trunk Diversion and History-Info change nothing.
- A forward is verified when the diverting number is filed for the sending trunk and
  inbound-enabled, and ``state`` holds an inbound call from the caller identity to it that
  started within ``forwarding_window`` and has not ended.  A verified forward is allowed
  with ``forwarded`` set; checks 3 to 12 do not apply, and it takes no daily slot.
- A rejection counts as a violation of the diverting number, and names it, only when that
  number is filed for the sending trunk: no trunk can get another trunk's number suspended.
- Pure apart from ``state``; no clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sipguard.policy.facts import CallFacts, Direction, Reason, Verdict
from sipguard.policy.ruleset import Ruleset
from sipguard.policy.state import State

#: (trunk, its operator, caller NSN, callee NSN, identity header)
ForwardedCall = tuple[str, str, str, str | None, str | None]
#: ``count(rules, state, now, number, reason)``: record a violation; True if it suspended.
Counter = Callable[[Ruleset, State, datetime, str, Reason], bool]


def applies(facts: CallFacts, rules: Ruleset, trunk: str) -> bool:
    """True when check 2a decides this request."""
    return facts.forwarded and trunk in rules.forwarding_trunks


def forwarded_call(
    facts: CallFacts,
    rules: Ruleset,
    state: State,
    now: datetime,
    call: ForwardedCall,
    count: Counter,
) -> Verdict:
    """The verdict of a forwarded request: verified and allowed, or FORWARD_UNVERIFIED."""
    trunk, operator, caller, callee, header = call
    diverting = rules.nsn(facts.diverting_user)
    entry = rules.numbers.get(diverting) if diverting is not None else None
    own = entry is not None and entry.trunk == trunk
    out = Direction.OUTBOUND
    since = now - rules.forwarding_window
    inbound = own and entry is not None and entry.inbound and diverting is not None
    if inbound and diverting is not None and state.inbound_up(caller, diverting, since):
        return Verdict(
            Reason.ALLOWED, out, caller, callee, diverting, operator, trunk,
            identity_header=header, forwarded=True,
        )  # fmt: skip
    number = diverting if own else None
    reason = Reason.FORWARD_UNVERIFIED
    suspended = number is not None and count(rules, state, now, number, reason)
    return Verdict(
        reason, out, caller, callee, number, operator, trunk, None, suspended, None, None,
        header,
    )  # fmt: skip
