"""Leg B's identity on an outbound call (rules 1.1 section 1): only the verified number,
asserted once, with no display name but the filed number's."""

from __future__ import annotations

import shutil
from pathlib import Path

from b2bua_harness import CC_IN, NET, NET_IN, RULES_PATH, TRUNK, Net, invite, reply

from sipguard.b2bua import B2BUAConfig
from sipguard.b2bua.effects import Addr
from sipguard.b2bua.headers import DEFAULT_ALLOW
from sipguard.policy.load import load_rules
from sipguard.policy.ruleset import Ruleset
from sipguard.sip.message import Request, Response

SPOOFS = "\r\n".join(
    [
        'P-Asserted-Identity: "ICBC 95588" <tel:+864008001234>',
        'P-Preferred-Identity: "13912345678" <sip:4008001234@127.0.0.2>',
        'Remote-Party-ID: "Bank" <sip:4008001234@127.0.0.2>;party=calling;screen=yes',
        "Privacy: none",
    ]
)
IDENTITY = ["p-asserted-identity", "p-preferred-identity", "remote-party-id", "privacy"]


def _leg_b(net: Net, caller: str = "+86-400-800-1234", display: str = '"Anonymous" ') -> Request:
    data = invite(caller=caller, extra=SPOOFS).replace(
        b"From: <sip:", f"From: {display}<sip:".encode()
    )
    net.send(data, TRUNK)
    b_inv = net.one(NET_IN)
    assert isinstance(b_inv, Request)
    return b_inv


def test_identity_headers_are_stripped_even_when_allow_listed() -> None:
    allow = DEFAULT_ALLOW | frozenset(IDENTITY)
    net = Net(B2BUAConfig(local=Addr("127.0.0.1", 5060), allow_headers=allow))
    b_inv = _leg_b(net)
    h = b_inv.headers
    assert h.get_fields("p-asserted-identity") == ["<tel:+864008001234>"]
    for name in IDENTITY[1:]:
        assert h.get_fields(name) == []
    assert (h.get("from") or "").startswith("<sip:+864008001234@127.0.0.1>;tag=")
    for display in ("ICBC", "Bank", "Anonymous", "13912345678"):
        assert display not in str(h.items())


def test_the_filed_display_name_is_the_only_one(tmp_path: Path) -> None:
    text = RULES_PATH.read_text(encoding="utf-8").replace(
        '    usage: "return visits"', '    usage: "return visits"\n    display_name: "Acme Care"'
    )
    assert "Acme Care" in text
    (tmp_path / "rules.yaml").write_text(text, encoding="utf-8")
    shutil.copy(RULES_PATH.with_name("consents.csv"), tmp_path / "consents.csv")
    net = Net()
    net.core.reload(load_rules(tmp_path / "rules.yaml"))
    b_inv = _leg_b(net, caller="04008001234", display='"13912345678" ')
    h = b_inv.headers
    assert h.get("p-asserted-identity") == '"Acme Care" <tel:+864008001234>'
    assert (h.get("from") or "").startswith('"Acme Care" <sip:+864008001234@127.0.0.1>;tag=')
    assert "13912345678" not in str(h.items())


def _forwarding_rules(tmp_path: Path) -> Ruleset:
    text = RULES_PATH.read_text(encoding="utf-8")
    text = text.replace("    operator: acme\n", "    operator: acme\n    forwarding: true\n", 1)
    assert "forwarding: true" in text
    (tmp_path / "rules.yaml").write_text(text, encoding="utf-8")
    shutil.copy(RULES_PATH.with_name("consents.csv"), tmp_path / "consents.csv")
    return load_rules(tmp_path / "rules.yaml")


def _forward(net: Net, n: int) -> None:
    divert = "Diversion: <sip:95123@127.0.0.1>;reason=no-answer"
    net.send(
        invite(USER, "13600136000", call_id=f"fwd-{n}", branch=f"z9hG4bK-f{n}", extra=divert),
        TRUNK,
    )


USER = "13800138000"


def test_a_forward_is_verified_while_the_inbound_call_is_up(tmp_path: Path) -> None:
    """The call core records the inbound call it places and forgets it when it ends."""
    net = Net()
    net.core.reload(_forwarding_rules(tmp_path))
    net.send(invite(USER, "95123", src=NET, call_id="in-1", branch="z9hG4bK-in1"), NET)
    in_leg = net.one(CC_IN)
    assert isinstance(in_leg, Request)
    _forward(net, 1)
    b_inv = net.one(NET_IN)
    assert isinstance(b_inv, Request)
    assert net.decided[-1].verdict.forwarded and net.decided[-1].verdict.number == "95123"
    assert b_inv.headers.get_fields("p-asserted-identity") == ["<tel:+8613800138000>"]
    assert b_inv.headers.get("diversion") == "<sip:95123@127.0.0.1>;reason=no-answer"
    net.send(reply(in_leg, 486), CC_IN)  # the inbound call ends unanswered
    net.take(TRUNK)
    _forward(net, 2)
    final = net.take(TRUNK)[-1]
    assert isinstance(final, Response) and final.status == 403
    assert final.headers.get("reason") == 'SIP;cause=403;text="FORWARD_UNVERIFIED"'
