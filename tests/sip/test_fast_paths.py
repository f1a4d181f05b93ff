"""The speed tricks of the SIP core agree with plain, obvious behaviour (tests/sip/reference.py).

- every shape check accepts only values the full parser accepts;
- classify gives the answer of parse + the plain validators, on the RFC 4475 corpus, on
  generated messages and on mutated corpus messages;
- the linear-time helpers (unfolding, comma splitting, quoted strings, %-escapes) return
  what the one-character-at-a-time versions return;
- header values and parsed headers read through the lazy, memoised accessors equal the
  plain parse of the raw text.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipguard.errors import SipParseError
from sipguard.memo import UsedMemo
from sipguard.sip import Request, classify, parse, parse_address, parse_uri, parse_via, shapes
from sipguard.sip.address import parse_quoted
from sipguard.sip.headers import split_commas
from sipguard.sip.message import parse_cseq
from sipguard.sip.uri import SipUri, TelUri, unescape
from sipguard.sip.wire import unfold

from . import reference
from .test_properties import mutated

CORPUS = sorted((Path(__file__).resolve().parent.parent / "data" / "rfc4475").glob("*.dat"))
BENCH = Path(__file__).resolve().parents[2] / "bench"

PIECES = [
    "SIP/2.0/UDP ",
    "SIP/2.0/TCP",
    " ",
    "\t",
    "host.example.com",
    "192.0.2.1",
    "[2001:db8::1]",
    ":5060",
    ":65536",
    ":0",
    ";branch=z9hG4bK1",
    ";rport",
    ";received=[::1]",
    ";",
    "=",
    ",",
    '"',
    "\\",
    '"Care" ',
    "Bob ",
    "<",
    ">",
    "sip:",
    "sips:",
    "tel:+86400",
    "user",
    "@",
    ":pw",
    ";tag=1",
    ";user=phone",
    ";lr",
    "?h=v",
    "%41",
    "%4",
    "%",
    "a",
    "1",
    "INVITE",
    "*",
    "é",
    "x\x00",
    ";q=0.5",
    "mailto:x",
    "\u00a0",
]
TEXT = st.lists(st.sampled_from(PIECES), max_size=10).map("".join)


def _ok(parser: Callable[[str], object], text: str) -> bool:
    try:
        parser(text)
    except SipParseError:
        return False
    return True


def _all_ok(parser: Callable[[str], object], text: str) -> bool:
    return all(_ok(parser, v) for v in split_commas(text))


def _plain_uri(text: str) -> None:
    if not isinstance(parse_uri(text), SipUri | TelUri):
        raise SipParseError("scheme")


def _plain_cseq(text: str) -> None:
    if parse_cseq(text).seq >= 2**32:
        raise SipParseError("range")


def _near(parts: tuple[str, str, bool]) -> str:
    good, noise, before = parts
    return noise + good if before else good + noise


CHECKS: list[tuple[re.Pattern[str], Callable[[str], bool]]] = [
    (shapes.VIA, lambda t: _ok(parse_via, t)),
    (shapes.VIA_LIST, lambda t: _all_ok(parse_via, t)),
    (shapes.ADDRESS, lambda t: _ok(parse_address, t)),
    (shapes.ADDRESS_LIST, lambda t: _all_ok(parse_address, t)),
    (shapes.REQUEST_URI, lambda t: _ok(_plain_uri, t)),
    (shapes.CSEQ, lambda t: _ok(_plain_cseq, t)),
]


def _fields(name: str) -> list[str]:
    return [
        v
        for path in CORPUS
        if (msg := _try_parse(path.read_bytes())) is not None
        for v in msg.headers.get_fields(name)
    ]


def _try_parse(data: bytes) -> Request | None:
    try:
        msg = parse(data)
    except SipParseError:
        return None
    return msg if isinstance(msg, Request) else None


@pytest.mark.parametrize(
    ("name", "shape", "parser"),
    [
        ("via", shapes.VIA_LIST, parse_via),
        ("from", shapes.ADDRESS, parse_address),
        ("to", shapes.ADDRESS, parse_address),
        ("contact", shapes.ADDRESS_LIST, parse_address),
    ],
)
def test_shapes_on_corpus_values(
    name: str, shape: re.Pattern[str], parser: Callable[[str], object]
) -> None:
    """On every corpus value the shape check never vouches for a value that fails to parse,
    and it does vouch for most of the plain ones (so the fast path is really taken)."""
    fields = _fields(name)
    matched = [f for f in fields if shape.fullmatch(f) is not None]
    assert all(_all_ok(parser, f) for f in matched)
    assert len(matched) >= len(fields) // 2


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_classify_agrees_with_reference_on_corpus(path: Path) -> None:
    """Each torture message gets the answer of parse + the plain validators."""
    data = path.read_bytes()
    assert classify(data).as_tuple() == reference.classify(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_classify_agrees_with_reference_on_mutations(data: bytes) -> None:
    """Mutated torture messages get the answer of parse + the plain validators."""
    assert classify(data).as_tuple() == reference.classify(data)


GOOD = {
    "Via": ["SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport", "SIP/2.0/TCP h, SIP/2.0/UDP g"],
    "From": ['"Care" <sip:400@192.0.2.1;user=phone>;tag=1', "sip:a@b;tag=2", "<tel:+86400>"],
    "To": ["<sip:138@203.0.113.5>", "Bob <sips:b@[2001:db8::1]:5061>", "sip:c@d"],
    "Call-ID": ["c1@192.0.2.1", "x"],
    "CSeq": ["1 INVITE", "2 BYE", "7 ACK"],
    "Max-Forwards": ["70", "1", "255"],
    "Contact": ["<sip:400@192.0.2.1:5060>", "*", "<sip:a@b>;q=0.5, <sip:c@d>"],
    "P-Asserted-Identity": ["<tel:+86400>", '"A" <sip:a@b>, <tel:1>'],
}
START = st.sampled_from(
    [
        "INVITE sip:138@203.0.113.5;user=phone SIP/2.0",
        "BYE sip:a@b SIP/2.0",
        "ACK tel:+86400 SIP/2.0",
        "OPTIONS mailto:x SIP/2.0",
        "INVITE sip:%41@b SIP/2.0",
        "SIP/2.0 200 OK",
        "SIP/2.0 180 Ringing",
        "SIP/3.0 200 OK",
    ]
)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """A message whose headers are mostly plain values, sometimes generated fragments."""
    lines = [draw(START)]
    for name, good in GOOD.items():
        for _ in range(draw(st.sampled_from([1, 1, 1, 1, 0, 2]))):
            value = draw(st.one_of(st.sampled_from(good), st.sampled_from(good), TEXT))
            lines.append(f"{name}: {value}")
    order = draw(st.permutations(range(1, len(lines))))
    lines = [lines[0], *(lines[i] for i in order)]
    if draw(st.booleans()):
        lines.append("Accept: " + draw(st.sampled_from(["application/sdp", "text/plain"])))
    if draw(st.booleans()):
        lines.append("Proxy-Require: foo")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_classify_agrees_with_reference_on_generated_messages(data: bytes) -> None:
    """Generated requests and responses get the answer of parse + the plain validators."""
    assert classify(data).as_tuple() == reference.classify(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_accessors_equal_plain_parse_of_raw_text(data: bytes) -> None:
    """After classify, every header read lazily equals the plain parse of its raw text."""
    out = classify(data)
    if out.action != "process":
        return
    msg = out.message
    assert msg is not None
    h = msg.headers
    for name, _ in h.items():
        assert h.get_all(name) == (
            reference.values(h, name) if name.lower() in _LISTS else h.get_fields(name)
        )
    assert msg.from_ == parse_address(h.get_fields("from")[0])
    assert msg.to == parse_address(h.get_fields("to")[0])
    assert msg.top_via == parse_via(reference.split_commas(h.get_fields("via")[0])[0])
    assert msg.cseq == parse_cseq(h.get_fields("cseq")[0])
    if isinstance(msg, Request):
        assert msg.vias == [parse_via(v) for v in reference.values(h, "via")]
        assert msg.request_uri == parse_uri(msg.uri)


_LISTS = {"via", "contact", "p-asserted-identity"}
#: Plain values with generated fragments before or after them: near the edge of each shape.
NEAR = st.tuples(
    st.sampled_from([v for good in GOOD.values() for v in good] + ["sip:a@b", "1 INVITE"]),
    TEXT,
    st.booleans(),
).map(_near)


@settings(max_examples=600)
@given(st.one_of(TEXT, NEAR), st.integers(0, len(CHECKS) - 1))
def test_shape_accepts_only_what_the_parser_accepts(text: str, which: int) -> None:
    """A value a shape check vouches for always parses."""
    shape, parses = CHECKS[which]
    if shape.fullmatch(text) is not None:
        assert parses(text), text


HEADS = st.lists(st.sampled_from(["a", " ", "\t", "\r\n", "\r", "\n", ":", "b"]), max_size=16).map(
    "".join
)


@given(HEADS)
def test_unfold_equals_the_folding_regex(head: str) -> None:
    """Joining continuation lines line by line equals RFC 3261's LWS rule as a regex."""
    assert unfold(head.split("\r\n")) == reference.unfold(head)


