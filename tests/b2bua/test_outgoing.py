"""The call core's fast builders and key functions, pinned to the plain way of doing it."""

from __future__ import annotations

import dataclasses

import pytest
from b2bua_harness import NET_IN, SDP, TRUNK, Net, in_dialog, invite, reply
from hypothesis import given
from hypothesis import strategies as st
from test_calls import setup_call

from sipguard.b2bua.headers import make_response, reason_phrase
from sipguard.b2bua.leg_b import b_dialog
from sipguard.b2bua.outgoing import dialog_ack, dialog_request, headers_of
from sipguard.sip.dialog import Dialog
from sipguard.sip.headers import Headers
from sipguard.sip.message import Request, Response
from sipguard.sip.transaction import client_key
from sipguard.sip.wire import parse, serialise

NAMES = st.sampled_from(
    [
        "Via",
        "v",
        "From",
        "f",
        "To",
        "t",
        "i",
        "Call-ID",
        "CSeq",
        "Contact",
        "m",
        "l",
        "Content-Length",
        "content-type",
        "X-Custom",
        "Route",
        "Supported",
        "k",
    ]
)
VALUES = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=20)


@given(st.lists(st.tuples(NAMES, VALUES), max_size=12))
def test_headers_of_equals_headers_built_field_by_field(pairs: list[tuple[str, str]]) -> None:
    """headers_of(pairs) holds the same fields, and finds them by the same keys."""
    fast, plain = headers_of(pairs), Headers(pairs)
    assert fast == plain and fast.items() == plain.items()
    for name in ("via", "from", "to", "call-id", "contact", "content-length", "x-custom"):
        assert fast.get_fields(name) == plain.get_fields(name)


def _plain_response(
    req: Request, status: int, tag: str | None, extra: list[tuple[str, str]]
) -> Response:
    """make_response the obvious way: Headers.add, one field at a time."""
    h, out = req.headers, Headers()
    for via in h.get_fields("via"):
        out.add("Via", via)
    out.add("From", h.get("from") or "")
    to = h.get("to") or ""
    if tag and status != 100 and req.to.tag is None:
        to = f"{to};tag={tag}"
    out.add("To", to)
    out.add("Call-ID", req.call_id)
    out.add("CSeq", str(req.cseq))
    for name, value in extra:
        out.add(name, value)
    return Response(status, reason_phrase(status), out)


def test_make_response_equals_the_plain_build() -> None:
    """Responses with and without a To tag and extra fields serialise to the same bytes."""
    req = parse(invite(extra="Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-2"))
    assert isinstance(req, Request)
    for status, tag, extra in [
        (100, "x", []),
        (180, "t1", []),
        (503, "t2", [("Retry-After", "5")]),
    ]:
        fast = make_response(req, status, tag, extra)
        assert serialise(fast) == serialise(_plain_response(req, status, tag, extra))


