"""Dialog creation, in-dialog request building and CSeq ordering (RFC 3261 section 12)."""

from __future__ import annotations

from sipguard.sip.dialog import Dialog, DialogId, dialog_id_of
from sipguard.sip.wire import parse

INVITE = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"
    b"Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:alice@example.com>;tag=a1\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: dlg-1\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Contact: <sip:alice@192.0.2.1:5060>\r\n"
    b"Content-Length: 0\r\n\r\n"
)
OK = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"
    b"Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\r\n"
    b"From: <sip:alice@example.com>;tag=a1\r\n"
    b"To: <sip:bob@example.com>;tag=b1\r\n"
    b"Call-ID: dlg-1\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Contact: <sip:bob@192.0.2.9:5080>\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def test_uac_dialog_from_2xx() -> None:
    """A UAC dialog takes tags, the reversed Record-Route and the Contact of the 2xx."""
    req, resp = parse(INVITE), parse(OK)
    d = Dialog.as_uac(req, resp)  # type: ignore[arg-type]
    assert d.id == DialogId("dlg-1", "a1", "b1")
    assert d.route_set == ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
    assert d.remote_target == "sip:bob@192.0.2.9:5080"
    assert d.local_seq == 7 and not d.early


def test_uas_dialog_from_request() -> None:
    """A UAS dialog keeps Record-Route in order, the caller's Contact, and adds our tag."""
    req = parse(INVITE)
    d = Dialog.as_uas(req, "ours", early=True)  # type: ignore[arg-type]
    assert d.id == DialogId("dlg-1", "ours", "a1")
    assert d.route_set == ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert d.remote_target == "sip:alice@192.0.2.1:5060"
    assert d.local.endswith(";tag=ours") and d.remote_seq == 7 and d.early


def test_in_dialog_bye_uses_target_routes_and_next_cseq() -> None:
    """A BYE goes to the remote target via the route set with CSeq one above the last."""
    d = Dialog.as_uac(parse(INVITE), parse(OK))  # type: ignore[arg-type]
    bye = d.request("BYE", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-x")
    assert bye.uri == "sip:bob@192.0.2.9:5080"
    assert bye.headers.get_all("route") == d.route_set
    assert str(bye.cseq) == "8 BYE"
    assert bye.to.tag == "b1" and bye.from_.tag == "a1"
    assert "contact" not in bye.headers


def test_ack_for_2xx_reuses_invite_cseq() -> None:
    """The ACK of a 2xx carries the INVITE's CSeq number and does not advance the counter."""
    d = Dialog.as_uac(parse(INVITE), parse(OK))  # type: ignore[arg-type]
    a = d.ack(7, "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-y")
    assert str(a.cseq) == "7 ACK" and d.local_seq == 7


def test_remote_cseq_must_grow() -> None:
    """A repeated or lower remote CSeq is refused; a higher one is recorded."""
    d = Dialog.as_uas(parse(INVITE), "ours")  # type: ignore[arg-type]
    assert not d.accept_remote_cseq(7)
    assert d.accept_remote_cseq(8) and d.remote_seq == 8


def test_target_refresh() -> None:
    """A re-INVITE's Contact replaces the remote target; routes stay."""
    d = Dialog.as_uas(parse(INVITE), "ours")  # type: ignore[arg-type]
    reinvite = parse(INVITE.replace(b"192.0.2.1:5060>", b"192.0.2.77:5060>"))
    d.refresh_target(reinvite)  # type: ignore[arg-type]
    assert d.remote_target == "sip:alice@192.0.2.77:5060"
    assert len(d.route_set) == 2


def test_dialog_id_of_incoming_request() -> None:
    """An in-dialog request's To tag is our local tag when we are its UAS."""
    bye = parse(OK.replace(b"SIP/2.0 200 OK", b"BYE sip:x SIP/2.0").replace(b"7 INVITE", b"8 BYE"))
    assert dialog_id_of(bye) == DialogId("dlg-1", "b1", "a1")  # type: ignore[arg-type]
    assert dialog_id_of(bye, as_uas=False) == DialogId("dlg-1", "a1", "b1")  # type: ignore[arg-type]
