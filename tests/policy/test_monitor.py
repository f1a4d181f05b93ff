"""Monitor mode (rules 1.1 section 4): watched checks allow, report and never count."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipguard.errors import RulesError
from sipguard.policy import MemoryState, Reason, Ruleset, evaluate, load_rules
from sipguard.policy.identity import PAI, PPI, RPID, caller_identity
from sipguard.policy.monitor import monitored_outbound

from .conftest import BASE, Write, at, inc, out

R = Reason
DAY, QUIET = at("2026-06-01 10:00"), at("2026-06-01 22:00")


def _rules(write_rules: Write, *, mode: str | None = None, monitor: str | None = None) -> Ruleset:
    text = BASE
    if mode is not None:
        text = text.replace("operators:\n", f"mode: {mode}\noperators:\n", 1)
    if monitor is not None:
        text = text.replace(
            '  violation_window: "1h"\n', f'  violation_window: "1h"\n  monitor: {monitor}\n'
        )
    return load_rules(write_rules(text))


CALLERS = st.sampled_from(
    ["4008001234", "95123", "02061234567", "4008001", "555", "anonymous", None]
)
CALLEES = st.sampled_from(["13800138000", "13900139000", "13700137000", None])
SOURCES = st.sampled_from(["192.0.2.10", "192.0.2.20"])
TIMES = st.sampled_from([DAY, QUIET, at("2026-06-01 12:30"), at("2028-06-01 10:00")])
IDENTITIES = st.sampled_from(
    [(), ((PPI, "4008001234"),), ((PAI, "95123"), (RPID, "4008001234")), ((RPID, "anonymous"),)]
)
# (forwarded, diverting user): forwards of acme-1's inbound number, of an unfiled one, none
FORWARDS = st.sampled_from([(False, None), (True, "95123"), (True, "4008009999")])
ACME = "    operator: acme\n    peers:"
FORWARDING = BASE.replace(ACME, ACME.replace("peers:", "forwarding: true\n    peers:"), 1)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(CALLERS, CALLEES, SOURCES, st.booleans(), TIMES, IDENTITIES, FORWARDS),
        max_size=12,
    )
)
def test_nothing_watched_decides_as_evaluate(calls: list[tuple]) -> None:  # type: ignore[type-arg]
    """The monitored path with nothing watched equals evaluate, state effects included."""
    from pathlib import Path
    from tempfile import TemporaryDirectory

    with TemporaryDirectory() as tmp:
        (Path(tmp) / "consents.csv").write_text(
            "callee,number,credential,granted_at,expires_at\n"
            "13800138000,4008001234,C-1,2026-01-01T00:00:00+08:00,2027-01-01T00:00:00+08:00\n"
        )
        assert FORWARDING != BASE
        (Path(tmp) / "rules.yaml").write_text(FORWARDING)
        rules = load_rules(Path(tmp) / "rules.yaml")
    fast, plain = MemoryState(), MemoryState()
    for state in (fast, plain):
        state.inbound_started("in-1", "4008001234", "95123", DAY)
    for caller, callee, source, pai, now, identities, (forwarded, diverting) in calls:
        facts = replace(
            out(caller=caller, callee=callee, source=source, pai="4008001234" if pai else None),
            identities=identities,
            forwarded=forwarded,
            diverting_user=diverting,
        )
        trunk = rules.classify_source(source)[1] or ""
        ident, to = caller_identity(facts, rules.nsn), rules.callee_nsn(facts.ruri_user)
        got = monitored_outbound(facts, rules, plain, now, trunk, ident, to)
        assert got == evaluate(facts, rules, fast, now)
    assert fast.suspensions() == plain.suspensions()


def test_a_monitored_trunk_allows_and_names_what_it_would_have_rejected(write_rules: Write) -> None:
    """Every outbound check from 2 on is watched; the first that applied is reported."""
    rules = _rules(write_rules, mode="monitor")
    state = MemoryState()
    quiet = evaluate(out(), rules, state, QUIET)
    assert (quiet.reason, quiet.status, quiet.monitored, quiet.verdict) == (
        R.ALLOWED,
        0,
        R.QUIET_HOURS,
        "allow",
    )
    unfiled = evaluate(out(caller="4008009999", callee="13700137000"), rules, state, QUIET)
    assert (unfiled.reason, unfiled.monitored, unfiled.number) == (
        R.ALLOWED,
        R.CALLER_UNREGISTERED,
        None,
    )
    hidden = evaluate(out(privacy=("id",)), rules, state, DAY)
    assert (hidden.reason, hidden.monitored) == (R.ALLOWED, R.CALLER_HIDDEN)
    clean = evaluate(out(), rules, MemoryState(), DAY)
    assert (clean.reason, clean.monitored, clean.credential) == (R.ALLOWED, None, "C-1")
    assert clean.to_json_dict(out(), "t")["monitored"] is None
    assert quiet.to_json_dict(out(), "t")["monitored"] == "QUIET_HOURS"


def test_monitored_reasons_never_count_as_violations(write_rules: Write) -> None:
    """Ten quiet-hours calls on a monitored trunk (suspend after 3) suspend nothing."""
    rules = _rules(write_rules, mode="monitor")
    state = MemoryState()
    for i in range(10):
        verdict = evaluate(out(callee=f"1380013{i:04d}"), rules, state, QUIET)
        assert verdict.allowed and not verdict.suspended_now
    assert state.suspensions() == []


def test_the_monitor_list_watches_only_its_reasons(write_rules: Write) -> None:
    """On an enforcing trunk, outbound.monitor watches QUIET_HOURS; NO_CONSENT still rejects."""
    rules = _rules(write_rules, monitor="[QUIET_HOURS]")
    state = MemoryState()
    assert evaluate(out(), rules, state, QUIET).monitored is R.QUIET_HOURS
    no_consent = evaluate(out(callee="13700137000"), rules, state, QUIET)
    assert (no_consent.reason, no_consent.monitored) == (R.NO_CONSENT, None)
    assert evaluate(out(caller="4008009999"), rules, state, QUIET).reason is R.CALLER_UNREGISTERED


def test_a_later_enforced_check_still_rejects_and_the_watched_one_is_named(
    write_rules: Write,
) -> None:
    """Watched QUIET_HOURS, then the enforced daily cap of 2: the third call is refused."""
    rules = _rules(write_rules, monitor="[QUIET_HOURS]")
    state = MemoryState()
    first, second = (evaluate(out(), rules, state, QUIET) for _ in range(2))
    assert first.allowed and second.allowed  # both count towards the cap
    third = evaluate(out(), rules, state, DAY)
    assert (third.reason, third.monitored) == (R.FREQUENCY_CAP, None)
    fourth = evaluate(out(), rules, state, QUIET)
    assert (fourth.reason, fourth.monitored) == (R.FREQUENCY_CAP, R.QUIET_HOURS)


def test_a_monitored_cap_still_counts_the_call(write_rules: Write) -> None:
    """A call allowed over a watched cap is counted, like any allowed call."""
    rules = _rules(write_rules, monitor="[FREQUENCY_CAP]")
    state = MemoryState()
    verdicts = [evaluate(out(), rules, state, DAY) for _ in range(3)]
    assert [v.monitored for v in verdicts] == [None, None, R.FREQUENCY_CAP]
    assert all(v.allowed for v in verdicts)
    assert state.calls_on("acme", "13800138000", DAY.date()) == 3


def test_inbound_checks_are_never_monitored_and_trunk_mode_wins(write_rules: Write) -> None:
    """Top-level monitor; a trunk set to enforce enforces; inbound calls are never watched."""
    text = BASE.replace("operators:\n", "mode: monitor\noperators:\n", 1).replace(
        "    operator: beta\n", "    operator: beta\n    mode: enforce\n"
    )
    rules = load_rules(write_rules(text))
    assert evaluate(inc(callee="95124"), rules, MemoryState(), DAY).reason is R.CALLEE_UNREGISTERED
    beta = out(caller="02061234567", callee="13700137000", source="192.0.2.20", from_host="x")
    assert evaluate(beta, rules, MemoryState(), DAY).reason is R.NO_CONSENT
    assert evaluate(out(callee="13700137000"), rules, MemoryState(), DAY).monitored is R.NO_CONSENT


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ("mode: watch\noperators:\n", "mode: Input should be 'enforce' or 'monitor'"),
        ("operators:\n", "outbound.monitor.0: Input should be"),
    ],
)
def test_bad_modes_and_reasons_are_located(write_rules: Write, edit: str, message: str) -> None:
    text = BASE.replace("operators:\n", edit, 1)
    if "mode" not in edit:
        text = text.replace(
            '  violation_window: "1h"\n', '  violation_window: "1h"\n  monitor: [CALLER_HIDDEN]\n'
        )
    with pytest.raises(RulesError) as err:
        load_rules(write_rules(text))
    assert any(message in str(i) for i in err.value.issues), err.value.issues


def test_an_unverified_forward_is_watched_on_a_monitored_trunk(write_rules: Write) -> None:
    """Check 2a is watched in monitor mode (checks 3 to 12 then decide), counts nothing, and
    is enforced where only ``outbound.monitor`` watches; a verified forward is allowed."""
    forward = replace(out(caller="13800138000"), forwarded=True, diverting_user="95123")
    text = FORWARDING.replace("operators:\n", "mode: monitor\noperators:\n", 1)
    state = MemoryState()
    watched = evaluate(forward, load_rules(write_rules(text)), state, DAY)
    assert (watched.reason, watched.monitored, watched.forwarded) == (
        R.ALLOWED,
        R.FORWARD_UNVERIFIED,
        False,
    )
    assert state.add_violation("95123", DAY, timedelta(hours=1)) == 1  # none counted before
    partly = FORWARDING.replace(
        '  violation_window: "1h"\n', '  violation_window: "1h"\n  monitor: [QUIET_HOURS]\n'
    )
    enforced = evaluate(forward, load_rules(write_rules(partly)), MemoryState(), DAY)
    assert (enforced.reason, enforced.monitored) == (R.FORWARD_UNVERIFIED, None)
    up = MemoryState()
    up.inbound_started("in-1", "13800138000", "95123", DAY)
    verified = evaluate(forward, load_rules(write_rules(text)), up, DAY)
    assert (verified.reason, verified.forwarded, verified.monitored) == (R.ALLOWED, True, None)
