"""evaluate: one test per reason, the precedence of spec section 4, and the state it keeps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sipguard.policy import (
    CallFacts,
    Direction,
    MemoryState,
    Reason,
    Ruleset,
    Verdict,
    evaluate,
    load_rules,
)

from .conftest import BASE, Write, at, inc, out

R = Reason
NOON_BEFORE = "2026-06-01 10:00"


def _decide(
    rules: Ruleset, facts: CallFacts, when: str = NOON_BEFORE, state: MemoryState | None = None
) -> Verdict:
    return evaluate(facts, rules, state or MemoryState(), at(when))


# One case per reason: facts, local time, and the status the reason is answered with.
REASONS: list[tuple[Reason, CallFacts, str, int]] = [
    (R.UNKNOWN_SOURCE, out(source="192.0.2.99"), NOON_BEFORE, 403),
    (R.CALLER_HIDDEN, out(caller="anonymous"), NOON_BEFORE, 403),
    (R.NUMBER_LENGTH_CHANGED, out(caller="40080012345"), NOON_BEFORE, 403),
    (R.CALLER_UNREGISTERED, out(caller="13700000000"), NOON_BEFORE, 403),
    (R.CALLER_NOT_ON_TRUNK, out(source="192.0.2.20"), NOON_BEFORE, 403),
    (R.IDENTITY_MISMATCH, out(caller="95123", pai="4008001234"), NOON_BEFORE, 403),
    (R.LICENCE_INVALID, out(), "2028-01-01 10:00", 403),
    (R.INBOUND_ONLY, out(caller="95123"), NOON_BEFORE, 403),
    (R.NO_CONSENT, out(callee="13700000000"), NOON_BEFORE, 403),
    (R.QUIET_HOURS, out(), "2026-06-01 21:00", 403),
    (R.CALLEE_LENGTH_CHANGED, inc(callee="951230"), NOON_BEFORE, 404),
    (R.CALLEE_UNREGISTERED, inc(callee="13700000000"), NOON_BEFORE, 404),
    (R.CALLEE_NOT_INBOUND, inc(callee="020 6123 4567"), NOON_BEFORE, 403),
    (R.ALLOWED, out(), NOON_BEFORE, 0),
    (R.ALLOWED, inc(), NOON_BEFORE, 0),
]


@pytest.mark.parametrize(("reason", "facts", "when", "status"), REASONS)
def test_each_reason(
    rules: Ruleset, reason: Reason, facts: CallFacts, when: str, status: int
) -> None:
    """Each reason applies in its documented situation and carries its SIP status."""
    verdict = _decide(rules, facts, when)
    assert verdict.reason is reason
    assert verdict.status == status
    if reason is not R.ALLOWED:
        assert verdict.reason_header == f'SIP;cause={status};text="{reason.value}"'


def test_number_suspended(rules: Ruleset) -> None:
    """A suspended number's outbound calls are refused with NUMBER_SUSPENDED."""
    state = MemoryState()
    state.suspend("4008001234", at(NOON_BEFORE), "QUIET_HOURS", by="test")
    assert _decide(rules, out(), state=state).reason is R.NUMBER_SUSPENDED


def test_frequency_cap(rules: Ruleset) -> None:
    """The third allowed-looking call of a local day to one callee hits FREQUENCY_CAP."""
    state = MemoryState()
    reasons = [
        _decide(rules, out(), t, state).reason
        for t in ("2026-06-01 09:00", "2026-06-01 10:00", "2026-06-01 11:00")
    ]
    assert reasons == [R.ALLOWED, R.ALLOWED, R.FREQUENCY_CAP]
    assert state.calls_on("acme", "13800138000", at(NOON_BEFORE).date()) == 2
    assert _decide(rules, out(), "2026-06-02 08:00", state).reason is R.ALLOWED


def test_cap_counts_only_allowed_calls(rules: Ruleset) -> None:
    """Rejected calls take no daily slot."""
    state = MemoryState()
    for when in ("2026-06-01 07:00", "2026-06-01 12:30", "2026-06-01 21:30"):
        assert _decide(rules, out(), when, state).reason is R.QUIET_HOURS
    assert state.calls_on("acme", "13800138000", at(NOON_BEFORE).date()) == 0


def test_cap_day_is_local(rules: Ruleset) -> None:
    """The daily cap follows the rules' calendar day, not UTC's."""
    state = MemoryState()
    utc = UTC
    evaluate(out(), rules, state, datetime(2026, 6, 1, 1, 0, tzinfo=utc))  # 09:00 local, June 1
    evaluate(out(), rules, state, datetime(2026, 6, 1, 2, 0, tzinfo=utc))
    assert evaluate(out(), rules, state, datetime(2026, 6, 2, 1, 0, tzinfo=utc)).allowed


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        ("2026-06-01 20:59:59", R.ALLOWED),
        ("2026-06-01 21:00:00", R.QUIET_HOURS),
        ("2026-06-01 23:59:59", R.QUIET_HOURS),
        ("2026-06-02 00:00:00", R.QUIET_HOURS),
        ("2026-06-02 07:59:59", R.QUIET_HOURS),
        ("2026-06-02 08:00:00", R.ALLOWED),
        ("2026-06-02 11:59:59", R.ALLOWED),
        ("2026-06-02 12:00:00", R.QUIET_HOURS),
        ("2026-06-02 13:29:59", R.QUIET_HOURS),
        ("2026-06-02 13:30:00", R.ALLOWED),
    ],
)
def test_quiet_hours_boundaries(rules: Ruleset, when: str, reason: Reason) -> None:
    """Quiet hours are [start, end) in local time, across midnight too."""
    assert _decide(rules, out(), when).reason is reason