@given(st.lists(st.sampled_from(["a", " ", ",", '"', "\\", "<", ">", "\n"]), max_size=16))
def test_split_commas_equals_the_character_loop(chars: list[str]) -> None:
    """The pattern-based comma splitter equals the one-character-at-a-time state machine."""
    value = "".join(chars)
    assert split_commas(value) == reference.split_commas(value)


def _result(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except SipParseError:
        return SipParseError


@given(st.lists(st.sampled_from(["a", "\\", '"', " ", "\x00", "é"]), max_size=12))
def test_quoted_string_equals_the_character_loop(chars: list[str]) -> None:
    """Quoted strings read by pattern and str.replace equal the character loop."""
    text = '"' + "".join(chars)
    assert _result(lambda: parse_quoted(text, 0)) == _result(lambda: reference.unquote(text, 0))


@given(
    st.lists(
        st.sampled_from(["%", "a", "F", "0", "3", "é", "%e9", "%C3%A9", "%0", "\\", "\\n", "%5C"]),
        max_size=10,
    )
)
def test_unescape_equals_the_character_loop(parts: list[str]) -> None:
    """%-decoding by split and table lookup equals the character loop."""
    text = "".join(parts)
    assert _result(lambda: unescape(text)) == _result(lambda: reference.unescape(text))


def test_realistic_call_messages_take_the_fast_path() -> None:
    """The messages of a bridged call pass the shape checks, so no full validation runs."""
    import sys

    sys.path.insert(0, str(BENCH))
    from bench_sip import messages as call_messages

    from sipguard.sip.validate import _plain_request, _plain_response

    for name, data in call_messages().items():
        msg = parse(data)
        plain = _plain_request(msg) if isinstance(msg, Request) else _plain_response(msg)
        assert plain, name
        assert classify(data).action == "process"


NAMES = st.lists(
    st.sampled_from(["Via", "v", "From", "f", "To", "X-A", "l", "I", "CSeq"]), max_size=8
)


@given(NAMES)
def test_memoised_header_keys_equal_canonical_names(names: list[str]) -> None:
    """Lookup keys come out the same whether computed or memoised, and are never shared."""
    from sipguard.sip.headers import canonical
    from sipguard.sip.wire import _headers

    expected = [canonical(n) for n in names]
    first = _headers(list(names), ["x"] * len(names))
    first.add("Extra", "1")
    again = _headers(list(names), ["x"] * len(names))
    assert [k for _, _, k in again.triples()] == expected
    assert len(again) == len(names)


def test_memo_of_header_keys_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer sending ever new header names, each twice, cannot grow the memo past its
    bound, and a sequence longer than the bound on names never enters."""
    from sipguard.sip import wire

    monkeypatch.setattr(wire, "_KEYS", UsedMemo(wire._KEYS_MAX))
    for i in range(wire._KEYS_MAX + 50):
        for _ in range(2):
            wire._headers([f"X-{i}"], ["v"])
    for _ in range(2):
        wire._headers(["X-" + "a" * wire._KEYS_MAX_NAMES], ["v"])
    assert len(wire._KEYS.now) == wire._KEYS_MAX and not wire._KEYS.before
    assert all(len(k) <= wire._KEYS_MAX_NAMES for k in wire._KEYS.now)


def test_memo_of_header_keys_keeps_what_is_used_across_sweeps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sequence parsed between sweeps keeps its entry (the very list); one no message
    used for two sweeps is gone, as is everything a flood made the memo keep."""
    from sipguard.sip import wire

    monkeypatch.setattr(wire, "_KEYS", UsedMemo(wire._KEYS_MAX))
    used, flood = ["Via", "From", "To"], [["Via", f"X-Flood-{i}"] for i in range(100)]
    for names in (used, *flood, used, *flood):
        wire._headers(list(names), ["v"] * len(names))
    kept = wire._KEYS.get(":".join(used))
    assert kept == ["via", "from", "to"] and len(wire._KEYS) == 101
    for _ in range(3):
        wire.sweep_memo()
        got = wire._headers(list(used), ["a", "b", "c"])
        assert [k for _, _, k in got.triples()] == ["via", "from", "to"]
    assert wire._KEYS.get(":".join(used)) is kept
    assert len(wire._KEYS) == 1


@settings(max_examples=300)
@given(st.lists(st.one_of(NEAR, TEXT), min_size=4, max_size=4))
def test_response_shape_is_its_four_parts(parts: list[str]) -> None:
    """The one-match response check passes only when Via, CSeq, From and To each pass."""
    via, cseq, from_, to = parts
    if shapes.RESPONSE.fullmatch("\r\n".join(parts)) is not None:
        assert shapes.VIA_LIST.fullmatch(via) is not None
        assert shapes.CSEQ.fullmatch(cseq) is not None
        assert shapes.ADDRESS.fullmatch(from_) is not None
        assert shapes.ADDRESS.fullmatch(to) is not None


def test_response_shape_accepts_a_plain_response() -> None:
    """A plain 200 OK passes the one-match check (so the fast path is really taken)."""
    plain = [GOOD["Via"][0], "1 INVITE", GOOD["From"][0], GOOD["To"][0] + ";tag=x"]
    assert shapes.RESPONSE.fullmatch("\r\n".join(plain)) is not None


@given(st.lists(st.sampled_from(["a", " ", ",", '"', "\\", "<", ">"]), max_size=16))
def test_lazy_comma_split_equals_the_character_loop(chars: list[str]) -> None:
    """Elements produced one at a time equal the one-character-at-a-time split."""
    from sipguard.sip.headers import iter_commas

    value = "".join(chars)
    assert list(iter_commas(value)) == reference.split_commas(value)


@given(st.one_of(messages(), st.sampled_from([p.read_bytes() for p in CORPUS])))
def test_built_messages_equal_constructed_ones(data: bytes) -> None:
    """Messages and outcomes built without the dataclass __init__ equal constructed ones."""
    from sipguard.sip import Outcome, Response

    try:
        msg = parse(data)
    except SipParseError:
        return
    if isinstance(msg, Request):
        plain: Request | Response = Request(msg.method, msg.uri, msg.headers, msg.body, msg.version)
    else:
        plain = Response(msg.status, msg.reason, msg.headers, msg.body, msg.version)
    assert msg == plain and repr(msg) == repr(plain)
    out = classify(data)
    made = Outcome(out.action, out.status, out.message, out.detail)
    assert out == made and repr(out) == repr(made) and out.message is made.message


VIA_PIECES = [
    "SIP/2.0/UDP ",
    "SIP/2.0/tcp ",
    "SIP/2.0/UDP  ",
    "h.example",
    "192.0.2.1",
    "[::1]",
    ":5060",
    ":05060",
    ":59999",
    ":65535",
    ";branch=z9hG4bK1",
    ";rport",
    ";received=[::1]",
    ";x=a@b/c",
    ";",
    "=",
    " ",
    "a",
    "%41",
]


@settings(max_examples=500)
@given(st.lists(st.sampled_from(VIA_PIECES), max_size=6).map("".join))
def test_plain_via_parse_equals_the_general_parse(text: str) -> None:
    """The one-match Via parse gives what the general parser gives (or both fail)."""
    from sipguard.sip.via import parse_via_general

    assert _result(lambda: parse_via(text)) == _result(lambda: parse_via_general(text))


def test_plain_via_parse_is_taken_for_plain_values() -> None:
    """The fast Via parse really applies to the Vias of a bridged call."""
    from sipguard.sip.via import _PLAIN

    assert _PLAIN.fullmatch(GOOD["Via"][0]) is not None


_REWRITES = st.sampled_from(
    [
        ("via", "SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bKnew;received=192.0.2.8"),
        ("to", "<sip:carol@example.com>;tag=t9"),
        ("f", '"Dave" <sip:dave@example.net>;tag=f9'),
        ("CSeq", "77 INVITE"),
        ("contact", "<sip:new@192.0.2.9:5080>"),
        ("call-id", "rewritten@example"),
    ]
)
_READ = ("vias", "top_via", "to", "from_", "cseq", "call_id")


_CORPUS_BYTES = st.sampled_from([p.read_bytes() for p in CORPUS])


@given(_CORPUS_BYTES, _REWRITES, st.sets(st.sampled_from(_READ)))
def test_with_header_equals_a_fresh_parse_of_the_rewritten_fields(
    data: bytes, rewrite: tuple[str, str], read: set[str]
) -> None:
    """What was memoised before with_header either still holds or is parsed again: every
    accessor of the copy answers what the plain rebuild (a new Headers) answers."""
    from sipguard.sip.headers import Headers, canonical
    from sipguard.sip.message import with_header

    try:
        msg = parse(data)
    except SipParseError:
        return
    name, value = rewrite
    key = canonical(name)
    fields = msg.headers.items()
    at = next((i for i, (n, _) in enumerate(fields) if canonical(n) == key), None)
    if at is None:
        return
    for view in sorted(read):
        with contextlib.suppress(SipParseError):
            getattr(msg, view)
    fields[at] = (fields[at][0], value)
    fast, plain = with_header(msg.headers, name, value), Headers(fields)
    assert fast == plain and fast.items() == plain.items()
    for view in (*_READ, "max_forwards"):
        got = want = None
        try:
            want = getattr(_on(msg, plain), view)
        except SipParseError as exc:
            want = type(exc)
        try:
            got = getattr(_on(msg, fast), view)
        except SipParseError as exc:
            got = type(exc)
        assert got == want, view


def _on(msg: object, headers: object) -> object:
    from dataclasses import replace

    return replace(msg, headers=headers)  # type: ignore[type-var]


@given(st.text(max_size=12), st.sampled_from(["user", "param", "hnv", "pass"]))
def test_escape_equals_the_character_loop(text: str, which: str) -> None:
    """escape's whole-string check gives what encoding character by character gives."""
    from sipguard.sip import uri

    allowed = {"user": uri._USER_OK, "param": uri._PARAM_OK, "hnv": uri._HNV_OK}.get(
        which, uri._PASS_OK
    )
    plain = "".join(
        ch if ch in allowed else "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
        for ch in text
    )
    assert uri.escape(text, allowed) == plain


def _plain_serialise(msg: Request | object) -> bytes:
    """serialise the obvious way: the canonical name of each field computed as it is written."""
    from sipguard.sip.headers import canonical

    if isinstance(msg, Request):
        lines = [f"{msg.method} {msg.uri} {msg.version}"]
    else:
        lines = [f"{msg.version} {msg.status} {msg.reason}".rstrip(" ")]  # type: ignore[attr-defined]
    body: bytes = msg.body  # type: ignore[attr-defined]
    length = f"Content-Length: {len(body)}"
    for name, value in msg.headers.items():  # type: ignore[attr-defined]
        if canonical(name) == "content-length":
            if length:
                lines.append(length)
            length = ""
        else:
            lines.append(f"{name}: {value}")
    if length:
        lines.append(length)
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape") + body


@given(st.one_of(messages(), _CORPUS_BYTES))
def test_serialise_equals_the_plain_writer(data: bytes) -> None:
    """serialise, which reads the stored lookup keys, writes what the plain writer writes."""
    from sipguard.sip import serialise

    try:
        msg = parse(data)
    except SipParseError:
        return
    assert serialise(msg) == _plain_serialise(msg)


def test_the_transaction_engine_binds_the_very_enum_members() -> None:
    """The engine's module names for Op, state and timer members are those members."""
    from sipguard.sip import transaction as t
    from sipguard.sip.timers import Timer
    from sipguard.sip.transaction_table import Kind, Op, TxState

    for op in Op:
        if op is not Op.TERMINATE:  # the engine's final else
            assert getattr(t, "_" + op.name) is op
    assert (t._TERMINATED, t._PROCEEDING, t._TIMER_E) == (
        TxState.TERMINATED, TxState.PROCEEDING, Timer.E,
    )  # fmt: skip
    assert set(t._CLIENT_KINDS) == {k for k in Kind if k.name.endswith("CLIENT")}


def test_a_name_sequence_is_memoised_on_its_second_sighting_only() -> None:
    """Sequences seen once (a flood of new ones) leave no entry; a repeated one enters, and
    its keys are those computed without the memo."""
    from sipguard.sip import wire
    from sipguard.sip.headers import canonical

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wire, "_KEYS", UsedMemo(wire._KEYS_MAX))  # other tests may fill it
        _second_sighting(wire, canonical)


