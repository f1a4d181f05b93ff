"""Monitor mode (rules 1.1 section 4): outbound checks that watch instead of rejecting.

Invariants:
- ``monitored_outbound`` runs the outbound checks 2 to 12 in precedence order, as
  ``evaluate`` does, for a call from a trunk that monitors anything.  A check that applies
  and is monitored does not reject: the call goes on to the remaining checks, and the first
  such reason is the verdict's ``monitored``.  A check that applies and is not monitored
  rejects, as in ``evaluate``.  With nothing monitored it decides exactly as ``evaluate``
  (tests/policy/test_monitor.py pins the two together).
- A number that is not filed (monitored 2 to 4) has no checks 5 to 9; consents, quiet hours
  and the daily cap still apply to the call.
- Monitored reasons never count as violations.  A call allowed under monitoring takes a
  daily slot like any allowed call (the cap check is that atomic take, done last).
- Pure like ``evaluate``: state only, no I/O, no clock, no logging.
"""

from __future__ import annotations

from datetime import datetime

from sipguard.policy import limits
from sipguard.policy.facts import CallFacts, Direction, NumberState, Reason, Verdict, new_verdict
from sipguard.policy.numbers import NumberEntry
from sipguard.policy.period import out_of_period
from sipguard.policy.ruleset import Ruleset
from sipguard.policy.state import State

R = Reason
_HIDING = frozenset({"id", "user", "header"})
#: Reasons ``outbound.monitor`` may name (checks 8 to 12).
MONITORABLE = frozenset(
    {R.INBOUND_ONLY, R.NUMBER_SUSPENDED, R.NO_CONSENT, R.QUIET_HOURS, R.FREQUENCY_CAP,
     R.CALL_RATE_EXCEEDED, R.MASS_CALLING}
)  # fmt: skip


class _Run:
    """One call's walk through the checks: what is watched, and the first watched hit."""

    __slots__ = ("first", "watch")

    def __init__(self, watch: frozenset[Reason] | None) -> None:
        self.watch = watch  # None: every outbound check is watched
        self.first: Reason | None = None

    def rejects(self, reason: Reason) -> bool:
        """True when ``reason`` applies and rejects; a watched reason is noted instead."""
        if self.watch is None or reason in self.watch:
            if self.first is None:
                self.first = reason
            return False
        return True


def monitored_outbound(
    facts: CallFacts, rules: Ruleset, state: State, now: datetime, trunk: str
) -> Verdict:
    """Checks 2 to 12 of an outbound call from ``trunk``, with its monitored checks watched."""
    watch = None if trunk in rules.monitor_trunks else rules.monitor_reasons
    run = _Run(watch)
    nsn = rules.nsn
    callee = nsn(facts.ruri_user)
    caller = nsn(facts.pai_user if facts.pai_user is not None else facts.from_user)
    call = (caller, callee, rules.trunk_operator[trunk], trunk)
    entry, filing, reason = _identity(facts, rules, now, caller, run)
    if reason is not None:
        return _verdict(reason, call, caller if filing else None, run, filing)
    if entry is not None:
        reason = _filed(facts, rules, state, now, entry, call, run)
    if reason is None:
        reason, credential = _limits(facts, rules, state, now, call, entry, run)
        if reason is None:
            number = caller if entry is not None or filing else None
            return _verdict(R.ALLOWED, call, number, run, filing, credential)
    number = caller if entry is not None else None
    suspended = False
    if reason.counts_as_violation and entry is not None:
        suspended = _count(rules, state, now, caller or "", reason)
    return _verdict(reason, call, number, run, filing, None, suspended)


