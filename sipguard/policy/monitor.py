"""Monitor mode (rules 1.1 section 4): outbound checks that watch instead of rejecting.

Invariants:
- ``monitored_outbound`` runs the outbound checks 2 to 12 (2a included) in precedence order, as
  ``evaluate`` does, for a call from a trunk that monitors anything.  A check that applies
  and is monitored does not reject: the call goes on to the remaining checks, and the first
  such reason is the verdict's ``monitored``.  A check that applies and is not monitored
  rejects, as in ``evaluate``.  With nothing monitored it decides exactly as ``evaluate``
  (tests/policy/test_monitor.py pins the two together).
- The caller identity is ``evaluate``'s (``identity.caller_identity``: every identity
  header, its mismatch for check 6) and so is CALLER_HIDDEN (``identity.hidden``).  Check
  2a is ``forwarding.forwarded_call``: a verified forward is allowed at once; a watched
  FORWARD_UNVERIFIED goes on to checks 3 to 12 like any call and counts nothing.
- A number that is not filed (monitored 2 to 4) has no checks 5 to 9; consents, quiet hours
  and the daily cap still apply to the call.
- Monitored reasons never count as violations.  A call allowed under monitoring takes a
  daily slot like any allowed call (the cap check is that atomic take, done last).
- Pure like ``evaluate``: state only, no I/O, no clock, no logging.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sipguard.policy import limits
from sipguard.policy.facts import CallFacts, Direction, NumberState, Reason, Verdict
from sipguard.policy.forwarding import applies, forwarded_call
from sipguard.policy.identity import CallerIdentity, hidden
from sipguard.policy.numbers import NumberEntry
from sipguard.policy.period import out_of_period
from sipguard.policy.ruleset import Ruleset
from sipguard.policy.state import State

R = Reason
#: Reasons ``outbound.monitor`` may name (checks 8 to 12).
MONITORABLE = frozenset(
    {R.INBOUND_ONLY, R.NUMBER_SUSPENDED, R.NO_CONSENT, R.QUIET_HOURS, R.FREQUENCY_CAP,
     R.CALL_RATE_EXCEEDED, R.MASS_CALLING}
)  # fmt: skip


class _Run:
    """One call's walk through the checks: what is watched, and the first watched hit."""

    __slots__ = ("first", "header", "watch")

    def __init__(self, watch: frozenset[Reason] | None, header: str | None) -> None:
        self.watch = watch  # None: every outbound check is watched
        self.header = header  # the verdict's identity_header
        self.first: Reason | None = None

    def watched(self, reason: Reason) -> bool:
        return self.watch is None or reason in self.watch

    def rejects(self, reason: Reason) -> bool:
        """True when ``reason`` applies and rejects; a watched reason is noted instead."""
        if self.watched(reason):
            if self.first is None:
                self.first = reason
            return False
        return True


def monitored_outbound(
    facts: CallFacts,
    rules: Ruleset,
    state: State,
    now: datetime,
    trunk: str,
    ident: CallerIdentity,
    callee: str | None,
) -> Verdict:
    """Checks 2 to 12 of an outbound call from ``trunk``, with its monitored checks watched;
    ``ident`` is the call's ``caller_identity`` and ``callee`` its callee NSN."""
    watch = None if trunk in rules.monitor_trunks else rules.monitor_reasons
    run = _Run(watch, ident[1])
    caller = ident[0]
    call = (caller, callee, rules.trunk_operator[trunk], trunk)
    if (caller is None or hidden(facts)) and run.rejects(R.CALLER_HIDDEN):
        return _verdict(R.CALLER_HIDDEN, call, None, run, None)
    if applies(facts, rules, trunk):
        forward = _forward(facts, rules, state, now, call, run)
        if forward is not None:
            return forward
    entry, filing, reason = _identity(rules, now, caller, run)
    if reason is not None:
        return _verdict(reason, call, caller if filing else None, run, filing)
    if entry is not None:
        reason = _filed(rules, state, now, entry, call, run, mismatch=ident[2])
    if reason is None:
        reason, credential = _limits(facts, rules, state, now, call, entry, run)
        if reason is None:
            number = caller if entry is not None or filing else None
            return _verdict(R.ALLOWED, call, number, run, filing, credential=credential)
    number = caller if entry is not None else None
    suspended = False
    if reason.counts_as_violation and entry is not None:
        suspended = _count(rules, state, now, caller or "", reason)
    return _verdict(reason, call, number, run, filing, suspended=suspended)


def _forward(
    facts: CallFacts,
    rules: Ruleset,
    state: State,
    now: datetime,
    call: tuple[str | None, str | None, str, str],
    run: _Run,
) -> Verdict | None:
    """Check 2a: the verdict of a verified or rejected forward, None when it is watched."""
    caller, callee, operator, trunk = call
    watched = run.watched(R.FORWARD_UNVERIFIED)
    fwd = (trunk, operator, caller or "", callee, run.header)
    verdict = forwarded_call(facts, rules, state, now, fwd, _nothing if watched else _count)
    if verdict.reason is R.FORWARD_UNVERIFIED and not run.rejects(R.FORWARD_UNVERIFIED):
        return None  # watched: checks 3 to 12 decide
    return verdict if run.first is None else replace(verdict, monitored=run.first)


def _nothing(rules: Ruleset, state: State, now: datetime, nsn: str, reason: Reason) -> bool:
    """A watched FORWARD_UNVERIFIED counts no violation."""
    return False


def _identity(
    rules: Ruleset, now: datetime, caller: str | None, run: _Run
) -> tuple[NumberEntry | None, NumberState | None, Reason | None]:
    """Checks 3 and 4: the filed entry (None when unfiled), its period state, a rejection."""
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
    rules: Ruleset,
    state: State,
    now: datetime,
    entry: NumberEntry,
    call: tuple[str | None, str | None, str, str],
    run: _Run,
    *,
    mismatch: bool,
) -> Reason | None:
    """Checks 5 to 9 of a filed caller: the first that applies and rejects, or None."""
    caller, _, _, trunk = call
    ordinal = rules.clock.at(now)[1][0]
    checks = (
        (R.CALLER_NOT_ON_TRUNK, entry.trunk != trunk),
        (R.IDENTITY_MISMATCH, mismatch),
        (R.LICENCE_INVALID, ordinal > entry.licence_until),
        (R.INBOUND_ONLY, not entry.outbound),
        (R.NUMBER_SUSPENDED, caller is not None and state.suspension(caller) is not None),
    )
    for reason, hit in checks:
        if hit and run.rejects(reason):
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
    credential = _consent(rules, call, entry, t)
    if rules.require_consent and credential is None and run.rejects(R.NO_CONSENT):
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


def _consent(
    rules: Ruleset, call: tuple[str | None, str | None, str, str], entry: NumberEntry | None,
    t: float,
) -> str | None:  # fmt: skip
    """Check 10's credential: the consent of a filed caller's callee, when consent is needed."""
    caller, callee, _, _ = call
    if not rules.require_consent or entry is None or caller is None or callee is None:
        return None
    return rules.consents.find(caller, callee, t)


def _verdict(
    reason: Reason,
    call: tuple[str | None, str | None, str, str],
    number: str | None,
    run: _Run,
    filing: NumberState | None,
    *,
    credential: str | None = None,
    suspended: bool = False,
) -> Verdict:
    caller, callee, operator, trunk = call
    return Verdict(
        reason, Direction.OUTBOUND, caller, callee, number, operator, trunk, credential,
        suspended, filing, run.first, run.header,
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
