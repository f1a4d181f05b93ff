"""One round trip per decision (adapters/kamailio/one_trip.py), pinned to the plain path.

The plain path asks the journal service each state op in turn (RemoteState) and then
appends the decision; the one-trip path guesses and sends everything at once.  The same
calls, through both, must give the same verdicts, records and state.
"""

from __future__ import annotations

import os
import random
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_ksr import FakeKSR
from rulesdata import write_rules

from sipguard.adapters.kamailio.metrics import REJECTED_503
from sipguard.adapters.kamailio.one_trip import OneTripState, decide, entry_maker
from sipguard.adapters.kamailio.plugin import SipguardKemi
from sipguard.journal import JournalStore, decision_entry
from sipguard.journal.client import RemoteState, ServiceClient
from sipguard.journal.launch import command, spawn
from sipguard.journal.wire import socket_path_for
from sipguard.journal.writer import JournalUnavailable
from sipguard.metrics import JOURNAL_WRITE_FAILURES
from sipguard.policy import Ruleset, evaluate, load_rules
from sipguard.policy.facts import CallFacts, Reason

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
CALLERS = ("4008001234", "4008005678", "4001112222")
CALLEES = ("13800138000", "13900139000", "13700137000", "13500135000", "13100131000")


def _service(folder: Path) -> Iterator[tuple[Ruleset, ServiceClient]]:
    rules = load_rules(write_rules(folder, cap=2))
    assert rules.journal_path is not None
    sock = socket_path_for(rules.journal_path)
    proc: subprocess.Popen[bytes] = spawn(command(rules.journal_path, watch_pid=os.getpid()), sock)
    client = ServiceClient(sock)
    try:
        yield rules, client
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def one(tmp_path: Path) -> Iterator[tuple[Ruleset, ServiceClient]]:
    yield from _service(tmp_path / "one")


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[tuple[Ruleset, ServiceClient]]:
    yield from _service(tmp_path / "plain")


def _facts(i: int, caller: str, callee: str, source: str = "127.0.0.2") -> CallFacts:
    return CallFacts(f"c-{i}", source, 5060, caller, source, None, callee)


def _calls(n: int) -> list[CallFacts]:
    pick = random.Random(9)
    return [
        _facts(
            i,
            pick.choice(CALLERS),
            pick.choice(CALLEES),
            pick.choice(("127.0.0.2",) * 4 + ("127.0.0.5",)),
        )
        for i in range(n)
    ]


def _entries(rules: Ruleset) -> list[tuple[str, str | None, int | None]]:
    assert rules.journal_path is not None
    store = JournalStore(rules.journal_path)
    return [(e.call_id, e.reason, e.suspended_now) for e in store.entries()]


def test_one_trip_decides_and_records_what_the_plain_path_does(
    one: tuple[Ruleset, ServiceClient], plain: tuple[Ruleset, ServiceClient]
) -> None:
    """120 calls of three callers to five callees (caps of 2, suspension after 5 counted
    rejections, numbers resumed and suspended by hand on the way): the same verdicts, the
    same journal and the same state, through either path."""
    (rules, client), (rules_p, client_p) = one, plain
    state, state_p = OneTripState(client), RemoteState(client_p)
    made_again = []
    state.again = lambda real=state.again: made_again.append(1) or real()  # type: ignore[method-assign]
    got, want = [], []
    for i, facts in enumerate(_calls(120)):
        now = T0 + timedelta(seconds=i)
        if i in (40, 80):  # an operator resumes (a stale cache entry for the one trip)
            for other in (RemoteState(ServiceClient(client.path)), state_p):
                other.resume("4008001234")
        if i == 60:  # another worker's suspension the one-trip cache has not seen
            for other in (RemoteState(ServiceClient(client.path)), state_p):
                other.suspend("4008005678", now, "by hand", "noc")
        decided = decide(facts, rules, state, now, entry_maker(facts, rules, now))
        if decided.stored is None:
            assert decided.failed is None
            client.append([decision_entry(facts, decided.verdict, now, rules_hash="x")])
        got.append((decided.verdict.reason, decided.verdict.suspended_now))
        verdict = evaluate(facts, rules_p, state_p, now)
        client_p.append([decision_entry(facts, verdict, now, rules_hash="x")])
        want.append((verdict.reason, verdict.suspended_now))
    assert got == want
    assert len(made_again) >= 2  # the stale cache was hit, and mended
    reasons = {reason for reason, _ in got}
    assert {Reason.ALLOWED, Reason.FREQUENCY_CAP, Reason.NUMBER_SUSPENDED} <= reasons
    assert [e[1:] for e in _entries(rules)] == [e[1:] for e in _entries(rules_p)]
    assert [s.number for s in state.suspensions()] == [s.number for s in state_p.suspensions()]
    day = T0.date()
    for callee in CALLEES:
        assert state.calls_on("acme", callee, day) == state_p.calls_on("acme", callee, day)


def test_an_allowed_call_costs_one_round_trip(one: tuple[Ruleset, ServiceClient]) -> None:
    """The suspension lookup, the daily slot and the record travel in one exchange."""
    rules, client = one
    state = OneTripState(client)
    exchanges = 0
    real = client._exchange

    def counted(requests: list[list[object]]) -> dict[int, list[object]]:
        nonlocal exchanges
        exchanges += 1
        return real(requests)  # type: ignore[arg-type]

    client._exchange = counted  # type: ignore[method-assign]
    facts = _facts(1, "4008001234", "13800138000")
    decided = decide(facts, rules, state, T0, entry_maker(facts, rules, T0))
    assert decided.verdict.reason is Reason.ALLOWED
    assert decided.stored is not None and decided.stored.seq == 1
    assert exchanges == 1
    assert RemoteState(ServiceClient(client.path)).calls_on("acme", "13800138000", T0.date()) == 1


