"""Property tests: round trips of generated messages, and robustness on hostile bytes."""

from __future__ import annotations

import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipguard.errors import SipParseError
from sipguard.sip import (
    Headers,
    Message,
    Request,
    Response,
    StreamFramer,
    classify,
    parse,
    serialise,
)

CORPUS = sorted((Path(__file__).resolve().parent.parent / "data" / "rfc4475").glob("*.dat"))
TOKEN = st.text(string.ascii_letters + string.digits + "-.!%*_+`'~", min_size=1, max_size=12)
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=40
).filter(lambda s: s == s.strip())
URI = st.text(string.ascii_letters + string.digits + ":@;=.-_%+?&", min_size=1, max_size=30)
FIELDS = st.lists(st.tuples(TOKEN, TEXT), max_size=12)
VERSION = st.sampled_from(["SIP/2.0", "SIP/2.1", "SIP/10.0"])


@st.composite
def requests(draw: st.DrawFn) -> Request:
    """Generate an arbitrary request whose parts are valid on the wire."""
    return Request(
        draw(TOKEN), draw(URI), Headers(draw(FIELDS)), draw(st.binary(max_size=64)), draw(VERSION)
    )


@st.composite
def responses(draw: st.DrawFn) -> Response:
    """Generate an arbitrary response whose parts are valid on the wire."""
    return Response(
        draw(st.integers(100, 699)),
        draw(TEXT),
        Headers(draw(FIELDS)),
        draw(st.binary(max_size=64)),
        draw(VERSION),
    )


@given(st.one_of(requests(), responses()))
def test_parse_inverts_serialise(msg: Message) -> None:
    """parse(serialise(m)) == m for any generated request or response."""
    wire = serialise(msg)
    assert parse(wire) == msg
    assert serialise(parse(wire)) == wire


@given(st.one_of(requests(), responses()), st.integers(1, 7))
def test_stream_framer_recovers_serialised_messages(msg: Message, cuts: int) -> None:
    """Serialised messages cut into arbitrary chunks come out of the framer whole."""
    wire = serialise(msg)
    stream = wire + b"\r\n\r\n" + wire
    step = max(1, len(stream) // cuts)
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(0, len(stream), step):
        out += framer.feed(stream[i : i + step])
    assert out == [wire, wire]


HINTS = {None, 400, 413, 416, 420, 483, 505, 513}


def _only_parse_errors(data: bytes) -> None:
    try:
        assert isinstance(parse(data), Request | Response)
    except SipParseError as err:
        assert err.status_hint in HINTS
    out = classify(data)
    assert out.action in ("process", "reply", "drop")
    assert (out.status is None) == (out.action != "reply")
    try:
        frames = StreamFramer(max_size=2048).feed(data)
        assert sum(len(f) for f in frames) <= len(data)
    except SipParseError as err:
        assert err.status_hint in (400, 513)


@given(st.binary(max_size=512))
def test_arbitrary_bytes_raise_only_parse_errors(data: bytes) -> None:
    """Random octets make parse, classify and the framer raise SipParseError or nothing."""
    _only_parse_errors(data)
    _only_parse_errors(b"INVITE sip:a@b SIP/2.0\r\n" + data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """Take a torture-test message and delete, insert or overwrite a few octet ranges."""
    data = bytearray(CORPUS[draw(st.integers(0, len(CORPUS) - 1))].read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["delete", "insert", "overwrite"]))
        chunk = draw(
            st.sampled_from(
                [b":", b";", b",", b"<", b">", b'"', b"\r\n", b" ", b"%", b"\x00", b"9" * 4400]
            )
        )
        if kind == "delete":
            del data[at : at + draw(st.integers(1, 20))]
        elif kind == "insert":
            data[at:at] = chunk
        else:
            data[at : at + len(chunk)] = chunk
    return bytes(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_corpus_raises_only_parse_errors(data: bytes) -> None:
    """Mutated torture messages never leak an exception other than SipParseError."""
    _only_parse_errors(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_processed_messages_have_safe_accessors(data: bytes) -> None:
    """Whenever classify says process, the documented accessors do not raise."""
    out = classify(data)
    if out.action != "process":
        assert out.message is None or isinstance(out.message, Request)
        return
    msg = out.message
    assert msg is not None
    assert msg.call_id and msg.cseq.seq >= 0 and msg.top_via.host
    assert msg.from_.uri is not None and msg.to.uri is not None
    if isinstance(msg, Request):
        assert msg.vias
        assert msg.request_uri is not None
        assert msg.max_forwards is None or 0 < msg.max_forwards <= 255
        msg.addresses("p-asserted-identity")
        if msg.headers.get("contact") != "*":
            msg.addresses("contact")
