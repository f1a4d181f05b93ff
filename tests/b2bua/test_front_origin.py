"""Calls through a trusted Kamailio front are screened as from the address it stamps."""

from __future__ import annotations

from b2bua_harness import SDP, Net, invite, reply
from hypothesis import given
from hypothesis import strategies as st

from sipguard.b2bua import B2BUAConfig
from sipguard.b2bua.effects import Addr
from sipguard.b2bua.front import origin, parse_source
from sipguard.sip.message import Request, Response
from sipguard.sip.wire import parse

FRONT = Addr("127.0.0.1", 5090)
STAMP = "X-Sipguard-Source: 127.0.0.2;port=5062;transport=udp"


def through_front(extra: str = STAMP) -> bytes:
    """The trunk's INVITE as the front relays it: the front's Via on top, its stamp added."""
    data = invite(extra=extra)
    return data.replace(b"Via: ", b"Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-fr1\r\nVia: ", 1)


def net_with_front() -> Net:
    return Net(B2BUAConfig(local=Addr("127.0.0.1", 5060), fronts=frozenset({"127.0.0.1"})))


def test_a_stamped_invite_from_the_front_is_screened_as_the_trunks() -> None:
    net = net_with_front()
    net.send(through_front(), FRONT)
    (decided,) = net.decided
    assert decided.verdict.allowed and decided.verdict.trunk == "acme-sh-1"
    assert decided.facts.source_ip == "127.0.0.2"
    replies = net.take(FRONT)  # every answer goes back to the front, never to the trunk
    assert replies and all(isinstance(r, Response) for r in replies)
    assert net.take(Addr("127.0.0.2", 5062)) == []


def test_the_stamp_from_anyone_but_a_front_means_nothing() -> None:
    """Without --trust-front the front is a stranger, whatever header it writes."""
    net = Net()
    net.send(through_front(), FRONT)
    (decided,) = net.decided
    assert decided.verdict.reason.value == "UNKNOWN_SOURCE"


def test_a_front_request_without_a_stamp_is_screened_as_from_the_front() -> None:
    net = net_with_front()
    net.send(through_front(extra=""), FRONT)
    (decided,) = net.decided
    assert not decided.verdict.allowed and decided.verdict.reason.value == "UNKNOWN_SOURCE"


def test_origin_reads_the_stamp_only_from_a_front() -> None:
    req = parse(through_front())
    assert isinstance(req, Request)
    fronts = frozenset({"127.0.0.1"})
    assert origin(req, FRONT, fronts) == Addr("127.0.0.2", 5062, "udp")
    other = Addr("127.0.0.7", 5060)
    assert origin(req, other, fronts) == other


def test_parse_source_accepts_what_the_front_writes() -> None:
    assert parse_source("10.0.0.2;port=5060;transport=udp") == Addr("10.0.0.2", 5060, "udp")
    assert parse_source("::1;port=5061;transport=TCP") == Addr("::1", 5061, "tcp")
    assert parse_source("[::1];port=5061") == Addr("::1", 5061, "udp")


def test_parse_source_refuses_malformed_stamps() -> None:
    for bad in ("", "10.0.0.2", "10.0.0.2;port=0", "10.0.0.2;port=70000", "10.0.0.2;port=x",
                "10.0.0.2;port", "10.0.0.2;port=5060;transport=carrier-pigeon",
                "10.0 .0.2;port=5060", "10.0.0.2;port=\u0665\u0660"):  # fmt: skip
        assert parse_source(bad) is None, bad


@given(st.text(max_size=60))
def test_parse_source_never_raises(text: str) -> None:
    found = parse_source(text)
    assert found is None or 0 < found.port < 65536


def test_the_answer_to_a_record_routed_invite_keeps_its_record_route() -> None:
    """RFC 3261 12.1.1: the caller's route set goes through the front (and only leg A's)."""
    net = net_with_front()
    data = through_front().replace(
        b"Record-Route:", b"Record-Route: <sip:127.0.0.1:5090;lr>\r\nRecord-Route:", 1
    )
    net.send(data, FRONT)
    (leg_b,) = net.take(Addr("127.0.0.4", 5070))
    assert isinstance(leg_b, Request) and leg_b.headers.get_fields("record-route") == []
    net.send(reply(leg_b, 200, body=SDP), Addr("127.0.0.4", 5070))
    ok = [r for r in net.take(FRONT) if isinstance(r, Response) and r.status == 200]
    assert ok and ok[0].headers.get_fields("record-route") == [
        "<sip:127.0.0.1:5090;lr>",
        "<sip:secret-proxy.cc.example;lr>",
    ]


def test_a_stranger_behind_the_front_is_answered_as_a_stranger_through_the_front() -> None:
    """No 100 Trying and no transaction: the stranger limits hold through the front too."""
    net = net_with_front()
    stamp = "X-Sipguard-Source: 127.0.0.9;port=5062;transport=udp"
    net.send(through_front(extra=stamp), FRONT)
    (resp,) = net.take(FRONT)
    assert isinstance(resp, Response) and resp.status == 403
    assert "UNKNOWN_SOURCE" in (resp.headers.get("reason") or "")
    assert net.core.transactions == 0
    (decided,) = net.decided
    assert decided.facts.source_ip == "127.0.0.9"
    assert net.take(Addr("127.0.0.9", 5062)) == []
