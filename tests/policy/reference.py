"""The plain, obvious form of ``evaluate``: the oracle its fast path is pinned to.

Every step is written as spec section 4 (and rules 1.1 section 1) reads: the identity
headers in precedence order, any two numbers that differ a mismatch, ``Verdict(...)``
built by its constructor, numbers through ``normalise``, the local time through
``now.astimezone(rules.zone)``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sipguard.policy import CallFacts, Direction, Reason, Ruleset, State, Verdict, normalise

R = Reason
OUT = Direction.OUTBOUND


def reference_evaluate(facts: CallFacts, rules: Ruleset, state: State, now: datetime) -> Verdict:
    """Decide one call exactly as the spec's precedence table reads."""

    def nsn(raw: str | None) -> str | None:
        return None if raw is None else normalise(raw, rules.country_code, rules.national_prefix)

    callee = nsn(facts.ruri_user)
    for prefix in rules.carrier_prefixes:  # stripped once, on the separator-free digits
        user = (facts.ruri_user or "").partition(";")
        digits = user[0].translate(str.maketrans("", "", "-. ()"))
        if digits.startswith(prefix) and len(digits) > len(prefix):
            callee = nsn(digits[len(prefix) :] + user[1] + user[2])
            break
    carried = [(h, nsn(raw)) for h, raw in (*_listed(facts), ("from", facts.from_user))]
    numbers = [(h, n) for h, n in carried if n is not None]
    header, caller = numbers[0] if numbers else (None, None)
    mismatch = len({n for _, n in numbers}) > 1
    verdict = _decide(facts, rules, state, now, (caller, callee, mismatch))
    return dataclasses.replace(verdict, identity_header=header)


def _decide(
    facts: CallFacts,
    rules: Ruleset,
    state: State,
    now: datetime,
    call: tuple[str | None, str | None, bool],
) -> Verdict:
    """The precedence table for (caller, callee, identity mismatch) ``call``."""
    caller, callee, mismatch = call
    direction, trunk = rules.classify_source(facts.source_ip)
    local = now.astimezone(rules.zone)
    if direction is None:
        return Verdict(R.UNKNOWN_SOURCE, None, caller, callee, None, None, None)
    if direction is Direction.INBOUND:
        return _inbound(rules, local, caller, callee)
    assert trunk is not None
    operator = rules.trunk_operator[trunk]
    hidden = (
        caller is None
        or any(p in ("id", "user", "header") for p in facts.privacy)
        or (facts.from_user or "").lower() == "anonymous"
        or (facts.from_host or "").lower() == "anonymous.invalid"
        or facts.rpid_hidden
        or any((raw or "").lower() == "anonymous" for _, raw in _listed(facts))
    )
    if hidden:
        return Verdict(R.CALLER_HIDDEN, OUT, caller, callee, None, operator, trunk)
    assert caller is not None
    if facts.forwarded and rules.model.trunks[trunk].forwarding:
        return _forward_check(facts, rules, state, now, (caller, callee, operator, trunk))
    entry = rules.numbers.lookup(caller)
    if entry is None:
        related = rules.numbers.length_related(caller)
        reason = R.NUMBER_LENGTH_CHANGED if related else R.CALLER_UNREGISTERED
        return Verdict(reason, OUT, caller, callee, None, operator, trunk)
    if entry.trunk != trunk:
        reason = R.CALLER_NOT_ON_TRUNK
    elif mismatch:
        reason = R.IDENTITY_MISMATCH
    elif local.date().toordinal() > entry.licence_until:
        reason = R.LICENCE_INVALID
    else:
        return _limits(facts, rules, state, now, caller, callee, operator, trunk)
    return Verdict(reason, OUT, caller, callee, entry.nsn, operator, trunk)


def _listed(facts: CallFacts) -> tuple[tuple[str, str | None], ...]:
    """Every identity header value but From; one PAI value may stand alone as pai_user."""
    if facts.identities or facts.pai_user is None:
        return facts.identities
    return (("p-asserted-identity", facts.pai_user),)


