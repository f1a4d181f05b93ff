"""The decision: call facts + ruleset + state + time -> verdict (rules spec sections 3 and 4).

Invariants:
- Checks run in the precedence order of spec section 4 and the first that applies wins.
- Pure apart from ``state`` and the ruleset's memos: no I/O, no clock (``now`` is passed in,
  timezone-aware), no logging.  Local date and minute are looked up once per call, in the
  rules' zone, through ``Ruleset.clock`` (exactly ``now.astimezone(zone)``'s).
- State writes: an allowed outbound call takes a daily slot (the FREQUENCY_CAP check is that
  atomic ``take_call_slot``, done last); a counted rejection (8 to 12) is recorded with
  ``add_violation``; the rejection that reaches ``suspend_after_violations`` within the
  window suspends the number, keeps its own reason and sets ``suspended_now``.
- The caller identity, its header and the mismatch of check 6 come from
  ``identity.caller_identity`` (rules 1.1 section 1); every verdict names that header.
- Direction, trunk, identity and what checks 2 to 6 decide from the caller headers alone
  come from ``callers.resolved`` (memoised per distinct caller headers of outbound calls);
  only the filing period (check 4) is read here, between checks 4 and 5 as the table says.
- Check 2a (FORWARD_UNVERIFIED, rules 1.1 section 3) is ``forwarding.forwarded_call``,
  right after CALLER_HIDDEN, on forwarding trunks only; it counts with ``_count_violation``.
- Inbound: LICENCE_INVALID (7) needs the filed callee number's operator, so it is checked
  once the number is found; CALLEE_LENGTH_CHANGED/UNREGISTERED (13, 14) apply only when no
  number is found, so the two never compete and the table order is kept.
- Outbound calls from a trunk that monitors anything (rules 1.1 section 4) are decided by
  ``monitor.monitored_outbound``, which runs the same checks (2a included) in the same
  order on the same ``caller_identity``.
- With a behavioural limit set (rules 1.1 section 5), checks 12a and 12b follow 12 in
  ``_behaviour``; see ``limits.py`` for how they are read and recorded.
- A filed number outside its filing period (rules 1.1 section 7) is not filed: check 4
  (outbound) or 14 (inbound), with ``number`` naming it and ``number_state`` set.
"""

from __future__ import annotations

from datetime import date, datetime

from sipguard.policy import limits
from sipguard.policy.callers import MONITORED, resolved
from sipguard.policy.facts import CallFacts, Direction, Reason, Verdict
from sipguard.policy.forwarding import forwarded_call
from sipguard.policy.identity import CallerIdentity
from sipguard.policy.monitor import monitored_outbound
from sipguard.policy.numbers import FOREVER, NumberEntry
from sipguard.policy.period import out_of_period
from sipguard.policy.ruleset import Ruleset
from sipguard.policy.state import State

_COUNTED = frozenset(r for r in Reason if r.counts_as_violation)
# Enum members bound once: a class attribute lookup on an Enum costs ~0.4 us per access.
_OUT = Direction.OUTBOUND
_IN = Direction.INBOUND
_ALLOWED = Reason.ALLOWED
_CALLEE_LENGTH_CHANGED = Reason.CALLEE_LENGTH_CHANGED
_CALLEE_NOT_INBOUND = Reason.CALLEE_NOT_INBOUND
_CALLEE_UNREGISTERED = Reason.CALLEE_UNREGISTERED
_CALLER_UNREGISTERED = Reason.CALLER_UNREGISTERED
_FREQUENCY_CAP = Reason.FREQUENCY_CAP
_INBOUND_ONLY = Reason.INBOUND_ONLY
_LICENCE_INVALID = Reason.LICENCE_INVALID
_NO_CONSENT = Reason.NO_CONSENT
_NUMBER_SUSPENDED = Reason.NUMBER_SUSPENDED
_QUIET_HOURS = Reason.QUIET_HOURS
_UNKNOWN_SOURCE = Reason.UNKNOWN_SOURCE


def evaluate(facts: CallFacts, rules: Ruleset, state: State, now: datetime) -> Verdict:
    """Decide one initial INVITE; update ``state`` for allowed and counted outbound calls."""
    if now.tzinfo is None:
        raise ValueError("evaluate needs a timezone-aware 'now'")
    direction, trunk, operator, ident, early, entry, late, route = resolved(facts, rules)
    callee = rules.callee_nsn(facts.ruri_user)
    caller, header = ident[0], ident[1]
    if direction is not _OUT:
        if direction is None:
            return Verdict(
                _UNKNOWN_SOURCE, None, caller, callee, None, None, None, identity_header=header
            )
        return _inbound(rules, now, caller, callee, header)
    assert trunk is not None and operator is not None
    if route:
        return _routed(facts, rules, state, now, route, (trunk, operator, ident, callee))
    if early is not None:  # checks 2 to 4 of an unfiled or hidden caller
        return Verdict(early, _OUT, caller, callee, None, operator, trunk, identity_header=header)
    assert entry is not None and caller is not None
    if (entry.valid_from or entry.valid_until != FOREVER) and (
        filing := out_of_period(entry, rules, now)
    ) is not None:
        gone = (_CALLER_UNREGISTERED, _OUT, caller, callee, caller, operator, trunk)
        # check 4, outside its period
        return Verdict(*gone, number_state=filing, identity_header=header)
    if late is not None:  # checks 5 and 6
        return Verdict(late, _OUT, caller, callee, caller, operator, trunk, identity_header=header)
    # ``caller`` and ``operator`` stand in for the entry's equal ``nsn`` and ``operator``
    # (the index key; load.py rejects a number filed under another trunk's operator): the
    # entry's own strings are cold objects in a large index.
    return _on_trunk(facts, rules, state, now, entry, (trunk, operator, caller, callee), header)


