"""Unit tests of datagram parsing and serialisation."""

from __future__ import annotations

import pytest

from sipguard.errors import SipParseError
from sipguard.sip import CSeq, Headers, Request, Response, parse, serialise

from .helpers import invite


def _req(data: bytes) -> Request:
    msg = parse(data)
    assert isinstance(msg, Request)
    return msg


def test_parse_request_and_accessors() -> None:
    """The start line and the common accessors of a plain INVITE are read correctly."""
    req = _req(invite(body=b"v=0\r\n", length=5))
    assert (req.method, req.uri, req.version) == (
        "INVITE",
        "sip:13800138000@203.0.113.5",
        "SIP/2.0",
    )
    assert req.call_id == "c1@192.0.2.10"
    assert req.cseq == CSeq(1, "INVITE")
    assert req.max_forwards == 70
    assert req.from_.tag == "a1" and req.to.tag is None
    assert req.top_via.branch == "z9hG4bK-1" and req.top_via.has_rport
    assert req.body == b"v=0\r\n" and req.content_length == 5


def test_udp_octets_past_content_length_are_ignored() -> None:
    """Trailing octets after Content-Length bytes of body are dropped (RFC 3261 18.3)."""
    req = _req(invite(body=b"abcdefgh", length=3))
    assert req.body == b"abc"


def test_udp_missing_content_length_takes_rest() -> None:
    """Without Content-Length a datagram's body is everything after the blank line."""
    assert _req(invite(body=b"rest of it")).body == b"rest of it"


def test_content_length_larger_than_datagram_is_400() -> None:
    """A Content-Length beyond the datagram's end is a 400 error."""
    with pytest.raises(SipParseError) as info:
        parse(invite(body=b"abc", length=10))
    assert info.value.status_hint == 400


@pytest.mark.parametrize("value", ["-1", "abc", "1 2", "", "٣"])
def test_bad_content_length_is_400(value: str) -> None:
    """Non-numeric Content-Length values are 400 errors."""
    with pytest.raises(SipParseError) as info:
        parse(invite(f"Content-Length: {value}"))
    assert info.value.status_hint == 400


def test_leading_crlfs_folding_and_compact_forms() -> None:
    """Leading CRLFs are skipped, folded lines joined and compact names understood."""
    data = (
        b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
        b"f: <sip:c@d>\r\n ;tag=7\r\nt:\tsip:a@b\r\ni: x\r\n"
        b"CSeq:\r\n\t2\r\n OPTIONS\r\nl: 0\r\n\r\n"
    )
    req = _req(data)
    assert req.from_.tag == "7"
    assert req.cseq == CSeq(2, "OPTIONS")
    assert req.headers.get("Call-ID") == "x"
    assert req.to.uri == req.request_uri


def test_cseq_out_of_32_bit_range_is_error() -> None:
    """A CSeq number above 2**32-1 is malformed."""
    req = _req(invite("CSeq: 4294967296 INVITE", replace="CSeq"))
    with pytest.raises(SipParseError):
        _ = req.cseq
    assert _req(invite("CSeq: 4294967295 INVITE", replace="CSeq")).cseq.seq == 2**32 - 1


def test_parse_response_with_and_without_reason() -> None:
    """Status lines with a UTF-8 reason or none at all are parsed."""
    resp = parse("SIP/2.0 486 忙 Busy\r\nCSeq: 1 INVITE\r\n\r\n".encode())
    assert isinstance(resp, Response)
    assert (resp.status, resp.reason) == (486, "忙 Busy")
    resp = parse(b"SIP/2.0 100\r\nCSeq: 1 INVITE\r\n\r\n")
    assert isinstance(resp, Response) and (resp.status, resp.reason) == (100, "")


@pytest.mark.parametrize(
    "data",
    [
        b"SIP/2.0 99 Low\r\n\r\n",
        b"SIP/2.0 700 High\r\n\r\n",
        b"SIP/2.0 2000 Long\r\n\r\n",
        b"SIP/x 200 OK\r\n\r\n",
    ],
)
def test_bad_status_lines_are_dropped(data: bytes) -> None:
    """A broken status line raises a drop (status_hint None), never an answer."""
    with pytest.raises(SipParseError) as info:
        parse(data)
    assert info.value.drop


@pytest.mark.parametrize(
    "data",
    [
        invite().replace(b" SIP/2.0\r\n", b"\r\n", 1),
        invite("Bad Header: x"),
        invite("NoColonHere"),
        invite().replace(b"\r\n\r\n", b"\r\n"),
    ],
)
def test_malformed_routable_requests_are_400(data: bytes) -> None:
    """Broken request lines or header lines with Via and CSeq present give 400."""
    with pytest.raises(SipParseError) as info:
        parse(data)
    assert info.value.status_hint == 400


def test_malformed_request_without_via_is_dropped() -> None:
    """A broken request with no Via cannot be answered, so it is dropped."""
    with pytest.raises(SipParseError) as info:
        parse(invite("NoColonHere", replace="Via"))
    assert info.value.drop


def test_serialise_writes_correct_content_length() -> None:
    """serialise() replaces a wrong Content-Length with the body's true length."""
    req = Request("MESSAGE", "sip:a@b", Headers([("To", "<sip:a@b>"), ("l", "99")]), b"hello")
    wire = serialise(req)
    assert wire == b"MESSAGE sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\nContent-Length: 5\r\n\r\nhello"
    assert parse(wire) == req


def test_serialise_appends_content_length_when_missing() -> None:
    """A message without Content-Length gets one at the end of its header."""
    resp = Response(200, "OK", Headers([("CSeq", "1 BYE")]))
    assert serialise(resp) == b"SIP/2.0 200 OK\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
    assert parse(serialise(resp)) == resp


def test_non_utf8_octets_roundtrip() -> None:
    """Header octets that are not UTF-8 survive parse and serialise unchanged."""
    data = b"SIP/2.0 200 \xff\xfeOK\r\nX: \xc3\x28\r\nContent-Length: 0\r\n\r\n"
    assert serialise(parse(data)) == data
