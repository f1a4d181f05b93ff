"""The plugin's header allow-list and refusal phrase against a fake KSR."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_ksr import FakeKSR
from rulesdata import write_rules

from sipguard.adapters.kamailio.plugin import SipguardKemi
from sipguard.adapters.kamailio.signalling import header_names, kept_keys, strip_unlisted
from sipguard.policy.load import load_rules
from sipguard.policy.signalling import CALL_CONTROL, MANAGED

INVITE = "\r\n".join(
    [
        "INVITE sip:13800138000@127.0.0.1:5260 SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK1",
        "From: <sip:4008001234@127.0.0.2>;tag=1",
        "To: <sip:13800138000@127.0.0.1>",
        "Call-ID: c1",
        "CSeq: 1 INVITE",
        "Contact: <sip:4008001234@127.0.0.2>",
        "Max-Forwards: 70",
        "User-Agent: cc-pbx/1.0",
        "  continued",
        "X-Internal: leak",
        "X-Campaign-Id: spring-7",
        "k: timer",
        "Organization: Acme",
        "Content-Type: application/sdp",
        "Content-Length: 4",
        "",
        "v=0\r\n",
    ]
)
REPLY = (
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1\r\nServer: sbc/9\r\nAllow: INVITE\r\n"
    'Warning: 399 sbc "x"\r\nX-Campaign-Id: n1\r\nContent-Length: 0\r\n\r\n'
)


def _plugin(tmp_path: Path, sip: str = "") -> tuple[SipguardKemi, FakeKSR]:
    rules = write_rules(tmp_path)
    if sip:
        rules.write_text(rules.read_text() + f"sip:\n{sip}")
    ksr = FakeKSR()
    kemi = SipguardKemi(ksr, environ={"SIPGUARD_RULES": str(rules)})
    kemi.child_init(1)
    return kemi, ksr


def _invite(ksr: FakeKSR, caller: str = "4008001234") -> None:
    ksr.request(**{"$si": "127.0.0.2", "$sp": 5060, "$pr": "udp", "$ci": f"c-{caller}",
                   "$fu": f"sip:{caller}@127.0.0.2", "$ru": "sip:13800138000@127.0.0.1",
                   "$mb": INVITE})  # fmt: skip


def test_header_names_skip_folded_lines_and_the_body() -> None:
    names = header_names(INVITE)
    assert names[:3] == ["Via", "From", "To"] and "continued" not in " ".join(names)
    assert "v=0" not in names and names.count("User-Agent") == 1


def test_kept_keys_are_call_control_managed_and_the_rules(tmp_path: Path) -> None:
    rules = load_rules(write_rules(tmp_path))
    assert kept_keys(rules) == CALL_CONTROL | MANAGED
    assert {"user-agent", "server", "warning"}.isdisjoint(kept_keys(rules))


def test_the_invite_loses_every_unlisted_header(tmp_path: Path) -> None:
    kemi, ksr = _plugin(tmp_path)
    _invite(ksr)
    kemi.ksr_request_route(None)
    assert ksr.relayed == ["sip:127.0.0.4:5270"]
    unlisted = {"User-Agent", "X-Internal", "X-Campaign-Id", "Organization"}
    assert unlisted <= set(ksr.removed)
    kept = {"Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "k"}
    assert kept.isdisjoint(ksr.removed) and "Content-Type" not in ksr.removed


def test_rules_add_to_the_list_and_replies_are_filtered(tmp_path: Path) -> None:
    kemi, ksr = _plugin(tmp_path, "  relay_headers: [X-Campaign-Id]\n")
    _invite(ksr)
    kemi.ksr_request_route(None)
    assert "X-Campaign-Id" not in ksr.removed and "User-Agent" in ksr.removed
    ksr.request(**{"$mb": REPLY, "$rs": "200", "$rm": "INVITE", "$ci": "c-4008001234"})
    assert kemi.ksr_onreply_sipguard(None) == 1
    assert sorted(ksr.removed) == ["Server", "Warning"]


def test_in_dialog_requests_are_filtered_and_their_replies_too(tmp_path: Path) -> None:
    kemi, ksr = _plugin(tmp_path)
    ksr.method, ksr.totag, ksr.loose = "BYE", True, True
    bye = INVITE.replace("INVITE sip:", "BYE sip:", 1)
    ksr.request(**{"$mb": bye, "$ci": "c-x", "$si": "127.0.0.4"})
    kemi.ksr_request_route(None)
    assert "User-Agent" in ksr.removed and "Via" not in ksr.removed
    assert ksr.callbacks["reply"] == "ksr_onreply_sipguard"


@pytest.mark.parametrize(
    ("sip", "text"), [("", "Forbidden"), ("  refusal_phrase: true\n", "Caller Unregistered")]
)
def test_the_refusal_phrase_follows_the_rules(tmp_path: Path, sip: str, text: str) -> None:
    kemi, ksr = _plugin(tmp_path, sip)
    _invite(ksr, caller="4008009999")
    kemi.ksr_request_route(None)
    assert [(r.status, r.text) for r in ksr.replies] == [(403, text)]
    assert ksr.replies[0].headers == ['Reason: SIP;cause=403;text="CALLER_UNREGISTERED"\r\n']


def test_without_rules_yet_only_the_call_control_headers_are_kept() -> None:
    ksr = FakeKSR().request(**{"$mb": REPLY})
    assert sorted(strip_unlisted(ksr, None)) == ["Server", "Warning", "X-Campaign-Id"]
