"""The plugin's call tracking against a fake KSR: trunk capacity, inbound calls for
forwards, short-call suspension, the From rewrite and alerts (rules 1.1 sections 1, 3, 5, 6)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_ksr import FakeKSR, PvValue
from hookserver import wait_for, webhook_server
from livecalls import write_call_rules

from sipguard.adapters.kamailio.plugin import SipguardKemi
from sipguard.journal import JournalStore

DIVERTED = {"$(hdr(Diversion)[*])": "<sip:95123@127.0.0.1>;reason=no-answer"}


def invite(
    ksr: FakeKSR, src: str, caller: str, callee: str, call_id: str, **extra: PvValue
) -> None:
    """Set ``ksr`` up with an initial INVITE from ``src``."""
    ksr.method, ksr.totag, ksr.loose = "INVITE", False, False
    pv = {"$si": src, "$sp": 5060, "$pr": "udp", "$ci": call_id,
          "$fu": f"sip:{caller}@{src}", "$ru": f"sip:{callee}@127.0.0.1:5260", **extra}  # fmt: skip
    ksr.request(**pv)


def answer(kemi: SipguardKemi, ksr: FakeKSR, call_id: str) -> None:
    """The callee's 200 to the INVITE of ``call_id`` passes tm's reply route."""
    ksr.pv.values.update({"$rs": "200", "$rm": "INVITE", "$ci": call_id})
    kemi.ksr_onreply_sipguard(None)


def bye(kemi: SipguardKemi, ksr: FakeKSR, call_id: str, src: str = "127.0.0.2") -> None:
    """A BYE of ``call_id`` on the route set."""
    ksr.request(**{"$ci": call_id, "$si": src})
    ksr.method, ksr.totag, ksr.loose = "BYE", True, True
    kemi.ksr_request_route(None)


def fail(kemi: SipguardKemi, ksr: FakeKSR, call_id: str, status: int = 486) -> None:
    """tm's failure route for ``call_id`` with a final ``status``."""
    ksr.pv.values.update({"$ci": call_id, "$T_reply_code": status})
    kemi.ksr_failure_sipguard(None)


def sharing(ksr: FakeKSR) -> FakeKSR:
    """Another worker's KSR: its own process, the same shared-memory htables."""
    other = FakeKSR()
    other.pv.htable = ksr.pv.htable
    other.htable = ksr.htable
    return other


def worker(rules: Path, ksr: FakeKSR | None = None) -> tuple[SipguardKemi, FakeKSR]:
    ksr = ksr or FakeKSR()
    kemi = SipguardKemi(ksr, environ={"SIPGUARD_RULES": str(rules)})
    kemi.child_init(1)
    return kemi, ksr


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return write_call_rules(tmp_path)


def place(kemi: SipguardKemi, ksr: FakeKSR, src: str, caller: str, callee: str, cid: str,
          **extra: PvValue) -> list[int]:  # fmt: skip
    invite(ksr, src, caller, callee, cid, **extra)
    kemi.ksr_request_route(None)
    return [r.status for r in ksr.replies]


def test_the_trunk_cap_refuses_the_call_over_it_with_503(rules: Path) -> None:
    """Two outbound calls up on a trunk capped at 2: the third gets 503 with Retry-After and
    is not decided (no daily count spent); once one ends, a call passes again."""
    kemi, ksr = worker(rules)
    assert place(kemi, ksr, "127.0.0.2", "4008001234", "13800138000", "c1") == []
    assert place(kemi, ksr, "127.0.0.2", "4008001234", "13900139000", "c2") == []
    assert place(kemi, ksr, "127.0.0.2", "4008001234", "13600136000", "c3") == [503]
    assert ksr.replies[0].headers == ["Retry-After: 5\r\n"]
    fail(kemi, ksr, "c1")
    assert place(kemi, ksr, "127.0.0.2", "4008001234", "13600136000", "c4") == []
    decided = [e.call_id for e in JournalStore(rules.parent / "journal.db").entries()
               if e.kind == "decision"]  # fmt: skip
    assert decided == ["c1", "c2", "c4"]


