"""Behavioural limits (rules 1.1 section 5): 12a and 12b, their boundaries and precedence."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sipguard.policy import MemoryState, Reason, Ruleset, evaluate, load_rules
from sipguard.policy.state import State

from .conftest import BASE, Write, at, out

R = Reason
T0 = at("2026-06-01 10:00")
CONSENTS = "callee,number,credential,granted_at,expires_at\n" + "".join(
    f"1380000{i:04d},4008001234,C-{i},2026-01-01T00:00:00,2027-01-01T00:00:00\n" for i in range(50)
)


def _rules(write_rules: Write, extra: str, cap: int = 1000, suspend: int = 1000) -> Ruleset:
    text = BASE.replace("max_calls_per_callee_per_day: 2", f"max_calls_per_callee_per_day: {cap}")
    text = text.replace("suspend_after_violations: 3", f"suspend_after_violations: {suspend}")
    text = text.replace('  violation_window: "1h"\n', f'  violation_window: "1h"\n{extra}')
    return load_rules(write_rules(text, consents=CONSENTS))


def _callee(i: int) -> str:
    return f"1380000{i:04d}"


def test_call_rate_boundary(write_rules: Write) -> None:
    """3 per minute: the 4th call within 60 s is refused; at exactly 60 s the first has left."""
    rules = _rules(write_rules, "  max_calls_per_minute_per_number: 3\n")
    state = MemoryState()
    times = [T0, T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)]
    assert all(
        evaluate(out(callee=_callee(i)), rules, state, t).allowed for i, t in enumerate(times)
    )
    refused = evaluate(out(callee=_callee(3)), rules, state, T0 + timedelta(seconds=59))
    assert refused.reason is R.CALL_RATE_EXCEEDED and refused.status == 403
    assert evaluate(out(callee=_callee(4)), rules, state, T0 + timedelta(seconds=60)).allowed


def test_mass_calling_boundary(write_rules: Write) -> None:
    """3 distinct callees per hour: a 4th is refused, a known callee is not, and after an hour
    the first callee has left the window."""
    rules = _rules(write_rules, "  max_distinct_callees_per_hour_per_number: 3\n")
    state = MemoryState()
    for i in range(3):
        assert evaluate(out(callee=_callee(i)), rules, state, T0 + timedelta(minutes=i)).allowed
    later = T0 + timedelta(minutes=10)
    assert evaluate(out(callee=_callee(3)), rules, state, later).reason is R.MASS_CALLING
    assert evaluate(out(callee=_callee(1)), rules, state, later).allowed
    assert evaluate(out(callee=_callee(3)), rules, state, T0 + timedelta(hours=1)).allowed


def test_precedence_against_checks_8_to_12(write_rules: Write) -> None:
    """NO_CONSENT, QUIET_HOURS and FREQUENCY_CAP come first; 12a before 12b."""
    extra = "  max_calls_per_minute_per_number: 1\n  max_distinct_callees_per_hour_per_number: 1\n"
    rules = _rules(write_rules, extra, cap=1)
    state = MemoryState()
    assert evaluate(out(callee=_callee(0)), rules, state, T0).allowed
    soon = T0 + timedelta(seconds=5)
    assert evaluate(out(callee="13700000000"), rules, state, soon).reason is R.NO_CONSENT
    assert (
        evaluate(out(callee=_callee(0)), rules, state, at("2026-06-01 22:00")).reason
        is R.QUIET_HOURS
    )
    assert evaluate(out(callee=_callee(0)), rules, state, soon).reason is R.FREQUENCY_CAP
    assert evaluate(out(callee=_callee(1)), rules, state, soon).reason is R.CALL_RATE_EXCEEDED
    assert (
        evaluate(out(callee=_callee(1)), rules, state, T0 + timedelta(minutes=2)).reason
        is R.MASS_CALLING
    )


def test_refused_calls_take_no_slot_and_count_as_violations(write_rules: Write) -> None:
    """A call refused by 12a takes no daily slot; 3 such refusals suspend the number."""
    rules = _rules(write_rules, "  max_calls_per_minute_per_number: 1\n", cap=5, suspend=3)
    state = MemoryState()
    assert evaluate(out(callee=_callee(0)), rules, state, T0).allowed
    verdicts = [
        evaluate(out(callee=_callee(1)), rules, state, T0 + timedelta(seconds=s)) for s in (1, 2, 3)
    ]
    assert [v.reason for v in verdicts] == [R.CALL_RATE_EXCEEDED] * 3
    assert verdicts[-1].suspended_now
    assert state.calls_on("acme", _callee(1), T0.date()) == 0


def test_monitored_limits_allow_and_report(write_rules: Write) -> None:
    """outbound.monitor may watch 12a: the call goes through with monitored set."""
    extra = "  max_calls_per_minute_per_number: 1\n  monitor: [CALL_RATE_EXCEEDED]\n"
    rules = _rules(write_rules, extra)
    state = MemoryState()
    assert evaluate(out(callee=_callee(0)), rules, state, T0).monitored is None
    watched = evaluate(out(callee=_callee(1)), rules, state, T0 + timedelta(seconds=1))
    assert (watched.reason, watched.monitored) == (R.ALLOWED, R.CALL_RATE_EXCEEDED)


def _window_contract(state: State) -> None:
    """The three State methods as limits.py reads them."""
    t = 1_780_000_000.0
    for i, callee in enumerate(["a", "b", "a"]):
        state.record_call("400", callee, t + i, 3600)
    assert state.calls_since("400", t - 1) == 3
    assert state.calls_since("400", t) == 2  # strictly after
    assert state.callee_seen("400", "a", t) == (True, 2)
    assert state.callee_seen("400", "c", t + 2) == (False, 0)
    assert state.callee_seen("401", "a", 0) == (False, 0)
    state.record_call("400", "c", t + 3601.5, 3600)  # a, b at t, t+1 leave the window
    assert state.calls_since("400", 0) == 2
    assert state.callee_seen("400", "b", 0) == (False, 2)


def test_memory_state_window_contract() -> None:
    _window_contract(MemoryState())


def test_sqlite_state_window_contract(tmp_path: object) -> None:
    from pathlib import Path

    from sipguard.journal.state import SqliteState

    state = SqliteState(Path(str(tmp_path)) / "state.db")
    try:
        _window_contract(state)
    finally:
        state.close()


def test_memory_stays_bounded_with_a_million_active_numbers() -> None:
    """10^6 numbers each calling once, a minute apart per 10^4: only the last hour is held."""
    state = MemoryState()
    t = 1_780_000_000.0
    for i in range(1_000_000):
        state.record_call(str(4000000000 + i), "138", t + (i // 10_000) * 60.0, 3600)
    # 100 minutes of calls at 10^4 per minute: at most 61 minutes' numbers remain.
    assert state.tracked_numbers() <= 61 * 10_000
    assert state.calls_since(str(4000000000 + 999_999), 0) == 1
    assert state.calls_since("4000000000", 0) == 0  # its hour has passed


@pytest.mark.parametrize(
    "field", ["max_calls_per_minute_per_number", "max_distinct_callees_per_hour_per_number"]
)
def test_limits_must_be_positive(write_rules: Write, field: str) -> None:
    from sipguard.errors import RulesError

    with pytest.raises(RulesError) as err:
        _rules(write_rules, f"  {field}: 0\n")
    assert any(f"outbound.{field}" in str(i) for i in err.value.issues)


def _short_rules(write_rules: Write) -> Ruleset:
    return _rules(write_rules, "  short_calls: {seconds: 6, ratio: 0.6, over_last: 5}\n")


def test_short_calls_suspend_only_over_a_full_window_above_the_ratio(write_rules: Write) -> None:
    """5 answered calls, more than 60% under 6 s: 3 of 5 is not more than 0.6, 4 of 5 is."""
    from sipguard.policy import shortcalls

    rules = _short_rules(write_rules)
    state = MemoryState()
    lasted = [1.0, 2.0, 30.0, 5.9, 40.0]  # 3 short of 5: 0.6, not more
    assert not any(shortcalls.call_ended(rules, state, "4008001234", s, T0) for s in lasted)
    assert state.suspension("4008001234") is None
    # windows: [2, 30, 5.9, 40, .5] 3 short, [30, 5.9, 40, .5, .5] 3, [5.9, 40, .5, .5, .5] 4
    got = [shortcalls.call_ended(rules, state, "4008001234", 0.5, T0) for _ in range(3)]
    assert got == [False, False, True]
    (gone,) = state.suspensions()
    assert (gone.reason, gone.by) == ("SHORT_CALLS", "policy")
    assert shortcalls.call_ended(rules, state, "4008001234", 0.5, T0) is False  # once
    assert evaluate(out(callee=_callee(0)), rules, state, T0).reason is R.NUMBER_SUSPENDED


def test_a_call_of_exactly_the_seconds_is_not_short(write_rules: Write) -> None:
    from sipguard.policy import shortcalls

    rules = _short_rules(write_rules)
    state = MemoryState()
    assert not any(shortcalls.call_ended(rules, state, "4008001234", 6.0, T0) for _ in range(9))
    assert state.suspensions() == []


def test_no_short_call_rule_records_nothing(write_rules: Write) -> None:
    from sipguard.policy import shortcalls

    rules = _rules(write_rules, "")
    state = MemoryState()
    assert not any(shortcalls.call_ended(rules, state, "4008001234", 0.1, T0) for _ in range(99))
    assert state.suspensions() == []


def _outcome_contract(state: State) -> None:
    assert [state.record_outcome("400", short=s, keep=3) for s in (True, False, True, True)] == [
        (1, 1), (2, 1), (3, 2), (3, 2),
    ]  # fmt: skip
    assert state.record_outcome("401", short=False, keep=3) == (1, 0)


def test_outcome_windows_keep_the_last_n() -> None:
    from pathlib import Path
    from tempfile import TemporaryDirectory

    from sipguard.journal.state import SqliteState

    _outcome_contract(MemoryState())
    with TemporaryDirectory() as tmp:
        sqlite = SqliteState(Path(tmp) / "state.db")
        try:
            _outcome_contract(sqlite)
        finally:
            sqlite.close()


def test_limit_warning_fires_once_at_80_percent(write_rules: Write) -> None:
    """Daily cap 5: the 4th allowed call (ceil 0.8 * 5) warns, the 3rd and 5th do not."""
    from sipguard.policy import limits

    rules = _rules(write_rules, "  max_calls_per_minute_per_number: 10\n", cap=5)
    state = MemoryState()
    got = []
    for i in range(5):
        now = T0 + timedelta(seconds=i)
        assert evaluate(out(callee=_callee(0)), rules, state, now).allowed
        call = ("4008001234", "acme", _callee(0))
        got.append(limits.warnings(rules, state, call, now.timestamp(), now.date()))
    assert got[3] == [("max_calls_per_callee_per_day", 4, 5)]
    assert got[:3] == [[], [], []] and got[4] == []
    assert all(("max_calls_per_minute_per_number", 8, 10) not in g for g in got)