def _identity(
    facts: CallFacts, rules: Ruleset, now: datetime, caller: str | None, run: _Run
) -> tuple[NumberEntry | None, NumberState | None, Reason | None]:
    """Checks 2 to 4: the filed entry (None when unfiled), its period state, a rejection."""
    user, host = facts.from_user, facts.from_host
    hidden = (
        not _HIDING.isdisjoint(facts.privacy)
        or (user is not None and user.lower() == "anonymous")
        or (host is not None and host.lower() == "anonymous.invalid")
    )
    if (caller is None or hidden) and run.rejects(R.CALLER_HIDDEN):
        return None, None, R.CALLER_HIDDEN
    entry = rules.numbers.get(caller) if caller is not None else None
    filing = out_of_period(entry, rules, now) if entry is not None else None
    if caller is not None and (entry is None or filing is not None):
        related = filing is None and rules.numbers.length_related(caller)
        reason = R.NUMBER_LENGTH_CHANGED if related else R.CALLER_UNREGISTERED
        if run.rejects(reason):
            return None, filing, reason
        return None, filing, None
    if caller is None:
        return None, None, None
    return entry, None, None


def _filed(
    facts: CallFacts,
    rules: Ruleset,
    state: State,
    now: datetime,
    entry: NumberEntry,
    call: tuple[str | None, str | None, str, str],
    run: _Run,
) -> Reason | None:
    """Checks 5 to 9 of a filed caller: the first that applies and rejects, or None."""
    caller, _, _, trunk = call
    ordinal = rules.clock.at(now)[1][0]
    shown = rules.nsn(facts.from_user)
    checks = (
        (R.CALLER_NOT_ON_TRUNK, entry.trunk != trunk),
        (R.IDENTITY_MISMATCH, facts.pai_user is not None and shown not in (None, caller)),
        (R.LICENCE_INVALID, ordinal > entry.licence_until),
        (R.INBOUND_ONLY, not entry.outbound),
        (R.NUMBER_SUSPENDED, caller is not None and state.suspension(caller) is not None),
    )
    for reason, applies in checks:
        if applies and run.rejects(reason):
            return reason
    return None


def _limits(
    facts: CallFacts,
    rules: Ruleset,
    state: State,
    now: datetime,
    call: tuple[str | None, str | None, str, str],
    entry: NumberEntry | None,
    run: _Run,
) -> tuple[Reason | None, str | None]:
    """Checks 10 to 12; the daily slot is taken only when nothing else rejects."""
    caller, callee, operator, _ = call
    t, (_, minute, day) = rules.clock.at(now)
    credential = None
    if rules.require_consent:
        if entry is not None and caller is not None and callee is not None:
            credential = rules.consents.find(caller, callee, t)
        if credential is None and run.rejects(R.NO_CONSENT):
            return R.NO_CONSENT, None
    if rules.quiet[minute] and run.rejects(R.QUIET_HOURS):
        return R.QUIET_HOURS, None
    key = callee if callee is not None else (facts.ruri_user or "")
    cap = rules.max_calls
    if rules.behaviour_limits and caller is not None and entry is not None:
        full = cap is not None and state.calls_on(operator, key, day) >= cap
        if full and run.rejects(R.FREQUENCY_CAP):
            return R.FREQUENCY_CAP, None
        for reason in limits.breached(rules, state, caller, key, t):
            if run.rejects(reason):
                return reason, None
    if not state.take_call_slot(operator, key, day, cap):
        if run.rejects(R.FREQUENCY_CAP):
            return R.FREQUENCY_CAP, None
        state.take_call_slot(operator, key, day, None)  # allowed while watched: it counts
    if caller is not None and entry is not None:
        limits.record(rules, state, caller, key, t)
    return None, credential


def _verdict(
    reason: Reason,
    call: tuple[str | None, str | None, str, str],
    number: str | None,
    run: _Run,
    filing: NumberState | None,
    credential: str | None = None,
    suspended: bool = False,
) -> Verdict:
    caller, callee, operator, trunk = call
    return new_verdict(
        reason, Direction.OUTBOUND, caller, callee, number, operator, trunk, credential,
        suspended, filing, run.first,
    )  # fmt: skip


def _count(rules: Ruleset, state: State, now: datetime, nsn: str, reason: Reason) -> bool:
    """Record a counted rejection; suspend the number when it reaches the limit."""
    limit = rules.suspend_after
    if limit is None:
        return False
    count = state.add_violation(nsn, now, rules.violation_window)
    if count < limit or reason is R.NUMBER_SUSPENDED or state.suspension(nsn) is not None:
        return False
    state.suspend(nsn, now, reason.value, by="policy")
    return True
