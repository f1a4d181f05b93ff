"""Unit tests of URI, address and Via parsing."""

from __future__ import annotations

import pytest

from sipguard.errors import SipParseError
from sipguard.sip import (
    AbsoluteUri,
    Address,
    SipUri,
    TelUri,
    parse_address,
    parse_uri,
    parse_via,
)


def test_sip_uri_all_parts() -> None:
    """user, password, host, port, params and headers of a sips URI are split and decoded."""
    uri = parse_uri(
        "SIPS:al%69ce:s%65cret@Example.com:5061;transport=tcp;lr?subject=hi%20there&p=1"
    )
    assert uri == SipUri(
        "sips",
        "alice",
        "secret",
        "Example.com",
        5061,
        (("transport", "tcp"), ("lr", None)),
        (("subject", "hi there"), ("p", "1")),
    )
    assert isinstance(uri, SipUri) and uri.param("LR") == "" and uri.param("maddr") is None


def test_sip_uri_ipv6_host() -> None:
    """An IPv6 reference keeps its brackets and its port is read after them."""
    uri = parse_uri("sip:+8613800138000@[2001:db8::1]:5060;user=phone")
    assert isinstance(uri, SipUri)
    assert (uri.user, uri.host, uri.port) == ("+8613800138000", "[2001:db8::1]", 5060)
    assert parse_uri("sip:[::1]") == SipUri("sip", None, None, "[::1]")


def test_sip_uri_roundtrips_through_str() -> None:
    """str() re-escapes what needs escaping so the URI parses back equal."""
    uri = SipUri("sip", "a b@c;d", None, "h.example", None, (("n", "v;w"),), (("h", "x&y"),))
    assert parse_uri(str(uri)) == uri


@pytest.mark.parametrize(
    "text",
    [
        "sip:",
        "sip:user@",
        "sip:user@host:99999",
        "sip:user@host:port",
        "sip:us er@host",
        "sip:user@[::1",
        "sip:%zz@host",
        "sip:host;=x",
        "<sip:host>",
        "tel:",
        "nocolon",
        "1abc:x",
    ],
)
def test_bad_uris_raise_parse_error(text: str) -> None:
    """Malformed URIs raise SipParseError with status 400."""
    with pytest.raises(SipParseError) as info:
        parse_uri(text)
    assert info.value.status_hint == 400


def test_tel_uri() -> None:
    """A tel URI keeps its number as written and splits its parameters (RFC 3966)."""
    uri = parse_uri("tel:+86-20-6123-4567;phone-context=+86;ext=12")
    assert uri == TelUri("+86-20-6123-4567", (("phone-context", "+86"), ("ext", "12")))
    assert str(uri) == "tel:+86-20-6123-4567;phone-context=+86;ext=12"


def test_other_scheme_is_absolute_uri() -> None:
    """Unknown schemes are kept opaque with a lower-case scheme."""
    assert parse_uri("URN:service:sos") == AbsoluteUri("urn", "service:sos")


def test_name_addr_with_escaped_quotes() -> None:
    """A quoted display name is unescaped; header params follow the closing bracket."""
    addr = parse_address(r'"Zhang \"Wei\" \\ Co" <sip:4008001234@192.0.2.10>;tag=ab;x="q;r"')
    assert addr.display == r'Zhang "Wei" \ Co'
    assert addr.tag == "ab"
    assert addr.params == (("tag", "ab"), ("x", '"q;r"'))
    assert parse_address(str(addr)) == addr


def test_token_display_name_and_no_space_before_bracket() -> None:
    """An unquoted display name may touch the '<' (RFC 4475 3.1.1.6)."""
    addr = parse_address("Acme Care<sip:95123@example.com>")
    assert addr.display == "Acme Care"
    assert isinstance(addr.uri, SipUri) and addr.uri.user == "95123"


def test_addr_spec_params_belong_to_header() -> None:
    """In addr-spec form everything after ';' is a header param (RFC 3261 20.10)."""
    addr = parse_address("sip:alice@example.com;tag=1;user=phone")
    assert addr == Address(
        None, SipUri("sip", "alice", None, "example.com"), (("tag", "1"), ("user", "phone"))
    )


def test_name_addr_uri_params_stay_in_uri() -> None:
    """Inside <>, ';user=phone' is a URI parameter and the tag is a header parameter."""
    addr = parse_address(" <tel:+8613800138000;cpc=ordinary> ; tag = 9 ")
    assert addr.uri == TelUri("+8613800138000", (("cpc", "ordinary"),))
    assert addr.tag == "9"


@pytest.mark.parametrize(
    "text",
    ['"unterminated <sip:a@b>', "<sip:a@b", "A, B <sip:a@b>", "<sip:a@b>;;", "<sip:a@b> junk", ""],
)
def test_bad_addresses_raise_parse_error(text: str) -> None:
    """Broken quoting, brackets, display names or params raise SipParseError."""
    with pytest.raises(SipParseError):
        parse_address(text)


def test_via_branch_received_rport() -> None:
    """Via exposes transport, sent-by, branch, received and rport."""
    via = parse_via("SIP/2.0/udp [2001:db8::9]:5070;branch=z9hG4bK77;received=192.0.2.1;rport=4000")
    assert (via.transport, via.host, via.port) == ("UDP", "[2001:db8::9]", 5070)
    assert (via.branch, via.received, via.rport, via.has_rport) == (
        "z9hG4bK77",
        "192.0.2.1",
        4000,
        True,
    )
    bare = parse_via("SIP / 2.0 / TCP host.example ; rport ; branch = z9hG4bK1")
    assert (bare.rport, bare.has_rport, bare.branch, bare.port) == (None, True, "z9hG4bK1", None)
    assert parse_via(str(via)) == via


@pytest.mark.parametrize(
    "text", ["SIP/2.0/UDP", "SIP/2.0 host", "SIP/2.0/UDP host;;", "SIP/2.0/UDP ho st", ""]
)
def test_bad_via_raises_parse_error(text: str) -> None:
    """A Via without a full sent-protocol and sent-by, or with empty params, is rejected."""
    with pytest.raises(SipParseError):
        parse_via(text)
