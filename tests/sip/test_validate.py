"""Unit tests of classify(): what a proxy answers before processing a request."""

from __future__ import annotations

import pytest

from sipguard.sip import Outcome, Request, classify, validate_request

from .helpers import invite

SDP = b"v=0\r\n"


def test_good_invite_is_processed_with_its_message() -> None:
    """A well-formed INVITE is processed and the outcome carries the parsed request."""
    out = classify(invite(body=SDP, length=len(SDP)))
    assert out == Outcome("process")
    assert out.as_tuple() == ("process", None)
    assert isinstance(out.message, Request) and out.message.method == "INVITE"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (invite("Max-Forwards: 0", replace="Max-Forwards"), ("reply", 483)),
        (invite("Max-Forwards: 256", replace="Max-Forwards"), ("reply", 400)),
        (invite("Max-Forwards: 70"), ("reply", 400)),
        (invite("Max-Forwards: x", replace="Max-Forwards"), ("reply", 400)),
        (invite("CSeq: 1 BYE", replace="CSeq"), ("reply", 400)),
        (invite("CSeq: 1", replace="CSeq"), ("reply", 400)),
        (invite("Call-ID: x y", replace="Call-ID"), ("reply", 400)),
        (invite(replace="Call-ID"), ("reply", 400)),
        (invite(replace="From"), ("reply", 400)),
        (invite("To: <sip:x@y>"), ("reply", 400)),
        (invite("Proxy-Require: foo"), ("reply", 420)),
        (invite("Require: foo"), ("process", None)),
        (invite("Contact: <sip:a@b>;;"), ("reply", 400)),
        (invite("Contact: *"), ("process", None)),
        (invite("P-Asserted-Identity: <sip:+8640080@x>, <tel:+8640080>"), ("process", None)),
        (invite("P-Asserted-Identity: <sip:x"), ("reply", 400)),
        (invite("Via: SIP/2.0/UDP h;;"), ("reply", 400)),
        (invite("Accept: text/plain"), ("reply", 406)),
        (invite("Accept: application/sdp, text/plain"), ("process", None)),
        (invite(replace="Via"), ("drop", None)),
        (invite(replace="CSeq"), ("drop", None)),
    ],
)
def test_request_checks(data: bytes, expected: tuple[str, int | None]) -> None:
    """Each pre-processing check gives its RFC 3261 status, or drop when unanswerable."""
    assert classify(data).as_tuple() == expected


@pytest.mark.parametrize(
    ("ruri", "expected"),
    [
        ("sips:a@b", ("process", None)),
        ("tel:+8613800138000", ("process", None)),
        ("mailto:a@b", ("reply", 416)),
        ("http://x", ("reply", 416)),
        ("sip:a@b:123456", ("reply", 400)),
    ],
)
def test_request_uri_scheme(ruri: str, expected: tuple[str, int | None]) -> None:
    """Only sip, sips and tel Request-URIs are processed; others get 416."""
    data = invite().replace(b"sip:13800138000@203.0.113.5 SIP", f"{ruri} SIP".encode(), 1)
    assert classify(data).as_tuple() == expected


def test_unsupported_version_is_505() -> None:
    """A request with a SIP version other than 2.0 gets 505."""
    data = invite().replace(b" SIP/2.0\r\n", b" SIP/3.0\r\n", 1)
    assert classify(data).as_tuple() == ("reply", 505)


@pytest.mark.parametrize(
    "data",
    [
        b"SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\nCall-ID: x\r\nFrom: <sip:a@b>;tag=1\r\n"
        b"To: <sip:c@d>\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: x INVITE\r\n"
        b"Call-ID: x\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1;received=255.255.255.255\r\n"
        b"CSeq: 1 INVITE\r\nCall-ID: x\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 INVITE\r\n"
        b"Call-ID: x\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nContent-Length: 9\r\n\r\n",
    ],
)
def test_bad_responses_are_dropped(data: bytes) -> None:
    """Responses without Via, with a bad CSeq, a broadcast Via or a short body are dropped."""
    assert classify(data).as_tuple() == ("drop", None)


def test_good_response_is_processed() -> None:
    """A complete 180 response is processed."""
    data = (
        b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCSeq: 1 INVITE\r\n"
        b"Call-ID: x\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nContent-Length: 0\r\n\r\n"
    )
    assert classify(data).as_tuple() == ("process", None)


def test_validate_request_accepts_good_request() -> None:
    """validate_request() returns None for a well-formed request."""
    out = classify(invite())
    assert isinstance(out.message, Request)
    assert validate_request(out.message) is None


@pytest.mark.parametrize(
    ("extra", "replace"),
    [
        ("CSeq: " + "9" * 5000 + " INVITE", "CSeq"),
        ("Max-Forwards: " + "9" * 5000, "Max-Forwards"),
        ("Content-Length: " + "9" * 5000, ""),
        ("Via: SIP/2.0/UDP h:" + "9" * 5000 + ";branch=z9hG4bK1", "Via"),
    ],
)
def test_huge_numbers_are_400_not_crashes(extra: str, replace: str) -> None:
    """Numbers with thousands of digits are answered 400 instead of overflowing int()."""
    assert classify(invite(extra, replace=replace)).as_tuple() == ("reply", 400)


def test_leading_zeros_are_accepted() -> None:
    """Max-Forwards written with many leading zeros is still a small number."""
    out = classify(invite("Max-Forwards: 0000000000000000000070", replace="Max-Forwards"))
    assert out.as_tuple() == ("process", None)
    assert out.message is not None and out.message.max_forwards == 70
