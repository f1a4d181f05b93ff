"""``callers.resolved`` (the memoised sending side of a call) pinned to ``callers.resolve``
and, through ``evaluate``, to the plain reference; what the memo keeps and what it never keeps.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipguard.policy import (
    CallFacts,
    Direction,
    MemoryState,
    Ruleset,
    callers,
    evaluate,
    load_rules,
)
from sipguard.policy.callers import PLAIN, resolve, resolved

from .conftest import BASE, CONSENTS, ZONE
from .reference import reference_evaluate
from .test_fast_paths import FACTS, GOOD, NOW

MONITORED = BASE.replace("    operator: acme\n", "    operator: acme\n    mode: monitor\n", 1)
FORWARDING = BASE.replace("    operator: acme\n", "    operator: acme\n    forwarding: true\n", 1)


TEXTS = {"base": BASE, "monitored": MONITORED, "forwarding": FORWARDING}


def _load(name: str, tmp_path_factory: pytest.TempPathFactory) -> Ruleset:
    folder = tmp_path_factory.mktemp(name)
    (folder / "consents.csv").write_text(CONSENTS, encoding="utf-8")
    (folder / "rules.yaml").write_text(TEXTS[name], encoding="utf-8")
    return load_rules(folder / "rules.yaml")


@pytest.fixture(scope="module", params=sorted(TEXTS))
def ruleset(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Ruleset:
    return _load(request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=["base", "forwarding"])
def enforcing(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Ruleset:
    """The rulesets the reference models: no trunk in monitor mode."""
    return _load(request.param, tmp_path_factory)


def _strip(facts: CallFacts) -> CallFacts:
    """The same caller headers with nothing that keeps facts out of the memo."""
    return CallFacts(
        facts.call_id, facts.source_ip, facts.source_port, facts.from_user, facts.from_host,
        facts.pai_user, facts.ruri_user,
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(FACTS | GOOD | (FACTS | GOOD).map(_strip), min_size=1, max_size=20))
def test_resolved_equals_resolve(ruleset: Ruleset, calls: list[CallFacts]) -> None:
    """Memo hit or miss, the answer is the plain resolution; only a plain outbound call from
    a filed caller is kept."""
    for facts in calls:
        assert resolved(facts, ruleset) == resolve(facts, ruleset)
        assert resolved(facts, ruleset) == resolve(facts, ruleset)  # now from the memo, if kept
    for key, kept in ruleset.callers.items():
        assert kept[0] is Direction.OUTBOUND and kept[7] == PLAIN and kept[5] is not None
        assert kept == resolve(CallFacts("c", key[0], 5060, key[1], key[2], key[3], None), ruleset)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(GOOD.map(_strip) | FACTS.map(_strip), NOW), min_size=1, max_size=12))
def test_memoised_calls_decide_as_the_reference(
    enforcing: Ruleset, calls: list[tuple[CallFacts, datetime]]
) -> None:
    """Facts that take the memo get the reference's verdicts and leave its state."""
    fast, plain = MemoryState(), MemoryState()
    for facts, now in sorted(calls, key=lambda c: c[1]):
        verdict = evaluate(facts, enforcing, fast, now)
        assert verdict == reference_evaluate(facts, enforcing, plain, now)
    assert fast.suspensions() == plain.suspensions()
    assert fast._counts == plain._counts


def test_inbound_callers_are_never_kept(ruleset: Ruleset) -> None:
    """The public's numbers on inbound calls do not fill the memo."""
    now = datetime(2026, 6, 1, 10, 0, tzinfo=ZONE)
    for i in range(50):
        facts = CallFacts("c", "203.0.113.7", 5060, f"1390000{i:04d}", None, None, "4008001234")
        evaluate(facts, ruleset, MemoryState(), now)
        assert (facts.source_ip, facts.from_user, None, None) not in ruleset.callers


def test_unfiled_callers_are_never_kept(enforcing: Ruleset) -> None:
    """Callers filed nowhere (an extension appended, invented numbers: what a fuzzed or
    misbehaving trunk sends) are resolved afresh, so they cannot fill the memo."""
    enforcing.callers.clear()
    now = datetime(2026, 6, 1, 10, 0, tzinfo=ZONE)
    for user in ["400800123401", *(f"4008{i:06d}" for i in range(40))]:
        facts = CallFacts("c", "192.0.2.10", 5060, user, None, None, "13800138000")
        verdict = evaluate(facts, enforcing, MemoryState(), now)
        assert verdict == reference_evaluate(facts, enforcing, MemoryState(), now)
        assert verdict.reason is not None
    assert ("192.0.2.10", "4008001234", None, None) not in enforcing.callers
    assert not enforcing.callers


def test_the_memo_is_bounded(enforcing: Ruleset, monkeypatch: pytest.MonkeyPatch) -> None:
    """At ``MEMO_LIMIT`` keys the memo stops growing; what it holds stays, and decides."""
    monkeypatch.setattr(callers, "MEMO_LIMIT", 5)
    enforcing.callers.clear()
    now = datetime(2026, 6, 1, 10, 0, tzinfo=ZONE)
    calls = [
        CallFacts("c", "192.0.2.10", 5060, "4008001234", f"h{i}.example", None, "13800138000")
        for i in range(12)
    ]
    for facts in calls + calls:
        verdict = evaluate(facts, enforcing, MemoryState(), now)
        assert verdict == reference_evaluate(facts, enforcing, MemoryState(), now)
    kept = [(f.source_ip, f.from_user, f.from_host, f.pai_user) for f in calls[:5]]
    assert list(enforcing.callers) == kept


def test_a_key_seen_once_is_not_kept(enforcing: Ruleset) -> None:
    """A filed caller beside a From host that never repeats (a fuzzer's bit flips) leaves
    no entry: a key is kept on its second sighting only."""
    enforcing.callers.clear()
    now = datetime(2026, 6, 1, 10, 0, tzinfo=ZONE)
    for i in range(100):
        host = f"h{i}.flipped.example"
        facts = CallFacts("c", "192.0.2.10", 5060, "4008001234", host, None, "13800138000")
        assert evaluate(facts, enforcing, MemoryState(), now).reason is not None
    assert not enforcing.callers
    evaluate(facts, enforcing, MemoryState(), now)
    assert list(enforcing.callers) == [("192.0.2.10", "4008001234", host, None)]


def test_a_monitoring_trunk_is_never_kept(ruleset: Ruleset) -> None:
    """Calls from a trunk in monitor mode are resolved afresh every time."""
    now = datetime(2026, 6, 1, 10, 0, tzinfo=ZONE)
    facts = CallFacts("c", "192.0.2.10", 5060, "4008001234", None, None, "13800138000")
    for _ in range(2):  # a key is kept on its second sighting
        evaluate(facts, ruleset, MemoryState(), now)
    kept = ("192.0.2.10", "4008001234", None, None) in ruleset.callers
    assert kept is not bool(ruleset.monitoring)