def _inbound(rules: Ruleset, local: datetime, caller: str | None, callee: str | None) -> Verdict:
    """Checks 7, 13, 14 and 15 of an inbound call."""
    entry = rules.numbers.lookup(callee) if callee is not None else None
    if entry is None:
        related = callee is not None and rules.numbers.length_related(callee)
        reason = R.CALLEE_LENGTH_CHANGED if related else R.CALLEE_UNREGISTERED
        return Verdict(reason, Direction.INBOUND, caller, callee, None, None, None)
    if local.date().toordinal() > entry.licence_until:
        reason = R.LICENCE_INVALID
    else:
        reason = R.ALLOWED if entry.inbound else R.CALLEE_NOT_INBOUND
    return Verdict(
        reason, Direction.INBOUND, caller, callee, entry.nsn, entry.operator, entry.trunk
    )


def _limits(
    facts: CallFacts,
    rules: Ruleset,
    state: State,
    now: datetime,
    caller: str,
    callee: str | None,
    operator: str,
    trunk: str,
) -> Verdict:
    """Checks 8 to 12, then counting the rejection and suspending the number."""
    entry = rules.numbers.lookup(caller)
    assert entry is not None
    local = now.astimezone(rules.zone)
    credential = None
    if callee is not None:
        credential = rules.consents.find(entry.nsn, callee, now.timestamp())
    if not entry.outbound:
        reason = R.INBOUND_ONLY
    elif state.suspension(entry.nsn) is not None:
        reason = R.NUMBER_SUSPENDED
    elif rules.require_consent and credential is None:
        reason = R.NO_CONSENT
    elif rules.quiet[local.hour * 60 + local.minute]:
        reason = R.QUIET_HOURS
    elif not state.take_call_slot(
        entry.operator, callee or facts.ruri_user or "", local.date(), rules.max_calls
    ):
        reason = R.FREQUENCY_CAP
    else:
        cred = credential if rules.require_consent else None
        return Verdict(R.ALLOWED, OUT, caller, callee, entry.nsn, operator, trunk, cred)
    suspended = _count(rules, state, now, entry.nsn, reason)
    return Verdict(reason, OUT, caller, callee, entry.nsn, operator, trunk, None, suspended)


def _count(rules: Ruleset, state: State, now: datetime, number: str, reason: Reason) -> bool:
    """Count a rejection as a violation of ``number``; True when that suspends it."""
    if rules.suspend_after is None:
        return False
    count = state.add_violation(number, now, rules.violation_window)
    reached = count >= rules.suspend_after and reason is not R.NUMBER_SUSPENDED
    if reached and state.suspension(number) is None:
        state.suspend(number, now, reason.value, by="policy")
        return True
    return False


def _forward_check(
    facts: CallFacts,
    rules: Ruleset,
    state: State,
    now: datetime,
    call: tuple[str, str | None, str, str],
) -> Verdict:
    """Check 2a as rules 1.1 section 3 reads."""
    caller, callee, operator, trunk = call
    raw = facts.diverting_user
    diverting = None if raw is None else normalise(raw, rules.country_code, rules.national_prefix)
    entry = None if diverting is None else rules.numbers.lookup(diverting)
    own = entry is not None and entry.trunk == trunk
    if own and entry is not None and entry.inbound:
        assert diverting is not None
        if state.inbound_up(caller, diverting, now - rules.forwarding_window):
            return Verdict(
                R.ALLOWED, OUT, caller, callee, diverting, operator, trunk, forwarded=True
            )
    if not own:
        return Verdict(R.FORWARD_UNVERIFIED, OUT, caller, callee, None, operator, trunk)
    assert diverting is not None
    suspended = _count(rules, state, now, diverting, R.FORWARD_UNVERIFIED)
    return Verdict(
        R.FORWARD_UNVERIFIED, OUT, caller, callee, diverting, operator, trunk, None, suspended
    )