def test_a_wrong_guess_records_nothing_and_the_decision_is_made_again(
    one: tuple[Ruleset, ServiceClient],
) -> None:
    """A number suspended elsewhere after this worker last saw it: the guess 'not suspended'
    fails, no slot is taken and nothing is recorded on it; the call is refused as suspended,
    and the next one is guessed right from what the worker learned."""
    rules, client = one
    state = OneTripState(client)
    RemoteState(ServiceClient(client.path)).suspend("4008001234", T0, "by hand", "noc")
    facts = _facts(1, "4008001234", "13800138000")
    decided = decide(facts, rules, state, T0, entry_maker(facts, rules, T0))
    assert decided.verdict.reason is Reason.NUMBER_SUSPENDED and decided.stored is None
    assert _entries(rules) == []  # the caller appends it on its own
    assert RemoteState(ServiceClient(client.path)).calls_on("acme", "13800138000", T0.date()) == 0
    assert state.cache.get("4008001234") is not None
    again = _facts(2, "4008001234", "13900139000")
    later = T0 + timedelta(seconds=1)
    assert state._guess(["suspension", "4008001234"]) == state.cache.get("4008001234")
    second = decide(again, rules, state, later, entry_maker(again, rules, later))
    assert second.verdict.reason is Reason.NUMBER_SUSPENDED and second.stored is not None


def _kemi_invite(tmp_path: Path, caller: str) -> tuple[FakeKSR, SipguardKemi]:
    rules = write_rules(tmp_path / "kemi")
    ksr = FakeKSR()
    env = {"SIPGUARD_RULES": str(rules), "SIPGUARD_METRICS": "127.0.0.1:1",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}  # fmt: skip
    kemi = SipguardKemi(ksr, environ=env)
    kemi.child_init(1)
    ksr.method, ksr.totag, ksr.loose = "INVITE", False, False
    uris = {"$fu": f"sip:{caller}@127.0.0.2", "$ru": "sip:13800138000@127.0.0.1"}
    ksr.request(**{"$si": "127.0.0.2", "$sp": 5060, "$pr": "udp", "$ci": f"k-{caller}", **uris})
    ksr.pv.values["$sel(cfg_get.sipguard.state)"] = "sqlite"  # the service's state: one trip
    return ksr, kemi


def _record_fails(kemi: SipguardKemi, monkeypatch: pytest.MonkeyPatch) -> None:
    assert kemi.journal is not None
    real = kemi.journal.decide

    def decide(ops: list[list[object]], entry: object) -> object:
        if entry is not None:  # the decision's own round trip: its commit fails
            raise JournalUnavailable("journal write failed: disk full", "full")
        return real(ops, entry)  # type: ignore[arg-type]

    monkeypatch.setattr(kemi.journal, "decide", decide)


def test_an_allowed_outbound_call_whose_record_fails_is_answered_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one trip's record fails: the allowed call is not relayed but answered 503, the
    failure is logged with the record and counted (503 by cause, write failure by class)."""
    ksr, kemi = _kemi_invite(tmp_path, "4008001234")
    _record_fails(kemi, monkeypatch)
    before_503 = REJECTED_503.labels(cause="journal")._value.get()
    failures = JOURNAL_WRITE_FAILURES.labels(error="full")._value.get()
    kemi.ksr_request_route(None)
    assert isinstance(kemi.state, OneTripState)
    assert [r.status for r in ksr.replies] == [503] and ksr.relayed == []
    assert any("journal write failed" in e and "k-4008001234" in e for e in ksr.errors())
    assert REJECTED_503.labels(cause="journal")._value.get() == before_503 + 1
    assert JOURNAL_WRITE_FAILURES.labels(error="full")._value.get() == failures + 1


def test_a_refusal_whose_record_fails_is_still_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused call is answered with its own status even when its record fails."""
    ksr, kemi = _kemi_invite(tmp_path, "4008009999")  # not filed: CALLER_UNREGISTERED
    _record_fails(kemi, monkeypatch)
    kemi.ksr_request_route(None)
    assert [r.status for r in ksr.replies] == [403] and ksr.relayed == []
    assert any("journal write failed" in e for e in ksr.errors())


def test_an_op_outside_a_decision_is_asked_at_once(
    one: tuple[Ruleset, ServiceClient], plain: tuple[Ruleset, ServiceClient]
) -> None:
    """An inbound call started between decisions (the plugin does so after relaying it)
    reaches the service before the next decision, which sees it, as on the plain path."""
    for (_, client), state in ((one, OneTripState(one[1])), (plain, RemoteState(plain[1]))):
        state.inbound_started("call-in-1", "13800138000", "95123", T0)
        other = RemoteState(client)  # another worker, on the same service
        assert other.inbound_up("13800138000", "95123", T0 - timedelta(seconds=5))
        state.inbound_ended("call-in-1")
        assert not other.inbound_up("13800138000", "95123", T0 - timedelta(seconds=5))