def _routed(
    facts: CallFacts,
    rules: Ruleset,
    state: State,
    now: datetime,
    route: int,
    call: tuple[str, str, CallerIdentity, str | None],
) -> Verdict:
    """A call from a trunk in monitor mode, or one that check 2a decides."""
    trunk, operator, ident, callee = call
    if route == MONITORED:
        return monitored_outbound(facts, rules, state, now, trunk, ident, callee)
    caller = ident[0]
    assert caller is not None
    fwd = (trunk, operator, caller, callee, ident[1])
    return forwarded_call(facts, rules, state, now, fwd, _count_violation)


def _inbound(
    rules: Ruleset, now: datetime, caller: str | None, callee: str | None, header: str | None
) -> Verdict:
    entry = rules.numbers.get(callee) if callee is not None else None
    if entry is None:
        related = callee is not None and rules.numbers.length_related(callee)
        reason = _CALLEE_LENGTH_CHANGED if related else _CALLEE_UNREGISTERED
        return Verdict(reason, _IN, caller, callee, None, None, None, identity_header=header)
    if (entry.valid_from or entry.valid_until != FOREVER) and (
        filing := out_of_period(entry, rules, now)
    ) is not None:
        gone = (_CALLEE_UNREGISTERED, _IN, caller, callee, entry.nsn, None, None)
        # check 14, outside its period
        return Verdict(*gone, number_state=filing, identity_header=header)
    if rules.clock.at(now)[1][0] > entry.licence_until:
        reason = _LICENCE_INVALID
    elif not entry.inbound:
        reason = _CALLEE_NOT_INBOUND
    else:
        reason = _ALLOWED
    return Verdict(
        reason, _IN, caller, callee, entry.nsn, entry.operator, entry.trunk, None,
        False, None, None, header,  # noqa: FBT003 (positional like the dataclass)
    )  # fmt: skip


def _on_trunk(
    facts: CallFacts, rules: Ruleset, state: State, now: datetime, entry: NumberEntry,
    call: tuple[str, str, str, str | None], header: str | None,
) -> Verdict:  # fmt: skip
    """Checks 7 to 12 for a filed caller on its own trunk; a counted rejection is recorded.
    The daily slot is taken only when every other check passed."""
    trunk, operator, caller, callee = call
    t, (ordinal, minute, day) = rules.clock.at(now)
    credential: str | None = None
    if ordinal > entry.licence_until:
        reason = _LICENCE_INVALID
    elif not entry.outbound:
        reason = _INBOUND_ONLY
    elif state.suspension(caller) is not None:
        reason = _NUMBER_SUSPENDED
    elif rules.require_consent and (
        callee is None or (credential := rules.consents.find(caller, callee, t)) is None
    ):
        reason = _NO_CONSENT
    elif rules.quiet[minute]:
        reason = _QUIET_HOURS
    else:
        key = callee if callee is not None else (facts.ruri_user or "")
        if rules.behaviour_limits:
            limited = _behaviour(rules, state, (t, day), caller, key, operator)
        elif state.take_call_slot(operator, key, day, rules.max_calls):
            limited = None
        else:
            limited = _FREQUENCY_CAP
        if limited is None:
            return Verdict(
                _ALLOWED, _OUT, caller, callee, caller, operator, trunk, credential,
                False, None, None, header,  # noqa: FBT003 (positional like the dataclass)
            )  # fmt: skip
        reason = limited
    suspended = reason in _COUNTED and _count_violation(rules, state, now, caller, reason)
    return Verdict(
        reason, _OUT, caller, callee, caller, operator, trunk, None, suspended, None, None,
        header,
    )  # fmt: skip


def _behaviour(
    rules: Ruleset, state: State, when: tuple[float, date], nsn: str, key: str, operator: str
) -> Reason | None:
    """Checks 12, 12a and 12b (rules 1.1 section 5) when a behavioural limit is set."""
    t, day = when
    cap = rules.max_calls
    if cap is not None and state.calls_on(operator, key, day) >= cap:
        return _FREQUENCY_CAP
    over = limits.breached(rules, state, nsn, key, t)
    if over:
        return over[0]
    if not state.take_call_slot(operator, key, day, cap):
        return _FREQUENCY_CAP
    limits.record(rules, state, nsn, key, t)
    return None


def _count_violation(rules: Ruleset, state: State, now: datetime, nsn: str, reason: Reason) -> bool:
    """Record a counted rejection; suspend the number when it reaches the limit."""
    limit = rules.suspend_after
    if limit is None:
        return False
    count = state.add_violation(nsn, now, rules.violation_window)
    if count < limit or reason is _NUMBER_SUSPENDED:
        return False
    if state.suspension(nsn) is not None:
        return False
    state.suspend(nsn, now, reason.value, by="policy")
    return True