def test_inbound_calls_count_on_the_numbers_trunk(rules: Path) -> None:
    """max_concurrent_calls covers both directions: two inbound calls fill Acme's trunk, an
    inbound call over the cap is refused after its verdict (503, outcome journaled)."""
    kemi, ksr = worker(rules)
    assert place(kemi, ksr, "127.0.0.4", "13800138000", "95123", "i1") == []
    assert place(kemi, ksr, "127.0.0.4", "13900139000", "95123", "i2") == []
    assert place(kemi, ksr, "127.0.0.4", "13600136000", "95123", "i3") == [503]
    assert kemi.journal is not None
    kemi.journal.sync()  # outcomes are sent without waiting for their commit
    entries = JournalStore(rules.parent / "journal.db").entries()
    outcomes = [(e.call_id, e.final_status) for e in entries if e.kind == "outcome"]
    assert outcomes == [("i3", 503)]
    assert place(kemi, ksr, "127.0.0.2", "4008001234", "13800138000", "o1") == [503]
    answer(kemi, ksr, "i1")
    bye(kemi, ksr, "i1", src="127.0.0.4")
    assert place(kemi, ksr, "127.0.0.2", "4008001234", "13800138000", "o2") == []


def test_every_slot_is_given_back(rules: Path) -> None:
    """Calls that fail, are cancelled or end with a BYE leave the trunk's count at zero."""
    kemi, ksr = worker(rules)
    for n, end in enumerate(("fail", "cancel", "bye", "fail")):
        cid = f"s{n}"
        assert place(kemi, ksr, "127.0.0.2", "4008001234", "13800138000", cid) == []
        if end == "bye":
            answer(kemi, ksr, cid)
            bye(kemi, ksr, cid)
        else:
            fail(kemi, ksr, cid, 487 if end == "cancel" else 486)
    assert kemi.calls.slots.count("acme-sh-1") == 0
    fail(kemi, ksr, "s0")  # a second end of the same call gives nothing back twice
    assert kemi.calls.slots.count("acme-sh-1") == 0


def test_a_forward_is_verified_while_the_inbound_call_relayed_here_is_up(rules: Path) -> None:
    """The inbound call the plugin relayed verifies the forward; after its BYE it does not."""
    kemi, ksr = worker(rules)
    assert place(kemi, ksr, "127.0.0.4", "13800138000", "95123", "in-1") == []
    answer(kemi, ksr, "in-1")
    assert place(kemi, ksr, "127.0.0.2", "13800138000", "13600136000", "fw-1", **DIVERTED) == []
    assert ksr.appended == ["P-Asserted-Identity: <tel:+8613800138000>\r\n"]
    assert ksr.uac.from_rewrites[-1] == ("", "sip:+8613800138000@127.0.0.2")
    bye(kemi, ksr, "in-1", src="127.0.0.4")
    assert place(kemi, ksr, "127.0.0.2", "13800138000", "13600136000", "fw-2", **DIVERTED) == [403]
    assert "FORWARD_UNVERIFIED" in ksr.replies[0].headers[0]


def test_an_unanswered_inbound_call_stops_verifying_at_its_failure(rules: Path) -> None:
    """An inbound call that fails (486) is no longer up for forwards."""
    kemi, ksr = worker(rules)
    place(kemi, ksr, "127.0.0.4", "13800138000", "95123", "in-2")
    fail(kemi, ksr, "in-2")
    assert place(kemi, ksr, "127.0.0.2", "13800138000", "13600136000", "fw-3", **DIVERTED) == [403]


def test_short_calls_suspend_the_number(rules: Path) -> None:
    """Three answered calls under 6 s: the number is suspended (admin entry SHORT_CALLS) and
    its next call gets NUMBER_SUSPENDED."""
    kemi, ksr = worker(rules)
    for n in range(3):
        cid = f"short-{n}"
        assert place(kemi, ksr, "127.0.0.2", "4008005678", "13700137000", cid) == []
        answer(kemi, ksr, cid)
        bye(kemi, ksr, cid)
    assert place(kemi, ksr, "127.0.0.2", "4008005678", "13700137000", "short-3") == [403]
    assert "NUMBER_SUSPENDED" in ksr.replies[0].headers[0]
    assert kemi.journal is not None
    kemi.journal.sync()
    admin = [e for e in JournalStore(rules.parent / "journal.db").entries() if e.kind == "admin"]
    assert [(e.number, e.action) for e in admin] == [("4008005678", "suspend")]