def _second_sighting(wire: ModuleType, canonical: Callable[[str], str]) -> None:
    before = len(wire._KEYS)
    for i in range(wire._SEEN.limit + 10):
        wire._headers([f"Y-{i}", "Via"], ["v", "w"])
    assert len(wire._KEYS) == before and len(wire._SEEN) <= wire._SEEN.limit
    names = ["Z-Once-Twice", "v", "From"]
    for _ in range(3):
        got = wire._headers(list(names), ["a", "b", "c"])
        assert [k for _, _, k in got.triples()] == [canonical(n) for n in names]
    assert ":".join(names) in wire._KEYS


def test_a_memoised_sequence_holds_shared_key_strings_and_long_ones_stay_out() -> None:
    """A memo entry holds the one shared string of each common key, not the keys split out
    of the message it came from; a sequence longer than ``_KEYS_MAX_FIELDS`` (a duplicated
    header, a Via chain) is never memoised."""
    from sipguard.sip import wire

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wire, "_KEYS", UsedMemo(wire._KEYS_MAX))
        names = ["Via", "From", "To", "X-Carrier-Tag"]
        for _ in range(2):
            wire._headers([n for n in "|".join(names).split("|")], ["a", "b", "c", "d"])
        kept = wire._KEYS.get(":".join(names))
        assert kept == ["via", "from", "to", "x-carrier-tag"]
        assert all(key is wire._KEY_STRINGS[key] for key in kept[:3])
        assert "x-carrier-tag" not in wire._KEY_STRINGS  # the common keys only, fixed
        long = ["Via"] * (wire._KEYS_MAX_FIELDS + 1)
        for _ in range(3):
            got = wire._headers(list(long), ["v"] * len(long))
            assert len(got.get_all("via")) == len(long)
        assert ":".join(long) not in wire._KEYS
