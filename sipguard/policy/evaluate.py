"""The decision: call facts + ruleset + state + time -> verdict (rules spec sections 3 and 4).

Invariants:
- Checks run in the precedence order of spec section 4 and the first that applies wins.
- Pure apart from ``state``: no I/O, no clock (``now`` is passed in, timezone-aware), no
  logging.  Local date and minute are computed once per call, in the rules' zone.
- State writes: an allowed outbound call takes a daily slot (the FREQUENCY_CAP check is that
  atomic ``take_call_slot``, done last); a counted rejection (8 to 12) is recorded with
  ``add_violation``; the rejection that reaches ``suspend_after_violations`` within the
  window suspends the number, keeps its own reason and sets ``suspended_now``.
- Inbound: LICENCE_INVALID (7) needs the filed callee number's operator, so it is checked
  once the number is found; CALLEE_LENGTH_CHANGED/UNREGISTERED (13, 14) apply only when no
  number is found, so the two never compete and the table order is kept.
"""

from __future__ import annotations

from datetime import datetime

from sipguard.policy.facts import CallFacts, Direction, Reason, Verdict
from sipguard.policy.numbers import NumberEntry, normalise
from sipguard.policy.ruleset import Ruleset
from sipguard.policy.state import State

_HIDING = frozenset({"id", "user", "header"})
_OUT = Direction.OUTBOUND
_IN = Direction.INBOUND


def evaluate(facts: CallFacts, rules: Ruleset, state: State, now: datetime) -> Verdict:
    """Decide one initial INVITE; update ``state`` for allowed and counted outbound calls."""
    if now.tzinfo is None:
        raise ValueError("evaluate needs a timezone-aware 'now'")
    direction, trunk = rules.classify_source(facts.source_ip)
    cc, prefix = rules.country_code, rules.national_prefix
    ruri = facts.ruri_user
    callee = normalise(ruri, cc, prefix) if ruri is not None else None
    pai = facts.pai_user
    raw_caller = pai if pai is not None else facts.from_user
    caller = normalise(raw_caller, cc, prefix) if raw_caller is not None else None
    if direction is None:
        return Verdict(Reason.UNKNOWN_SOURCE, None, caller, callee, None, None, None)
    if direction is _IN:
        return _inbound(rules, now, caller, callee)
    assert trunk is not None
    return _outbound(facts, rules, state, now, trunk, caller, callee)


def _hidden(facts: CallFacts, caller: str | None) -> bool:
    if caller is None:
        return True
    if facts.privacy and not _HIDING.isdisjoint(facts.privacy):
        return True
    user, host = facts.from_user, facts.from_host
    if user is not None and user.lower() == "anonymous":
        return True
    return host is not None and host.lower() == "anonymous.invalid"


def _inbound(rules: Ruleset, now: datetime, caller: str | None, callee: str | None) -> Verdict:
    entry = rules.numbers.lookup(callee) if callee is not None else None
    if entry is None:
        related = callee is not None and rules.numbers.length_related(callee)
        reason = Reason.CALLEE_LENGTH_CHANGED if related else Reason.CALLEE_UNREGISTERED
        return Verdict(reason, _IN, caller, callee, None, None, None)
    if now.astimezone(rules.zone).toordinal() > entry.licence_until:
        reason = Reason.LICENCE_INVALID
    elif not entry.inbound:
        reason = Reason.CALLEE_NOT_INBOUND
    else:
        reason = Reason.ALLOWED
    return Verdict(reason, _IN, caller, callee, entry.nsn, entry.operator, entry.trunk)


def _outbound(
    facts: CallFacts,
    rules: Ruleset,
    state: State,
    now: datetime,
    trunk: str,
    caller: str | None,
    callee: str | None,
) -> Verdict:
    operator = rules.trunk_operator[trunk]
    if _hidden(facts, caller):
        return Verdict(Reason.CALLER_HIDDEN, _OUT, caller, callee, None, operator, trunk)
    assert caller is not None
    entry = rules.numbers.lookup(caller)
    if entry is None:
        related = rules.numbers.length_related(caller)
        unfiled = Reason.NUMBER_LENGTH_CHANGED if related else Reason.CALLER_UNREGISTERED
        return Verdict(unfiled, _OUT, caller, callee, None, operator, trunk)
    nsn = entry.nsn
    reason: Reason | None = _identity(facts, rules, entry, trunk, caller)
    if reason is not None:
        return Verdict(reason, _OUT, caller, callee, nsn, operator, trunk)
    local = now.astimezone(rules.zone)
    if local.toordinal() > entry.licence_until:
        return Verdict(Reason.LICENCE_INVALID, _OUT, caller, callee, nsn, operator, trunk)
    credential: str | None = None
    if not entry.outbound:
        reason = Reason.INBOUND_ONLY
    elif state.suspension(nsn) is not None:
        reason = Reason.NUMBER_SUSPENDED
    else:
        if rules.require_consent:
            if callee is not None:
                credential = rules.consents.find(nsn, callee, now.timestamp())
            if credential is None:
                reason = Reason.NO_CONSENT
        if reason is None and rules.quiet[local.hour * 60 + local.minute]:
            reason = Reason.QUIET_HOURS
        key = callee if callee is not None else (facts.ruri_user or "")
        if reason is None and not state.take_call_slot(
            entry.operator, key, local.date(), rules.max_calls
        ):
            reason = Reason.FREQUENCY_CAP
    if reason is None:
        return Verdict(Reason.ALLOWED, _OUT, caller, callee, nsn, operator, trunk, credential)
    suspended = _count_violation(rules, state, now, nsn, reason)
    return Verdict(reason, _OUT, caller, callee, nsn, operator, trunk, None, suspended)


def _identity(
    facts: CallFacts, rules: Ruleset, entry: NumberEntry, trunk: str, caller: str
) -> Reason | None:
    """Checks 5 and 6: the number belongs to this trunk and PAI agrees with From."""
    if entry.trunk != trunk:
        return Reason.CALLER_NOT_ON_TRUNK
    from_user = facts.from_user
    if facts.pai_user is not None and from_user is not None:
        shown = normalise(from_user, rules.country_code, rules.national_prefix)
        if shown is not None and shown != caller:
            return Reason.IDENTITY_MISMATCH
    return None


def _count_violation(rules: Ruleset, state: State, now: datetime, nsn: str, reason: Reason) -> bool:
    """Record a counted rejection; suspend the number when it reaches the limit."""
    limit = rules.suspend_after
    if limit is None:
        return False
    count = state.add_violation(nsn, now, rules.violation_window)
    if count < limit or reason is Reason.NUMBER_SUSPENDED:
        return False
    if state.suspension(nsn) is not None:
        return False
    state.suspend(nsn, now, reason.value, by="policy")
    return True