def test_unanswered_and_long_calls_do_not_suspend(rules: Path) -> None:
    """Failed calls are not outcomes; an answered call's end feeds the rule only once."""
    kemi, ksr = worker(rules)
    for n in range(4):
        place(kemi, ksr, "127.0.0.2", "4008005678", "13700137000", f"f-{n}")
        fail(kemi, ksr, f"f-{n}")
    assert kemi.state is not None and kemi.state.suspension("4008005678") is None


def test_the_from_display_name_is_replaced_by_the_filed_one_or_none(rules: Path) -> None:
    """The trunk's display name never passes on: From gets the filed name or none, and the
    canonical +CC NSN user."""
    kemi, ksr = worker(rules)
    named = {"$fu": "sip:400-800-1234@127.0.0.2"}
    assert place(kemi, ksr, "127.0.0.2", "4008001234", "13800138000", "n1", **named) == []
    assert place(kemi, ksr, "127.0.0.2", "4008005678", "13700137000", "n2") == []
    assert ksr.uac.from_rewrites == [
        ("", "sip:+864008001234@127.0.0.2"),
        ('"Acme Care"', "sip:+864008005678@127.0.0.2"),
    ]


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server on loopback that keeps every POSTed JSON body."""
    with webhook_server() as hook:
        yield hook


def test_a_short_call_suspension_posts_one_alert(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    """With ``events: [number_suspended]`` the suspension gives exactly one POST."""
    url, bodies = webhook
    kemi, ksr = worker(write_call_rules(tmp_path, webhook=url))
    for n in range(3):
        place(kemi, ksr, "127.0.0.2", "4008005678", "13700137000", f"a-{n}")
        answer(kemi, ksr, f"a-{n}")
        bye(kemi, ksr, f"a-{n}")
    wait_for(bodies, 1)
    assert [(b["event"], b["number"], b["reason"]) for b in bodies] == [
        ("number_suspended", "4008005678", "SHORT_CALLS")
    ]


def test_a_failed_reload_is_alerted_once_for_all_workers(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    """Two workers find the same broken rules: one ``rules_reload_failed`` POST."""
    url, bodies = webhook
    path = write_call_rules(tmp_path, webhook=url, events=("rules_reload_failed",))
    first, ksr = worker(path)
    second, _ = worker(path, sharing(ksr))
    for w in (first, second):
        assert w.watch is not None
        w.calls.watched(w.watch)
    path.write_text(path.read_text() + "bogus_field: 1\n")
    for w in (first, second):
        assert w.watch is not None
        w.watch.check()
    wait_for(bodies, 1)
    assert [b["event"] for b in bodies] == ["rules_reload_failed"]
    assert "bogus_field" in str(bodies[0]["first"])


def test_in_dialog_requests_of_the_call_center_lose_its_display_name(rules: Path) -> None:
    """A BYE the call center sends keeps no display name of its own: the filed one, or none;
    requests from the network side are left alone."""
    kemi, ksr = worker(rules)
    place(kemi, ksr, "127.0.0.2", "4008005678", "13700137000", "d1")
    place(kemi, ksr, "127.0.0.2", "4008001234", "13800138000", "d2")
    for cid, src in (("d1", "127.0.0.2"), ("d2", "127.0.0.2"), ("d2", "127.0.0.4")):
        ksr.request(**{"$ci": cid, "$si": src, "$fn": "ICBC 95588"})
        ksr.method, ksr.totag, ksr.loose = "BYE", True, True
        kemi.ksr_request_route(None)
    assert ksr.textops.substs == [
        ("From", '/^[^<]+/"Acme Care" /', "f"),
        ("From", "/^[^<]+//", "f"),
    ]


def test_journal_failures_are_alerted_once_a_minute(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    """Many failed journal writes within a minute, in two workers: one journal_failed POST."""
    from datetime import UTC, datetime, timedelta

    url, bodies = webhook
    rules_path = write_call_rules(tmp_path, webhook=url, events=("journal_failed",))
    first, ksr = worker(rules_path)
    second, _ = worker(rules_path, sharing(ksr))
    assert first.watch is not None
    at = datetime(2026, 6, 1, 2, 0, 5, tzinfo=UTC)
    for n in range(5):
        for w in (first, second):
            w.calls.alerts.journal_failed(first.watch.rules, at + timedelta(seconds=n), "down")
    wait_for(bodies, 1)
    assert [b["event"] for b in bodies] == ["journal_failed"]
    first.calls.alerts.journal_failed(first.watch.rules, at + timedelta(minutes=1), "down")
    wait_for(bodies, 2)
    assert len(bodies) == 2
