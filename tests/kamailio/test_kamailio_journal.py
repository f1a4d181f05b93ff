"""The plugin on the journal service: workers connect at child_init, outcomes are never
lost quietly, and a worker brings a dead service back."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from fake_ksr import FakeKSR
from rulesdata import write_rules

from sipguard.adapters.kamailio.plugin import SipguardKemi
from sipguard.journal import JournalStore
from sipguard.journal.writer import JournalUnavailable


def _worker(ksr: FakeKSR, rules: Path, rank: int) -> SipguardKemi:
    kemi = SipguardKemi(ksr, environ={"SIPGUARD_RULES": str(rules)})
    kemi.child_init(rank)
    return kemi


def _invite(ksr: FakeKSR, call_id: str) -> None:
    ksr.method, ksr.totag, ksr.loose = "INVITE", False, False
    pv = {"$si": "127.0.0.2", "$sp": 5060, "$pr": "udp", "$ci": call_id}
    ksr.request(**pv, **{"$fu": "sip:4008001234@127.0.0.2", "$ru": "sip:13800138000@127.0.0.1"})


def _bye(ksr: FakeKSR, call_id: str) -> None:
    ksr.method, ksr.totag, ksr.loose = "BYE", True, True
    ksr.request(**{"$si": "127.0.0.2", "$ci": call_id})


def _answer(kemi: SipguardKemi, ksr: FakeKSR, call_id: str) -> None:
    ksr.request(**{"$rm": "INVITE", "$rs": "200", "$ci": call_id})
    kemi.ksr_onreply_sipguard(None)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write_rules(tmp_path)


def test_child_init_connects_so_a_fresh_worker_journals_a_bye(rules: Path) -> None:
    """Worker 1 screens and bridges the call; worker 2, which never saw an INVITE, gets the
    BYE and writes the outcome (the ledger is Kamailio's shared htable)."""
    ksr = FakeKSR()
    first, second = _worker(ksr, rules, 1), _worker(ksr, rules, 2)
    assert second.journal is not None and second.journal.connected
    _invite(ksr, "c-1")
    first.ksr_request_route(None)
    _answer(first, ksr, "c-1")
    _bye(ksr, "c-1")
    second.ksr_request_route(None)
    second.journal.sync()  # outcomes are sent without waiting; this waits for their commit
    rows = [(e.kind, e.call_id) for e in JournalStore(rules.parent / "journal.db").entries()]
    assert rows == [("decision", "c-1"), ("outcome", "c-1")]
    assert second.lost_outcomes == 0


def test_an_outcome_that_cannot_be_written_is_counted_and_logged(
    rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed outcome write is counted per worker and logged with the whole record."""
    ksr = FakeKSR()
    kemi = _worker(ksr, rules, 1)
    _invite(ksr, "c-2")
    kemi.ksr_request_route(None)
    _answer(kemi, ksr, "c-2")
    assert kemi.journal is not None

    def down(entry: object) -> None:
        raise JournalUnavailable("journal service failed: gone", "down")

    monkeypatch.setattr(kemi.journal, "append_later", down)
    _bye(ksr, "c-2")
    kemi.ksr_request_route(None)
    assert kemi.lost_outcomes == 1
    logged = [e for e in ksr.errors() if "outcome not journaled" in e]
    assert len(logged) == 1 and "'call_id': 'c-2'" in logged[0] and "1 lost" in logged[0]


def test_a_worker_restarts_a_dead_service(rules: Path) -> None:
    """kill -9 of the service: the call in flight is refused with a 5xx, the next call
    finds the service started again and is screened and journaled."""
    ksr = FakeKSR()
    kemi = _worker(ksr, rules, 1)
    lock = rules.parent / "journal.sock.lock"
    os.kill(int(lock.read_text()), signal.SIGKILL)
    time.sleep(0.2)
    _invite(ksr, "c-3")
    kemi.ksr_request_route(None)
    assert ksr.replies and ksr.replies[-1].status >= 500
    _invite(ksr, "c-4")
    kemi.ksr_request_route(None)
    assert ksr.relayed, ksr.errors()
    calls = [e.call_id for e in JournalStore(rules.parent / "journal.db").entries()]
    assert calls[-1] == "c-4"
