"""Responses carry received and rport and go where RFC 3261 18.2.2 and RFC 3581 say."""

from __future__ import annotations

from b2bua_harness import TRUNK, Net, invite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipguard.b2bua.effects import Addr
from sipguard.b2bua.reply_route import reply_to, stamp
from sipguard.errors import SipParseError
from sipguard.sip import parse, serialise
from sipguard.sip.message import Request, Response


def test_received_added_and_answer_sent_to_source_host_at_sent_by_port() -> None:
    """Sent-by 127.0.0.9:5999 from 127.0.0.2: received=127.0.0.2, answer to 127.0.0.2:5999."""
    net = Net()
    data = invite().replace(b"Via: SIP/2.0/UDP 127.0.0.2:5062", b"Via: SIP/2.0/UDP 127.0.0.9:5999")
    net.send(data, TRUNK)
    assert net.take(TRUNK) == []
    got = net.take(Addr("127.0.0.2", 5999))
    assert got and all(isinstance(m, Response) for m in got)
    via = got[0].top_via
    assert (via.host, via.port, via.received) == ("127.0.0.9", 5999, "127.0.0.2")
    assert not via.has_rport


def test_empty_rport_is_filled_and_the_answer_goes_to_the_source_port() -> None:
    """RFC 3581: an empty rport gets the source port, and the answer goes to that port."""
    net = Net()
    src = Addr("127.0.0.2", 40000)
    data = invite().replace(b";branch=z9hG4bK-a1", b";rport;branch=z9hG4bK-a1")
    net.send(data, src)
    got = net.take(src)
    assert [m.status for m in got if isinstance(m, Response)] == [100]
    via = got[0].top_via
    assert via.rport == 40000 and via.received is None  # same host: no received


def test_a_forged_received_is_replaced() -> None:
    """A received the client wrote itself is replaced by the real source address."""
    net = Net()
    data = invite().replace(
        b"Via: SIP/2.0/UDP 127.0.0.2:5062", b"Via: SIP/2.0/UDP 10.1.1.1:5062;received=10.9.9.9"
    )
    net.send(data, TRUNK)
    got = net.take(TRUNK)
    assert got and got[0].top_via.received == "127.0.0.2"
    assert "10.9.9.9" not in str(got[0].headers.get("via"))


def test_tcp_answers_use_the_connection() -> None:
    """Over TCP the answer goes back on the request's connection, whatever the Via says."""
    net = Net()
    src = Addr("127.0.0.2", 41000, "tcp")
    data = invite().replace(b"SIP/2.0/UDP 127.0.0.2:5062", b"SIP/2.0/TCP 127.0.0.2:5062")
    net.send(data, src)
    assert net.take(src)


_VIA_PIECES = [
    "SIP/2.0/UDP ",
    "SIP / 2.0 / tcp ",
    "sip/2.0/UDP\t",
    "h.example",
    "127.0.0.2",
    "[::1]",
    ":5062",
    ":05062",
    " : 5070",
    ";branch=z9hG4bK1",
    ";rport",
    ";rport=7",
    ";received=10.9.9.9",
    ";RECEIVED=1.1.1.1",
    ";x",
    ' ; y = "q;,"',
    ";lr",
    ", SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK2",
    ",",
]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_VIA_PIECES), min_size=1, max_size=7).map("".join),
    st.sampled_from([Addr("127.0.0.2", 5062), Addr("10.0.0.9", 41000), Addr("::1", 5060)]),
)
def test_the_stamped_top_via_handed_over_parsed_equals_a_parse_of_the_field(
    via: str, source: Addr
) -> None:
    """``stamp`` hands its stamped Via over parsed: what every accessor of the stamped
    request reads equals what a fresh parse of the rewritten bytes reads."""
    head = b"Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK-a1"
    data = invite().replace(head, b"Via: " + via.encode())
    try:
        req = parse(data)
        req.top_via  # noqa: B018
    except SipParseError:
        return
    assert isinstance(req, Request)
    fast = stamp(req, source)
    plain = parse(serialise(fast))
    assert isinstance(plain, Request)
    for view in ("top_via", "vias"):
        assert _read(fast, view) == _read(plain, view), view
    assert reply_to(fast, source) == reply_to(plain, source)


def _read(msg: Request, view: str) -> object:
    try:
        return getattr(msg, view)
    except SipParseError as exc:
        return type(exc)
