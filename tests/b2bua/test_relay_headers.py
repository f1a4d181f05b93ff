"""The header allow-list (``sip.relay_headers``) and the refusal phrase (``sip.refusal_phrase``)
in the call core: what crosses the legs, both ways, in and out of dialog."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from b2bua_harness import NET_IN, RULES_PATH, SDP, TRUNK, Net, in_dialog, invite, reply
from hypothesis import given
from hypothesis import strategies as st

from sipguard.b2bua.effects import Addr
from sipguard.b2bua.headers import allowed_fields, relay_keys
from sipguard.policy.load import load_rules
from sipguard.policy.ruleset import Ruleset
from sipguard.policy.signalling import CALL_CONTROL
from sipguard.sip.headers import Headers, canonical
from sipguard.sip.message import Message, Request, Response

SOFTWARE = ("User-Agent: cc-pbx/1.0", "Server: carrier-sbc/9.1", 'Warning: 399 sbc "x"')
LEAKS = ("user-agent", "server", "warning", "x-internal", "x-campaign-id", "organization")


def _rules(tmp_path: Path, sip: str) -> Ruleset:
    text = RULES_PATH.read_text(encoding="utf-8") + f"\nsip:\n{sip}"
    (tmp_path / "rules.yaml").write_text(text, encoding="utf-8")
    shutil.copy(RULES_PATH.with_name("consents.csv"), tmp_path / "consents.csv")
    return load_rules(tmp_path / "rules.yaml")


def _names(msg: Message) -> set[str]:
    return {canonical(name) for name, _ in msg.headers.items()}


def _call(net: Net) -> tuple[Request, Response, Request]:
    """An outbound call whose every message carries software-naming and extra headers."""
    extra = "\r\n".join([*SOFTWARE[1:], "X-Campaign-Id: spring-7", "Organization: Acme"])
    net.send(invite(extra=extra), TRUNK)
    b_inv = net.one(NET_IN)
    assert isinstance(b_inv, Request)
    tail = (*SOFTWARE, "X-Campaign-Id: n1", "Allow: INVITE, ACK, BYE", "Supported: timer")
    net.send(reply(b_inv, 180, extra=tail), NET_IN)
    net.send(reply(b_inv, 200, body=SDP, extra=tail), NET_IN)
    ringing, ok = net.take(TRUNK)[1:]
    assert isinstance(ringing, Response) and isinstance(ok, Response) and ok.status == 200
    for answer in (ringing, ok):
        assert {"allow", "supported"} <= _names(answer)
    b_ack = net.one(NET_IN)
    assert isinstance(b_ack, Request)
    net.send(in_dialog("ACK", ok, 1, TRUNK, "z9hG4bK-ack1"), TRUNK)
    return b_inv, ok, b_ack


def test_by_default_no_software_or_unlisted_header_crosses_either_way() -> None:
    net = Net()
    b_inv, ok, b_ack = _call(net)
    assert {"supported", "content-type"} <= _names(b_inv)
    assert _names(b_inv).isdisjoint(LEAKS) and _names(ok).isdisjoint(LEAKS)
    # in dialog, caller to callee: a re-INVITE, and the callee's 200 back to the caller
    reinvite = in_dialog("INVITE", ok, 2, TRUNK, "z9hG4bK-re1", body=SDP, extra=SOFTWARE)
    net.send(reinvite, TRUNK)
    re_b = net.one(NET_IN)
    assert isinstance(re_b, Request) and _names(re_b).isdisjoint(LEAKS)
    net.send(reply(re_b, 200, body=SDP, extra=(*SOFTWARE, "Allow: INVITE")), NET_IN)
    ok2 = next(m for m in net.take(TRUNK) if isinstance(m, Response) and m.status == 200)
    assert "allow" in _names(ok2) and _names(ok2).isdisjoint(LEAKS)
    # in dialog, callee to caller: a BYE
    ok_b = Response(200, "OK", b_ack.headers)
    bye = in_dialog("BYE", ok_b, 5, NET_IN, "z9hG4bK-bbye", uas=True, extra=SOFTWARE)
    net.send(bye, NET_IN)
    bye_a = net.one(TRUNK)
    assert isinstance(bye_a, Request) and bye_a.method == "BYE"
    assert _names(bye_a).isdisjoint(LEAKS)


def test_rules_add_headers_to_the_call_control_ones(tmp_path: Path) -> None:
    net = Net()
    net.core.reload(_rules(tmp_path, "  relay_headers: [X-Campaign-Id, user-agent]\n"))
    b_inv, ok, _ = _call(net)
    assert b_inv.headers.get("x-campaign-id") == "spring-7"
    assert ok.headers.get("x-campaign-id") == "n1" and ok.headers.get("user-agent")
    assert "server" not in _names(ok) and "organization" not in _names(b_inv)
    assert "supported" in _names(b_inv)  # the call-control headers stay relayed


def test_a_reload_changes_the_list_for_new_calls_only(tmp_path: Path) -> None:
    net = Net()
    _, ok, _ = _call(net)
    net.core.reload(_rules(tmp_path, "  relay_headers: [X-Campaign-Id]\n"))
    reinvite = in_dialog("INVITE", ok, 2, TRUNK, "z9hG4bK-re1", body=SDP,
                         extra=("X-Campaign-Id: later",))  # fmt: skip
    net.send(reinvite, TRUNK)
    assert "x-campaign-id" not in _names(net.one(NET_IN))  # the call keeps its own list
    net.send(invite(call_id="c-2", branch="z9hG4bK-2", extra="X-Campaign-Id: new"), TRUNK)
    b_inv = [m for m in net.take(NET_IN) if isinstance(m, Request) and m.method == "INVITE"]
    assert b_inv[-1].headers.get("x-campaign-id") == "new"


def test_relay_keys_are_the_call_control_set_plus_the_rules(tmp_path: Path) -> None:
    assert relay_keys(load_rules(RULES_PATH)) == CALL_CONTROL
    assert {"user-agent", "server"}.isdisjoint(CALL_CONTROL)
    rules = _rules(tmp_path, "  relay_headers: [X-A]\n")
    assert relay_keys(rules) == CALL_CONTROL | {"x-a"}


NAMES = st.sampled_from(
    ["Supported", "k", "SUPPORTED", "User-Agent", "Server", "X-A", "x-a", "Allow", "u",
     "Allow-Events", "o", "Event", "Via", "Content-Type", "c", "s", "Subject", "X-B"]
)  # fmt: skip


@given(
    fields=st.lists(st.tuples(NAMES, st.text("abc ;=", max_size=6)), max_size=12),
    with_body=st.booleans(),
)
def test_the_frozenset_filter_is_the_plain_canonical_comparison(
    fields: list[tuple[str, str]], *, with_body: bool
) -> None:
    """``allowed_fields`` keeps exactly what comparing canonical names would keep, in order."""
    allow = CALL_CONTROL | {"x-a"}
    body = b"v=0\r\n" if with_body else b""
    src = Headers(fields)
    plain = [(n, v) for n, v in fields if canonical(n) in allow]
    if body and src.get("content-type") is not None:
        plain.append(("Content-Type", src.get("content-type") or ""))
    assert allowed_fields(src, allow, body) == plain


def _status_line(net: Net, data: bytes, wall: datetime) -> bytes:
    net.run(net.core.on_message(data, TRUNK, net.now, wall))
    return net.raw[-1].split(b"\r\n", 1)[0]


def test_refusal_phrase_names_the_reason_when_asked(tmp_path: Path) -> None:
    night = datetime(2026, 6, 1, 22, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    day = datetime(2026, 6, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    net = Net()
    quiet = invite(call_id="q-0", branch="z9hG4bK-q0")
    assert _status_line(net, quiet, night) == b"SIP/2.0 403 Forbidden"
    net.core.reload(_rules(tmp_path, "  refusal_phrase: true\n"))
    quiet = invite(call_id="q-1", branch="z9hG4bK-q1")
    assert _status_line(net, quiet, night) == b"SIP/2.0 403 Quiet Hours"
    unfiled = invite(caller="4008009999", call_id="q-2", branch="z9hG4bK-q2")
    assert _status_line(net, unfiled, day) == b"SIP/2.0 403 Caller Unregistered"
    last = parse_last(net)
    assert last.headers.get("reason") == 'SIP;cause=403;text="CALLER_UNREGISTERED"'
    stranger = Addr("127.0.0.9", 5062)
    net.send(invite(src=stranger, call_id="q-3", branch="z9hG4bK-q3"), stranger)
    assert net.raw[-1].startswith(b"SIP/2.0 403 Unknown Source\r\n")


def parse_last(net: Net) -> Response:
    msg = net.take(TRUNK)[-1]
    assert isinstance(msg, Response)
    return msg


def test_a_callee_s_refusal_keeps_retry_after_and_loses_its_software() -> None:
    net = Net()
    net.send(invite(), TRUNK)
    b_inv = net.one(NET_IN)
    assert isinstance(b_inv, Request)
    net.send(reply(b_inv, 486, extra=(*SOFTWARE, "Retry-After: 30")), NET_IN)
    busy = parse_last(net)
    assert busy.status == 486 and busy.headers.get("retry-after") == "30"
    assert _names(busy).isdisjoint(LEAKS)