def test_quiet_hours_use_rules_zone(rules: Ruleset) -> None:
    """A UTC 'now' is judged in the rules' zone: 13:00 UTC is 21:00 in Shanghai."""
    now = datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
    assert evaluate(out(), rules, MemoryState(), now).reason is R.QUIET_HOURS


@pytest.mark.parametrize(
    ("when", "reason"),
    [("2027-12-31 23:59:59", R.ALLOWED), ("2028-01-01 00:00:00", R.LICENCE_INVALID)],
)
def test_licence_expiry_day(rules: Ruleset, when: str, reason: Reason) -> None:
    """A licence is valid through its expiry date, local time, and refused the day after."""
    assert _decide(rules, inc(), when).reason is reason


def test_licence_day_is_local(rules: Ruleset) -> None:
    """2027-12-31 16:00 UTC is already 2028-01-01 in Shanghai: the licence has expired."""
    now = datetime(2027, 12, 31, 16, 0, tzinfo=UTC)
    assert evaluate(inc(), rules, MemoryState(), now).reason is R.LICENCE_INVALID


def test_harassment_pledge_false(write_rules: Write) -> None:
    """An operator without the harassment pledge is refused both ways."""
    text = BASE.replace("harassment_pledge: true", "harassment_pledge: false", 1)
    ruleset = load_rules(write_rules(text))
    assert _decide(ruleset, out()).reason is R.LICENCE_INVALID
    assert _decide(ruleset, inc()).reason is R.LICENCE_INVALID


@pytest.mark.parametrize(
    "facts",
    [
        out(caller="Anonymous"),
        out(from_host="anonymous.invalid"),
        out(privacy=("id",)),
        out(privacy=("none", "user")),
        out(privacy=("header",)),
        out(caller="alice"),
        out(caller=None),
        out(caller="4008001234", pai="anonymous"),
    ],
)
def test_caller_hidden_forms(rules: Ruleset, facts: CallFacts) -> None:
    """Every hidden form of spec section 4 row 2 gives CALLER_HIDDEN."""
    assert _decide(rules, facts).reason is R.CALLER_HIDDEN


def test_privacy_none_does_not_hide(rules: Ruleset) -> None:
    """Privacy: none (or other values) does not hide the caller."""
    assert _decide(rules, out(privacy=("none",))).reason is R.ALLOWED


def test_pai_is_caller_identity(rules: Ruleset) -> None:
    """With a PAI, its number is the caller; a From without a number is no mismatch."""
    verdict = _decide(rules, out(caller="alice", pai="+86-400-800-1234"))
    assert verdict.reason is R.ALLOWED
    assert verdict.caller == "4008001234"
    same = _decide(rules, out(caller="4008001234", pai="tel:4008001234"))
    assert same.reason is R.ALLOWED


def test_allowed_outbound_fields(rules: Ruleset) -> None:
    """An allowed outbound call reports NSNs, the filed number, operator, trunk and credential."""
    verdict = _decide(rules, out(caller="+86 400 800 1234", callee="+86 13800138000"))
    assert verdict == Verdict(
        R.ALLOWED,
        Direction.OUTBOUND,
        "4008001234",
        "13800138000",
        "4008001234",
        "acme",
        "acme-1",
        "C-1",
        identity_header="from",
    )


def test_allowed_inbound_fields(rules: Ruleset) -> None:
    """An allowed inbound call names the callee's filed number, operator and trunk."""
    verdict = _decide(rules, inc(callee="95123", caller="0086 138 0013 8000"))
    assert verdict == Verdict(
        R.ALLOWED,
        Direction.INBOUND,
        "13800138000",
        "95123",
        "95123",
        "acme",
        "acme-1",
        identity_header="from",
    )
    assert rules.deliver_to(Direction.INBOUND, verdict.trunk) == rules.trunk_targets["acme-1"]


def test_unknown_source_has_no_direction(rules: Ruleset) -> None:
    """UNKNOWN_SOURCE is the only verdict with direction None."""
    verdict = _decide(rules, out(source="10.9.9.9"))
    assert verdict.direction is None and verdict.number is None and verdict.operator is None


def test_naive_now_refused(rules: Ruleset) -> None:
    """A naive 'now' is a programming error, not a silent guess."""
    with pytest.raises(ValueError):
        evaluate(out(), rules, MemoryState(), datetime(2026, 6, 1, 10, 0))


def test_no_consent_required_and_no_cap(write_rules: Write) -> None:
    """Without require_consent and a cap, calls pass with no credential and no limit."""
    text = BASE.replace("require_consent: true", "require_consent: false").replace(
        "  max_calls_per_callee_per_day: 2\n", ""
    )
    ruleset = load_rules(write_rules(text))
    state = MemoryState()
    verdicts = [_decide(ruleset, out(callee="13700000000"), NOON_BEFORE, state) for _ in range(5)]
    assert {v.reason for v in verdicts} == {R.ALLOWED}
    assert {v.credential for v in verdicts} == {None}