def _dialog() -> Dialog:
    req = parse(invite())
    resp = parse(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK-a1\r\n"
        b"Record-Route: <sip:p1.example;lr>\r\nRecord-Route: <sip:p2.example;lr>\r\n"
        b"From: <sip:4008001234@127.0.0.2>;tag=ftag1\r\nTo: <sip:1@127.0.0.1>;tag=tt\r\n"
        b"Call-ID: a-call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:uas@10.0.0.9>\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    assert isinstance(req, Request) and isinstance(resp, Response)
    return Dialog.as_uac(req, resp)


def test_dialog_request_equals_dialog_request_of_the_dialog() -> None:
    """BYE, re-INVITE with Contact, body and extra fields, and ACK: the same bytes and CSeq."""
    extra = [("Supported", "timer"), ("Content-Type", "application/sdp")]
    cases = [("BYE", "<sip:me>", b"", []), ("INVITE", "<sip:me>", SDP, extra)]
    for method, contact, body, more in cases:
        fast_d, plain_d = _dialog(), _dialog()
        via = "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-x;rport"
        fast = dialog_request(fast_d, method, via, contact, body=body, extra=more)
        plain = plain_d.request(method, via, contact, body=body, extra=list(more))
        assert serialise(fast) == serialise(plain) and fast_d == plain_d
    d, via = _dialog(), "SIP/2.0/UDP h;branch=z9hG4bK-y"
    assert serialise(dialog_ack(dataclasses.replace(d), 1, via)) == serialise(d.ack(1, via))


def test_every_client_transaction_is_keyed_as_its_request_says() -> None:
    """Keys we pass for our own requests (minted branches) equal client_key of the request."""
    net = Net()
    _b_inv, ok, _ = setup_call(net)
    net.send(in_dialog("INFO", ok, 2, TRUNK, "z9hG4bK-info"), TRUNK)
    net.send(in_dialog("BYE", ok, 3, TRUNK, "z9hG4bK-bye"), TRUNK)
    net.send(invite(call_id="c2", branch="z9hG4bK-c2"), TRUNK)
    net.send(invite(call_id="c2", branch="z9hG4bK-c2").replace(b"INVITE", b"CANCEL"), TRUNK)
    entries = list(net.core.txs.client.items())
    assert {e.tx.request.method for _, e in entries} >= {"INFO", "BYE", "INVITE", "CANCEL"}
    for key, entry in entries:
        assert key == entry.key == client_key(entry.tx.request)
    assert net.take(NET_IN)


def parse_request(data: bytes) -> Request:
    msg = parse(data)
    assert isinstance(msg, Request)
    return msg


@pytest.mark.parametrize(
    "extra",
    [(), ("Record-Route: <sip:p1;lr>", "Record-Route: <sip:p2;lr>, <sip:p3;lr>")],
    ids=["no-routes", "routes"],
)
@pytest.mark.parametrize("status", [180, 200])
@pytest.mark.parametrize("contact", ["<sip:uas@127.0.0.4:5070>", None], ids=["contact", "none"])
def test_b_dialog_equals_as_uac_of_leg_bs_invite(
    extra: tuple[str, ...], status: int, contact: str | None
) -> None:
    """Leg B's dialog from known identifiers equals Dialog.as_uac on the INVITE we sent."""
    net = Net()
    net.send(invite(), TRUNK)
    b_inv = net.one(NET_IN)
    assert isinstance(b_inv, Request)
    raw = reply(b_inv, status, extra=extra)
    if contact is None:
        raw = b"\r\n".join(x for x in raw.split(b"\r\n") if not x.startswith(b"Contact:"))
    resp = parse(raw)
    assert isinstance(resp, Response)
    (call,) = net.core.table.calls.values()
    assert b_dialog(call.b, resp) == Dialog.as_uac(b_inv, resp)


@given(st.lists(st.tuples(NAMES, VALUES), max_size=12), st.sets(NAMES.map(str.lower)))
def test_select_equals_the_fields_filtered_by_their_canonical_names(
    pairs: list[tuple[str, str]], wanted: set[str]
) -> None:
    """Headers.select(keys) is the plain filter of items() by canonical name."""
    from sipguard.sip.headers import canonical

    keys = frozenset(canonical(n) for n in wanted)
    for h in (headers_of(pairs), Headers(pairs)):
        assert h.select(keys) == [(n, v) for n, v in h.items() if canonical(n) in keys]


_VIA_STAMPS = st.sampled_from(
    [
        (b"SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK-a1", ("127.0.0.2", 5062)),
        (b"SIP/2.0/UDP 127.0.0.2:5062;rport;branch=z9hG4bK-a1", ("127.0.0.2", 40000)),
        (b"SIP/2.0/UDP 127.0.0.9:5999;branch=z9hG4bK-a1", ("127.0.0.2", 5062)),
        (b"SIP/2.0/UDP pbx.example;received=1.2.3.4;rport;branch=z9hG4bK-a1", ("127.0.0.2", 9)),
        (b"SIP/2.0/UDP 127.0.0.9;branch=z9hG4bK-a1, SIP/2.0/UDP 10.0.0.1", ("127.0.0.2", 5062)),
    ]
)


_VIEWS = ("vias", "top_via", "to", "from_", "cseq", "call_id", "request_uri")


@given(_VIA_STAMPS, st.sets(st.sampled_from(_VIEWS)))
def test_stamp_equals_a_request_rebuilt_with_the_stamped_via(
    case: tuple[bytes, tuple[str, int]], read_first: set[str]
) -> None:
    """stamp keeps what was parsed from the other headers; the result is the very request
    the plain way builds (every field rebuilt with Headers), accessor for accessor,
    whatever was read before the stamp."""
    from sipguard.b2bua.effects import Addr
    from sipguard.b2bua.reply_route import _stamped, stamp
    from sipguard.sip.headers import canonical, split_commas

    via, (host, port) = case
    data = invite().replace(b"SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK-a1", via)
    assert via in data
    req = parse(data)
    assert isinstance(req, Request)
    for name in sorted(read_first):  # fill the memo in any combination
        getattr(req, name)
    source = Addr(host, port)
    got = stamp(req, source)
    top = _stamped(parse(data).vias[0], source)  # type: ignore[union-attr]
    if top is None:
        assert got is req
        return
    fields = req.headers.items()
    first = next(i for i, (n, _) in enumerate(fields) if canonical(n) == "via")
    fields[first] = (fields[first][0], ", ".join([str(top), *split_commas(fields[first][1])[1:]]))
    plain = Request(req.method, req.uri, Headers(fields), req.body)
    assert got.headers == plain.headers and serialise(got) == serialise(plain)
    for view in _VIEWS:
        assert getattr(got, view) == getattr(plain, view), view
    assert got.addresses("contact") == plain.addresses("contact")


def test_the_core_takes_its_address_from_the_first_listen_entry() -> None:
    """``listen`` is read with ``policy.hostport``: brackets, a port, or the default."""
    from b2bua_harness import rules

    from sipguard.b2bua import B2BUA, Addr

    ruleset = rules()
    kept = ruleset.listen
    try:
        for listen, local in (
            (["[::1]:5070"], Addr("::1", 5070)),
            (["10.0.0.5"], Addr("10.0.0.5", 5060)),
            ([], Addr("127.0.0.1", 5060)),
        ):
            ruleset.listen = listen
            assert B2BUA(ruleset).ids.local == local
    finally:
        ruleset.listen = kept


def test_cancel_and_the_ack_of_a_non_2xx_are_one_request_but_method_and_to() -> None:
    """Both copy the INVITE's top Via, Request-URI, Route, From, Call-ID and CSeq number."""
    from sipguard.b2bua.leg_b import cancel_for
    from sipguard.sip.keys import build_ack

    req = parse(invite().replace(b"Record-Route:", b"Route:"))
    assert isinstance(req, Request)
    answer = make_response(req, 486, to_tag="b-tag")
    cancel, ack = cancel_for(req), build_ack(req, answer)
    assert (cancel.method, ack.method) == ("CANCEL", "ACK")
    assert cancel.headers.get("to") == req.headers.get("to")
    assert ack.to.tag == "b-tag"
    for msg in (cancel, ack):
        assert msg.uri == req.uri and msg.body == b""
        assert msg.top_via.branch == req.top_via.branch
        assert msg.headers.get_fields("route") == req.headers.get_fields("route")
        assert msg.headers.get("from") == req.headers.get("from")
        assert msg.call_id == req.call_id and msg.cseq.seq == req.cseq.seq
        assert msg.max_forwards == 70
    drop_to = [(n, v) for n, v in cancel.headers.items() if n not in ("CSeq", "To")]
    assert drop_to == [(n, v) for n, v in ack.headers.items() if n not in ("CSeq", "To")]
