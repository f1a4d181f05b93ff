"""The test peer's own reader of SIP text, which the e2e assertions rely on."""

from __future__ import annotations

from peers.pjsua.text import parse_text

INVITE = (
    "INVITE sip:13800138000@127.0.0.32:5354 SIP/2.0\r\n"
    "v: SIP/2.0/UDP 127.0.0.30:5350;branch=z9hG4bK1\r\n"
    "f: <sip:4008001234@127.0.0.30>;tag=a\r\n"
    "To: <sip:13800138000@127.0.0.32>\r\n"
    "P-Asserted-Identity: <tel:+864008001234>\r\n"
    "p-asserted-identity: <sip:4008001234@127.0.0.30>\r\n"
    "Subject: folded\r\n"
    " continuation\r\n"
    "CSeq: 1 INVITE\r\n"
    "c: application/sdp\r\n"
    "\r\n"
    "v=0\r\no=- 1 1 IN IP4 127.0.0.31\r\n\r\nm=audio 4000 RTP/AVP 0\r\n"
)


def test_request_start_line_and_compact_headers() -> None:
    """Compact forms and any letter case find the same header as the long name."""
    msg = parse_text(INVITE)
    assert not msg.is_response and msg.method == "INVITE"
    assert msg.request_uri == "sip:13800138000@127.0.0.32:5354"
    assert msg.get("From") == "<sip:4008001234@127.0.0.30>;tag=a"
    assert msg.get("VIA") == "SIP/2.0/UDP 127.0.0.30:5350;branch=z9hG4bK1"
    assert msg.get("Content-Type") == "application/sdp"


def test_repeated_headers_keep_their_order() -> None:
    """Every P-Asserted-Identity is returned, first one first."""
    msg = parse_text(INVITE)
    assert msg.get_all("P-Asserted-Identity") == [
        "<tel:+864008001234>",
        "<sip:4008001234@127.0.0.30>",
    ]
    assert msg.get("Privacy") is None


def test_folded_lines_are_joined_and_body_is_exact() -> None:
    """A folded header becomes one value; the body is kept byte for byte, blank lines too."""
    msg = parse_text(INVITE)
    assert msg.get("Subject") == "folded continuation"
    assert msg.body == "v=0\r\no=- 1 1 IN IP4 127.0.0.31\r\n\r\nm=audio 4000 RTP/AVP 0\r\n"


def test_response_status_and_cseq_method() -> None:
    """A response reports its status and the method named in CSeq, and has no body if empty."""
    msg = parse_text(
        'SIP/2.0 403 Forbidden\r\nCSeq: 7 INVITE\r\nReason: SIP;cause=403;text="X"\r\n\r\n'
    )
    assert msg.is_response and msg.status == 403 and msg.method == "INVITE"
    assert msg.get("reason") == 'SIP;cause=403;text="X"'
    assert msg.body is None and msg.request_uri is None
