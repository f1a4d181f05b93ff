"""Caller identity from every header that carries one (rules 1.1 section 1), end to end
through the screening bridge and the policy."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from test_screening import invite

from sipguard.errors import SipParseError
from sipguard.policy import MemoryState, Reason, Ruleset, Verdict, load_rules
from sipguard.screening import facts_from_fields, facts_from_request, screen

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 6, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
FILED = "<sip:4008001234@127.0.0.2>"
R = Reason


@pytest.fixture(scope="module")
def rules() -> Ruleset:
    return load_rules(ROOT / "sipguard" / "data" / "rules.yaml")


def decide(rules: Ruleset, *headers: str, from_: str = FILED) -> Verdict:
    return screen(invite(from_, "sip:13800138000@127.0.0.1", *headers), "127.0.0.2", 5060,
                  rules, MemoryState(), NOW)[1]  # fmt: skip


def test_a_filed_from_alone_is_allowed_and_names_from(rules: Ruleset) -> None:
    verdict = decide(rules)
    assert verdict.reason is R.ALLOWED
    assert verdict.identity_header == "from"


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("P-Asserted-Identity: <tel:+864008001234>", "p-asserted-identity"),
        ("P-Preferred-Identity: <sip:4008001234@127.0.0.2>", "p-preferred-identity"),
        ("Remote-Party-ID: <sip:4008001234@127.0.0.2>;party=calling;screen=yes", "remote-party-id"),
        ("Remote-Party-ID: <sip:04008001234@127.0.0.2>", "remote-party-id"),
    ],
)
def test_each_identity_header_gives_the_caller(rules: Ruleset, header: str, name: str) -> None:
    """A number-less From: the caller comes from the identity header, which the verdict names."""
    verdict = decide(rules, header, from_="<sip:agent7@127.0.0.2>")
    assert (verdict.reason, verdict.caller, verdict.identity_header) == (
        R.ALLOWED, "4008001234", name)  # fmt: skip


@pytest.mark.parametrize(
    "headers",
    [
        # PAI with a filed sip value and a mobile tel value
        ["P-Asserted-Identity: <sip:4008001234@127.0.0.2>, <tel:+8613912345678>"],
        # two PAI headers, the filed one first
        [
            "P-Asserted-Identity: <sip:4008001234@127.0.0.2>",
            "P-Asserted-Identity: <tel:+8613912345678>",
        ],
        [
            "P-Asserted-Identity: <sip:4008001234@127.0.0.2>",
            "Remote-Party-ID: <sip:13912345678@127.0.0.2>",
        ],
        [
            "P-Preferred-Identity: <sip:4008001234@127.0.0.2>",
            "Remote-Party-ID: <sip:13912345678@127.0.0.2>",
        ],
    ],
)
def test_a_second_number_anywhere_is_identity_mismatch(rules: Ruleset, headers: list[str]) -> None:
    verdict = decide(rules, *headers)
    assert verdict.reason is R.IDENTITY_MISMATCH
    assert verdict.caller == "4008001234"


@pytest.mark.parametrize(
    "header",
    [
        "P-Preferred-Identity: <sip:13912345678@127.0.0.2>",
        'Remote-Party-ID: "Bank" <sip:13912345678@127.0.0.2>;party=calling',
    ],
)
def test_a_mobile_number_in_ppi_or_rpid_is_the_caller(rules: Ruleset, header: str) -> None:
    """Beside a filed From, PPI or RPID outranks From: the mobile is the (unfiled) caller."""
    verdict = decide(rules, header)
    assert (verdict.reason, verdict.caller) == (R.CALLER_UNREGISTERED, "13912345678")


def test_the_precedence_picks_pai_then_ppi_then_rpid(rules: Ruleset) -> None:
    verdict = decide(rules, "Remote-Party-ID: <sip:95123@x>",
                     "P-Preferred-Identity: <sip:13912345678@x>",
                     "P-Asserted-Identity: <sip:agent7@x>, <tel:4008001234>")  # fmt: skip
    assert verdict.caller == "4008001234"
    assert verdict.identity_header == "p-asserted-identity"
    ppi = decide(
        rules, "Remote-Party-ID: <sip:95123@x>", "P-Preferred-Identity: <sip:4008001234@x>"
    )
    assert ppi.identity_header == "p-preferred-identity"
    assert ppi.reason is R.IDENTITY_MISMATCH


def test_rpid_of_another_party_does_not_count(rules: Ruleset) -> None:
    verdict = decide(rules, "Remote-Party-ID: <sip:13912345678@x>;party=called;privacy=full")
    assert verdict.reason is R.ALLOWED
    assert verdict.identity_header == "from"


@pytest.mark.parametrize(
    "headers",
    [
        ["Remote-Party-ID: <sip:4008001234@x>;party=calling;privacy=full"],
        ["Remote-Party-ID: <sip:4008001234@x>;privacy=URI"],
        ["Privacy: id"],
        ["Privacy: ID"],
        ["Privacy: none;User"],
        ["Privacy: session, header"],
        ["Privacy: none", "Privacy: critical;id"],
        ["P-Asserted-Identity: <sip:anonymous@anonymous.invalid>"],
    ],
)
def test_hiding_forms_are_caller_hidden(rules: Ruleset, headers: list[str]) -> None:
    assert decide(rules, *headers).reason is R.CALLER_HIDDEN


@pytest.mark.parametrize(
    "headers",
    [
        ["Remote-Party-ID: <sip:4008001234@x>;privacy=name"],
        ["Remote-Party-ID: <sip:4008001234@x>;privacy=off"],
        ["Privacy: none"],
        ["Privacy: critical"],
        ["Privacy: none", "Privacy: critical"],
    ],
)
def test_forms_that_hide_nothing(rules: Ruleset, headers: list[str]) -> None:
    assert decide(rules, *headers).reason is R.ALLOWED


@pytest.mark.parametrize("display", ['"13912345678"', '"ICBC 95588"', '"Anonymous"'])
def test_display_names_play_no_part(rules: Ruleset, display: str) -> None:
    """A display name that looks like a number, a bank or anonymity changes nothing."""
    verdict = decide(rules, f"P-Asserted-Identity: {display} <tel:+864008001234>",
                     from_=f"{display} {FILED}")  # fmt: skip
    assert verdict.reason is R.ALLOWED


def test_no_number_in_any_header_is_hidden(rules: Ruleset) -> None:
    verdict = decide(rules, "P-Preferred-Identity: <sip:agent7@x>", from_="<sip:agent8@x>")
    assert verdict.reason is R.CALLER_HIDDEN
    assert verdict.identity_header is None


@pytest.mark.parametrize(
    "header",
    ["P-Preferred-Identity: <sip:4008001234@x", "Remote-Party-ID: <sip:4008001234@x;party=calling"],
)
def test_a_malformed_identity_header_is_a_parse_error(header: str) -> None:
    req = invite(FILED, "sip:13800138000@127.0.0.1", header)
    with pytest.raises(SipParseError):
        facts_from_request(req, "127.0.0.2", 5060)


def test_fields_and_request_give_the_same_identity_facts() -> None:
    """The Kamailio path (header texts) and the B2BUA path (parsed request) agree."""
    headers = [
        "P-Asserted-Identity: <sip:4008001234@x>, <tel:+8613912345678>",
        "P-Preferred-Identity: <sip:95123@x>",
        "Remote-Party-ID: <sip:1@x>;party=called, <sip:2@x>;privacy=uri",
    ]
    req = invite(FILED, "sip:13800138000@127.0.0.1", *headers)
    fields = facts_from_fields(
        call_id="t1@127.0.0.2",
        source_ip="127.0.0.2",
        source_port=5060,
        from_header=f"{FILED};tag=1",
        request_uri="sip:13800138000@127.0.0.1",
        pai_header="<sip:4008001234@x>, <tel:+8613912345678>",
        ppi_header="<sip:95123@x>",
        rpid_header="<sip:1@x>;party=called, <sip:2@x>;privacy=uri",
    )
    facts = facts_from_request(req, "127.0.0.2", 5060)
    assert fields == facts
    assert facts.rpid_hidden
    names = [h for h, _ in facts.identities]
    assert names == ["p-asserted-identity"] * 2 + ["p-preferred-identity", "remote-party-id"]
