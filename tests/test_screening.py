"""The bridge from a parsed INVITE to call facts (spec section 2, step 1)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipguard.errors import SipParseError
from sipguard.policy import CallFacts, MemoryState, Reason, load_rules, normalise
from sipguard.screening import (
    facts_from_fields,
    facts_from_request,
    lean_address,
    lean_uri,
    privacy_values,
    screen,
    uri_host,
    uri_number,
    uri_user,
)
from sipguard.sip import Request, parse, parse_address, parse_uri
from sipguard.sip.headers import split_commas

ROOT = Path(__file__).resolve().parents[1]


def invite(from_: str, ruri: str = "sip:13800138000@127.0.0.1", *extra: str) -> Request:
    lines = [
        f"INVITE {ruri} SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-t1",
        "Max-Forwards: 70",
        f"From: {from_};tag=1",
        "To: <sip:13800138000@127.0.0.1>",
        "Call-ID: t1@127.0.0.2",
        "CSeq: 1 INVITE",
        *extra,
        "Content-Length: 0",
        "",
        "",
    ]
    msg = parse("\r\n".join(lines).encode())
    assert isinstance(msg, Request)
    return msg


@pytest.mark.parametrize(
    ("uri", "user"),
    [
        ("sip:4008001234@example.com", "4008001234"),
        ("sips:+86-20-6123-4567@example.com;user=phone", "+86-20-6123-4567"),
        ("sip:4008001234;phone-context=+86@example.com;user=phone", "4008001234"),
        ("tel:+86-400-800-1234;cpc=ordinary", "+86-400-800-1234"),
        ("sip:%34%30%30@example.com", "400"),
        ("sip:example.com", None),
        ("mailto:someone@example.com", None),
    ],
)
def test_uri_user_takes_the_user_or_tel_number_without_parameters(
    uri: str, user: str | None
) -> None:
    """The user of sip/sips URIs and the number of tel URIs, parameters dropped, escapes decoded."""
    assert uri_user(parse_uri(uri)) == user


def test_facts_take_the_first_pai_privacy_tokens_and_the_ruri_user() -> None:
    """PAI's first value, every Privacy token lower-cased, and the R-URI user are extracted."""
    req = invite(
        '"Care" <sip:95123@callcenter.example>',
        "sip:13800138000@127.0.0.1",
        "P-Asserted-Identity: <tel:+8640080012345>, <sip:9999@example.com>",
        "Privacy: Header; ID",
    )
    facts = facts_from_request(req, "127.0.0.2", 5060, "UDP")
    assert facts.from_user == "95123"
    assert facts.from_host == "callcenter.example"
    assert facts.pai_user == "+8640080012345"
    assert facts.ruri_user == "13800138000"
    assert facts.privacy == ("header", "id")
    assert facts.transport == "udp"
    assert facts.call_id == "t1@127.0.0.2"


def test_facts_from_fields_match_facts_from_request() -> None:
    """Header texts split out by another SIP stack give exactly the same facts."""
    req = invite(
        "<sip:anonymous@anonymous.invalid>",
        "tel:95123",
        'P-Asserted-Identity: "A, B" <sip:4008001234@x>, <tel:1>',
        "Privacy: user",
    )
    from_request = facts_from_request(req, "127.0.0.4", 5062)
    from_fields = facts_from_fields(
        call_id=" t1@127.0.0.2 ",
        source_ip="127.0.0.4",
        source_port=5062,
        from_header="<sip:anonymous@anonymous.invalid>;tag=1",
        request_uri="tel:95123",
        pai_header='"A, B" <sip:4008001234@x>, <tel:1>',
        privacy_header="user",
    )
    assert from_fields == from_request
    assert from_request.pai_user == "4008001234"


