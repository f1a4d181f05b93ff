"""The plugin's proxy duties: hop limit, CANCEL, ACK, in-dialog requests and call outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_ksr import FakeKSR
from rulesdata import write_rules

from sipguard.adapters.kamailio.plugin import SipguardKemi
from sipguard.journal import JournalStore


@pytest.fixture
def setup(tmp_path: Path) -> tuple[SipguardKemi, FakeKSR, Path]:
    rules = write_rules(tmp_path)
    ksr = FakeKSR()
    return SipguardKemi(ksr, environ={"SIPGUARD_RULES": str(rules)}), ksr, tmp_path


def allowed_invite(kemi: SipguardKemi, ksr: FakeKSR, call_id: str) -> None:
    ksr.method = "INVITE"
    pv = {"$si": "127.0.0.2", "$sp": 5060, "$ci": call_id}
    ksr.request(**pv, **{"$fu": "sip:4008001234@127.0.0.2", "$ru": "sip:13800138000@127.0.0.1"})
    kemi.ksr_request_route(None)
    assert ksr.relayed == ["sip:127.0.0.4:5270"]


def test_exhausted_max_forwards_is_answered_483(setup: tuple[SipguardKemi, FakeKSR, Path]) -> None:
    """A request whose Max-Forwards ran out is answered 483 and not screened."""
    kemi, ksr, _ = setup
    ksr.maxfwd_ok = False
    ksr.request()
    kemi.ksr_request_route(None)
    assert [r.status for r in ksr.replies] == [483]
    assert ksr.transactions == 0


def test_cancel_of_a_known_transaction_is_relayed(
    setup: tuple[SipguardKemi, FakeKSR, Path],
) -> None:
    """A CANCEL matching a transaction is relayed; an unmatched one is dropped."""
    kemi, ksr, _ = setup
    ksr.method, ksr.check_trans = "CANCEL", 1
    ksr.request()
    kemi.ksr_request_route(None)
    assert len(ksr.relayed) == 1
    ksr.check_trans = -1
    ksr.request()
    kemi.ksr_request_route(None)
    assert ksr.relayed == [] and ksr.replies == []


def test_retransmission_is_absorbed(setup: tuple[SipguardKemi, FakeKSR, Path]) -> None:
    """An INVITE that tm recognises as a retransmission is neither screened nor answered."""
    kemi, ksr, _ = setup
    ksr.check_trans = 0
    ksr.request(**{"$si": "127.0.0.9"})
    kemi.ksr_request_route(None)
    assert ksr.replies == [] and ksr.transactions == 0


def test_in_dialog_without_route_gets_404(setup: tuple[SipguardKemi, FakeKSR, Path]) -> None:
    """An in-dialog request that is not on our route set is refused with 404."""
    kemi, ksr, _ = setup
    ksr.method, ksr.totag = "BYE", True
    ksr.request()
    kemi.ksr_request_route(None)
    assert [r.status for r in ksr.replies] == [404]


def test_answered_call_ended_by_bye_is_journaled(setup: tuple[SipguardKemi, FakeKSR, Path]) -> None:
    """200 to the INVITE then a BYE from the callee adds an outcome ended by the callee."""
    kemi, ksr, folder = setup
    allowed_invite(kemi, ksr, "c1")
    ksr.pv.values.update({"$rm": "INVITE", "$rs": 200})
    kemi.ksr_onreply_sipguard(None)
    ksr.method, ksr.totag, ksr.loose = "BYE", True, True
    ksr.request(**{"$ci": "c1", "$si": "127.0.0.4"})
    kemi.ksr_request_route(None)
    assert len(ksr.relayed) == 1
    assert kemi.journal is not None
    kemi.journal.sync()  # outcomes are sent without waiting; this waits for their commit
    outcomes = [e for e in JournalStore(folder / "journal.db").entries() if e.kind == "outcome"]
    assert [(o.call_id, o.final_status, o.ended_by) for o in outcomes] == [("c1", 200, "callee")]
    assert outcomes[0].answered_at is not None
    assert ksr.pv.htable == {}


def test_unanswered_call_outcome_from_failure_route(
    setup: tuple[SipguardKemi, FakeKSR, Path],
) -> None:
    """A final 486 reaching the failure route is journaled as the outcome of the call."""
    kemi, ksr, folder = setup
    allowed_invite(kemi, ksr, "c2")
    ksr.pv.values.update({"$T_reply_code": 486})
    kemi.ksr_failure_sipguard(None)
    assert kemi.journal is not None
    kemi.journal.sync()  # outcomes are sent without waiting; this waits for their commit
    outcomes = [e for e in JournalStore(folder / "journal.db").entries() if e.kind == "outcome"]
    assert [(o.final_status, o.ended_by, o.answered_at) for o in outcomes] == [
        (486, "callee", None)
    ]


def test_invalid_rules_at_start_fail_and_log(tmp_path: Path) -> None:
    """Invalid rules at start-up raise (Kamailio refuses to start) after logging each error."""
    rules = write_rules(tmp_path)
    rules.write_text(rules.read_text().replace("version: 1", "version: 1\nextra_key: 2"))
    ksr = FakeKSR()
    with pytest.raises(Exception, match="extra_key"):
        SipguardKemi(ksr, environ={"SIPGUARD_RULES": str(rules)})
    assert any(f"{rules}:" in text for text in ksr.errors())
