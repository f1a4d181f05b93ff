"""The bridge from a parsed INVITE to call facts (spec section 2, step 1)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sipguard.policy import MemoryState, Reason, load_rules
from sipguard.screening import facts_from_fields, facts_from_request, screen, uri_user
from sipguard.sip import Request, parse, parse_uri

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