def test_screen_runs_the_whole_decision_path() -> None:
    """screen() turns an INVITE into facts and the policy's verdict."""
    rules = load_rules(ROOT / "rules.yaml")
    now = datetime(2026, 6, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    req = invite("<sip:+86-21-6123-4567@127.0.0.2>", "sip:13700137000@127.0.0.1")
    facts, verdict = screen(req, "127.0.0.2", 5060, rules, MemoryState(), now)
    assert facts.from_user == "+86-21-6123-4567"
    assert verdict.reason is Reason.ALLOWED
    assert verdict.caller == "2161234567"
    assert verdict.credential == "CONSENT-2026-000003"


def _reference_facts(req: Request, source_ip: str, source_port: int | None) -> CallFacts:
    """Facts through the full parser only: the plain form the lean extraction is pinned to."""
    from_uri = req.from_.uri
    pais = req.addresses("p-asserted-identity")
    return CallFacts(
        call_id=req.call_id,
        source_ip=source_ip,
        source_port=source_port,
        from_user=uri_number(from_uri),
        from_host=uri_host(from_uri),
        pai_user=uri_number(pais[0].uri) if pais else None,
        ruri_user=uri_number(req.request_uri),
        privacy=privacy_values(req.headers.get_all("privacy")),
        identities=tuple(("p-asserted-identity", uri_number(p.uri)) for p in pais)
        if len(pais) > 1
        else (),
    )


def _nsn(user: str | None) -> str | None:
    return None if user is None else normalise(user, "86", "0")


def _outcome(build: Callable[[], CallFacts]) -> CallFacts | str:
    try:
        return build()
    except SipParseError as exc:
        return f"{exc.status_hint} {exc}"


USERS = st.sampled_from(
    [
        "4008001234",
        "+864008001234",
        "+86-400-800-1234",
        "0086(400)8001234",
        "0086-400-800-1234",
        "04008001234",
        "400.800.1234",
        "4008001234;npdi",
        "4008001234;phone-context=+86",
        "6123-4567;phone-context=+86-21",
        "4008001234;ext=99",
        "4008001234;EXT=99;phone-context=+1",
        "4008001234;phone-context=gw.example.com",
        "%34008001234",
        "400%2D800",
        "４００８",
        "٤٠٠٨",
        "alice",
        "anonymous",
        "a:pw",
        "",
        "40 08",
        "a@b",
        "x?y",
        "*31#",
    ]
)
HOSTS = st.sampled_from(
    ["127.0.0.1", "Example.COM", "[2001:db8::1]", "[2001:db8::zz]", "anonymous.invalid", "", "h_1"]
)
TAILS = st.sampled_from(
    [
        "",
        ":5060",
        ":15060",
        ":99999",
        ":",
        ";user=phone",
        ";user=phone;lr",
        ";=x",
        ";a=",
        ";a=b=c",
        ";maddr=%41",
        "?Subject=x",
        ";transport=udp?h=1",
    ]
)
SCHEMES = st.sampled_from(["sip:", "sips:", "SIP:", "tel:", "TEL:", "mailto:", "sip", "foo:"])


@st.composite
def uris(draw: st.DrawFn) -> str:
    scheme, user, host, tail = draw(SCHEMES), draw(USERS), draw(HOSTS), draw(TAILS)
    if scheme.lower() == "tel:":
        tel_params = [
            "",
            ";cpc=ordinary",
            ";x",
            ";=1",
            ";a=%41",
            ";phone-context=+86-21",
            ";ext=99",
            ";Isub=12;phone-context=example.com",
            ";ext",
            ";extension=1",
        ]
        return scheme + user + draw(st.sampled_from(tel_params))
    at = draw(st.sampled_from(["@", "@", ""]))
    return f"{scheme}{user}{at}{host}{tail}"


DISPLAYS = st.sampled_from(
    ["", '"Customer Care" ', '"Care"', '"a\\"b" ', "Care ", "Care\t", "C@re ", '"unclosed ', " "]
)
PARAMS = st.sampled_from(
    [
        "",
        ";tag=f1",
        " ; tag = f1 ",
        ";tag=1;lr",
        ";tag=",
        ";;tag=1",
        ';tag="a;b"',
        ";ta g=1",
        ";tag=a b",
        ";tag=é",
        " junk",
        ";tag=<x>",
    ]
)


@st.composite
def addresses(draw: st.DrawFn) -> str:
    uri = draw(uris())
    if draw(st.booleans()):
        return f"{draw(DISPLAYS)}<{uri}>{draw(PARAMS)}"
    return draw(st.sampled_from([uri, f" <{uri}> ", f"<{uri}", f"<{uri} >"]))


@settings(max_examples=1500)
@given(uris())
def test_lean_uri_agrees_with_the_full_parser(text: str) -> None:
    """Inside its subset, the lean reading equals the full parse; outside, it steps aside."""
    lean = lean_uri(text)
    if lean is not None:
        uri = parse_uri(text)
        assert lean == (uri_number(uri), uri_host(uri))
        full_user = uri_number(uri)
        assert _nsn(lean[0]) == _nsn(full_user)


@settings(max_examples=1500)
@given(addresses())
def test_lean_address_agrees_with_the_full_parser(text: str) -> None:
    lean = lean_address(text)
    if lean is not None:
        uri = parse_address(text).uri
        assert lean == (uri_number(uri), uri_host(uri))


@settings(max_examples=300)
@given(
    from_=addresses(), pais=st.lists(addresses(), max_size=2), ruri=uris(), joined=st.booleans()
)
def test_facts_equal_the_full_parsers_facts(
    from_: str, pais: list[str], ruri: str, *, joined: bool
) -> None:
    """Facts, and every parse error, are those of the full parser, whatever the headers."""
    extra = (
        [f"P-Asserted-Identity: {', '.join(pais)}"]
        if joined and pais
        else [f"P-Asserted-Identity: {p}" for p in pais]
    )
    try:
        req = invite(from_, ruri.replace(" ", ""), *extra)
    except SipParseError:
        return
    fast = _outcome(lambda: facts_from_request(req, "192.0.2.1", 5060))
    assert fast == _outcome(lambda: _reference_facts(req, "192.0.2.1", 5060))


def test_lean_paths_cover_the_common_headers() -> None:
    """The headers a PBX usually sends take the lean path (so the benchmark measures it)."""
    assert lean_address('"Care" <sip:4008001234@192.0.2.10;user=phone>;tag=f1') == (
        "4008001234",
        "192.0.2.10",
    )
    assert lean_address("<tel:+864008001234>") == ("+864008001234", None)
    assert lean_uri("sip:13800138000@127.0.0.1:5060;user=phone") == ("13800138000", "127.0.0.1")
    assert lean_uri("sip:%34@x") is None


def _plain_identities(req: Request) -> tuple[tuple[tuple[str, str | None], ...], bool]:
    """Rules 1.1 section 1 read plainly from the full parser's addresses."""
    values: list[tuple[str, str | None]] = []
    hidden = False
    for name in ("p-asserted-identity", "p-preferred-identity"):
        values += [(name, uri_number(a.uri)) for a in req.addresses(name)]
    for field in req.headers.get_fields("remote-party-id"):
        for rpid in (parse_address(v) for v in split_commas(field)):
            params = {n.lower(): (v or "").lower() for n, v in rpid.params}
            if params.get("party", "calling") == "calling":
                values.append(("remote-party-id", uri_number(rpid.uri)))
                hidden = hidden or params.get("privacy") in ("full", "uri")
    if len(values) == 1 and values[0][0] == "p-asserted-identity":
        return (), hidden
    return tuple(values), hidden


RPID_PARAMS = st.sampled_from(
    ["", ";party=calling", ";party=Called", ";privacy=full", ";privacy=off;screen=yes", ";party"]
)


@settings(max_examples=300)
@given(
    st.lists(addresses(), max_size=2),
    st.lists(addresses(), max_size=2),
    st.lists(st.tuples(addresses(), RPID_PARAMS), max_size=2),
)
def test_identity_facts_equal_the_plain_reading(
    pais: list[str], ppis: list[str], rpids: list[tuple[str, str]]
) -> None:
    """PAI, PPI and RPID values, their order, RPID party and privacy: as the spec reads."""
    extra = [f"P-Asserted-Identity: {p}" for p in pais]
    extra += [f"P-Preferred-Identity: {p}" for p in ppis]
    extra += [f"Remote-Party-ID: {a}{p}" for a, p in rpids]
    try:
        req = invite("<sip:4008001234@127.0.0.2>", "sip:13800138000@127.0.0.1", *extra)
    except SipParseError:
        return
    try:
        facts = facts_from_request(req, "192.0.2.1", 5060)
    except SipParseError:
        with pytest.raises(SipParseError):
            _plain_identities(req)
            [parse_address(v) for v in req.headers.get_all("p-asserted-identity")]
        return
    assert (facts.identities, facts.rpid_hidden) == _plain_identities(req)


def test_a_deep_privacy_list_leaves_its_distinct_values_only() -> None:
    """A Privacy list of thousands of repeated values (a flood's comma list) leaves the
    call's facts its distinct priv-values, in the order each first appears."""
    req = invite(
        "<sip:4008001234@callcenter.example>",
        "sip:13800138000@127.0.0.1",
        "Privacy: " + ",".join(["id"] * 8000 + ["user", "ID", "none"]),
    )
    facts = facts_from_request(req, "127.0.0.2", 5060, "UDP")
    assert facts.privacy == ("id", "user", "none")
    assert privacy_values(["none; user", "user;id", "  ", "None"]) == ("none", "user", "id")
