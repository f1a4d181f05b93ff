"""Precedence of co-occurring reasons (spec section 4) and violations leading to suspension."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from sipguard.policy import CallFacts, MemoryState, Reason, Ruleset, Verdict, evaluate

from .conftest import at, inc, out

R = Reason
DAY = "2026-06-01"
Setup = Callable[[MemoryState], None]


def _suspended(state: MemoryState) -> None:
    state.suspend("4008001234", at(f"{DAY} 00:00"), "QUIET_HOURS", by="test")
    state.suspend("95123", at(f"{DAY} 00:00"), "INBOUND_ONLY", by="test")


def _capped(state: MemoryState) -> None:
    day = at(f"{DAY} 10:00").date()
    for callee in ("13800138000", "13700000000"):
        for _ in range(2):
            state.take_call_slot("acme", callee, day, 2)


def _nothing(state: MemoryState) -> None:
    return None


NOON = f"{DAY} 10:00"
NIGHT = f"{DAY} 22:00"
EXPIRED = "2028-03-01 22:00"

# (winner, loser, facts, local time, state setup): both reasons hold, the winner is reported.
PAIRS: list[tuple[Reason, Reason, CallFacts, str, Setup]] = [
    (R.UNKNOWN_SOURCE, R.CALLER_HIDDEN, out(source="10.0.0.1", caller="anonymous"), NOON, _nothing),
    (
        R.UNKNOWN_SOURCE,
        R.CALLEE_UNREGISTERED,
        replace(inc(callee="1"), source_ip="10.0.0.1"),
        NOON,
        _nothing,
    ),
    (
        R.CALLER_HIDDEN,
        R.NUMBER_LENGTH_CHANGED,
        out(caller="40080012349", privacy=("id",)),
        NOON,
        _nothing,
    ),
    (
        R.CALLER_HIDDEN,
        R.CALLER_UNREGISTERED,
        out(caller="137", from_host="anonymous.invalid"),
        NOON,
        _nothing,
    ),
    (R.CALLER_HIDDEN, R.QUIET_HOURS, out(privacy=("user",)), NIGHT, _nothing),
    (R.NUMBER_LENGTH_CHANGED, R.CALLER_UNREGISTERED, out(caller="400800123"), NOON, _nothing),
    (
        R.CALLER_UNREGISTERED,
        R.IDENTITY_MISMATCH,
        out(caller="95123", pai="13700000000"),
        NOON,
        _nothing,
    ),
    (
        R.CALLER_NOT_ON_TRUNK,
        R.IDENTITY_MISMATCH,
        out(source="192.0.2.20", caller="95123", pai="4008001234"),
        NOON,
        _nothing,
    ),
    (R.CALLER_NOT_ON_TRUNK, R.LICENCE_INVALID, out(source="192.0.2.20"), EXPIRED, _nothing),
    (
        R.IDENTITY_MISMATCH,
        R.LICENCE_INVALID,
        out(caller="95123", pai="4008001234"),
        EXPIRED,
        _nothing,
    ),
    (R.LICENCE_INVALID, R.INBOUND_ONLY, out(caller="95123"), EXPIRED, _suspended),
    (R.LICENCE_INVALID, R.NO_CONSENT, out(callee="13700000000"), EXPIRED, _nothing),
    (R.INBOUND_ONLY, R.NUMBER_SUSPENDED, out(caller="95123"), NOON, _suspended),
    (R.NUMBER_SUSPENDED, R.NO_CONSENT, out(callee="13700000000"), NOON, _suspended),
    (R.NUMBER_SUSPENDED, R.QUIET_HOURS, out(), NIGHT, _suspended),
    (R.NO_CONSENT, R.QUIET_HOURS, out(callee="13700000000"), NIGHT, _nothing),
    (R.NO_CONSENT, R.FREQUENCY_CAP, out(callee="13700000000"), NOON, _capped),
    (R.QUIET_HOURS, R.FREQUENCY_CAP, out(), NIGHT, _capped),
    (R.LICENCE_INVALID, R.CALLEE_NOT_INBOUND, inc(callee="2061234567"), EXPIRED, _nothing),
    (R.CALLEE_LENGTH_CHANGED, R.CALLEE_UNREGISTERED, inc(callee="9512"), NOON, _nothing),
]


@pytest.mark.parametrize(
    ("winner", "loser", "facts", "when", "setup"),
    PAIRS,
    ids=[f"{w.value}>{lo.value}" for w, lo, *_ in PAIRS],
)
def test_precedence(
    rules: Ruleset, winner: Reason, loser: Reason, facts: CallFacts, when: str, setup: Setup
) -> None:
    """When two reasons hold, the one earlier in the table of spec section 4 is reported."""
    state = MemoryState()
    setup(state)
    assert list(Reason).index(winner) < list(Reason).index(loser)
    assert evaluate(facts, rules, state, at(when)).reason is winner


def _night_calls(rules: Ruleset, state: MemoryState, times: list[str]) -> list[Verdict]:
    return [evaluate(out(), rules, state, at(f"{DAY} {t}")) for t in times]


def test_suspension_within_window(rules: Ruleset) -> None:
    """The rejection that reaches suspend_after_violations inside the window suspends the number."""
    state = MemoryState()
    verdicts = _night_calls(rules, state, ["21:00", "21:30", "21:59:59"])
    assert [v.reason for v in verdicts] == [R.QUIET_HOURS] * 3
    assert [v.suspended_now for v in verdicts] == [False, False, True]
    suspension = state.suspension("4008001234")
    assert suspension is not None
    assert (suspension.by, suspension.reason, suspension.since) == (
        "policy",
        "QUIET_HOURS",
        at(f"{DAY} 21:59:59"),
    )
    later = evaluate(out(), rules, state, at("2026-06-02 10:00"))
    assert later.reason is R.NUMBER_SUSPENDED and not later.suspended_now


def test_no_suspension_just_outside_window(rules: Ruleset) -> None:
    """Violations whose oldest is a full window before the newest do not suspend."""
    state = MemoryState()
    verdicts = _night_calls(rules, state, ["21:00", "21:30", "22:00"])
    assert not any(v.suspended_now for v in verdicts)
    assert state.suspension("4008001234") is None
    assert evaluate(out(), rules, state, at("2026-06-02 10:00")).reason is R.ALLOWED


def test_uncounted_rejections_never_suspend(rules: Ruleset) -> None:
    """Rejections 1 to 7 are not violations of the number."""
    state = MemoryState()
    for _ in range(5):
        evaluate(out(caller="95123", pai="4008001234"), rules, state, at(f"{DAY} 21:00"))
    assert state.suspension("4008001234") is None


def test_inbound_only_counts_and_suspends_once(rules: Ruleset) -> None:
    """INBOUND_ONLY counts as a violation; suspended_now is set only on the first suspension."""
    state = MemoryState()
    verdicts = [evaluate(out(caller="95123"), rules, state, at(f"{DAY} 10:0{i}")) for i in range(5)]
    assert {v.reason for v in verdicts} == {R.INBOUND_ONLY}
    assert [v.suspended_now for v in verdicts] == [False, False, True, False, False]


def test_resume_restores_calls(rules: Ruleset) -> None:
    """After resume, the number calls out again and its old violations are forgotten."""
    state = MemoryState()
    _night_calls(rules, state, ["21:00", "21:10", "21:20"])
    assert state.resume("4008001234")
    assert evaluate(out(), rules, state, at("2026-06-02 10:00")).reason is R.ALLOWED
    again = _night_calls(rules, state, ["21:30"])
    assert not again[0].suspended_now


def test_cap_rejection_counts_as_violation(rules: Ruleset) -> None:
    """FREQUENCY_CAP rejections count towards suspension like the other outbound refusals."""
    state = MemoryState()
    verdicts = [evaluate(out(), rules, state, at(f"{DAY} 10:{m:02d}")) for m in range(5)]
    assert [v.reason for v in verdicts] == [R.ALLOWED, R.ALLOWED] + [R.FREQUENCY_CAP] * 3
    assert verdicts[-1].suspended_now
