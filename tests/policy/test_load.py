"""Loading rules.yaml: every validation error of spec section 1, located FILE:LINE:COL."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipguard.errors import RulesError
from sipguard.policy import load_rules

from .conftest import BASE, DATA, Write

MAKE_BETA_SEND_FROM = 'peers: ["192.0.2.20"]'

GOLDEN = [
    pytest.param(
        [('{number: "95123", operator: acme', '{number: "95123", operator: zed')],
        ["rules.yaml:31:33: unknown operator 'zed'"],
        id="number-unknown-operator",
    ),
    pytest.param(
        [("    operator: beta\n    peers", "    operator: gamma\n    peers")],
        ["rules.yaml:24:15: unknown operator 'gamma'"],
        id="trunk-unknown-operator",
    ),
    pytest.param(
        [("trunk: beta-1, inbound", "trunk: beta-9, inbound")],
        ["rules.yaml:33:54: unknown trunk 'beta-9'"],
        id="unknown-trunk",
    ),
    pytest.param(
        [('{number: "95123", operator: acme', '{number: "95123", operator: beta')],
        [
            "rules.yaml:31:46: number 95123 is filed for operator 'beta' but trunk 'acme-1'"
            " belongs to operator 'acme' (see line 20)"
        ],
        id="operator-differs-from-trunk-operator",
    ),
    pytest.param(
        [('"020-6123-4567"', '"+86 95123"')],
        ["rules.yaml:33:14: duplicate number 95123 (see line 31)"],
        id="duplicate-after-normalisation",
    ),
    pytest.param(
        [('"95123"', '"9512x"')],
        ["rules.yaml:31:14: number '9512x' is not all digits"],
        id="not-all-digits",
    ),
    pytest.param(
        [
            (
                "true\n    outbound_commitment: true\n  beta",
                "true\n    outbound_commitment: false\n  beta",
            )
        ],
        [
            "rules.yaml:32:84: number 4008001234 is outbound-enabled but operator 'acme'"
            " has no outbound_commitment (see line 6)"
        ],
        id="outbound-without-commitment",
    ),
    pytest.param(
        [(MAKE_BETA_SEND_FROM, 'peers: ["198.51.100.8/29"]')],
        [
            "rules.yaml:25:13: peer '198.51.100.8/29' of trunk 'beta-1' overlaps peer"
            " '198.51.100.0/28' of trunk 'acme-1' (see line 21)"
        ],
        id="overlapping-peers-v4",
    ),
    pytest.param(
        [(MAKE_BETA_SEND_FROM, 'peers: ["2001:DB8:A:1::5"]')],
        [
            "rules.yaml:25:13: peer '2001:DB8:A:1::5' of trunk 'beta-1' overlaps peer"
            " '2001:db8:a::/48' of trunk 'acme-1' (see line 21)"
        ],
        id="overlapping-peers-v6",
    ),
    pytest.param(
        [(MAKE_BETA_SEND_FROM, 'peers: ["203.0.113.9"]')],
        [
            "rules.yaml:25:13: peer '203.0.113.9' of trunk 'beta-1' overlaps peer"
            " '203.0.113.0/24' of the network (see line 28)"
        ],
        id="trunk-peer-inside-network",
    ),
    pytest.param(
        [("retention_days: 30", "retention_days: 29")],
        ["rules.yaml:44:19: journal.retention_days: must be >= 30 (got 29)"],
        id="retention-below-30",
    ),
    pytest.param(
        [("true\n    outbound_commitment: true\n  beta", "true\n    colour: red\n  beta")],
        [
            "rules.yaml:11:5: unknown key 'colour'",
            # the schema error no longer hides what the missing key means elsewhere
            "rules.yaml:32:84: number 4008001234 is outbound-enabled but operator 'acme'"
            " has no outbound_commitment (see line 6)",
        ],
        id="unknown-key",
    ),
    pytest.param(
        [('"12:00-13:30"', '"12:00-25:30"')],
        [
            "rules.yaml:36:32: outbound.quiet_hours.1: bad time range '12:00-25:30':"
            " no such time of day"
        ],
        id="bad-time-range",
    ),
    pytest.param(
        [('"21:00-08:00"', '"21h-8h"')],
        ["rules.yaml:36:17: outbound.quiet_hours.0: bad time range '21h-8h': expected HH:MM-HH:MM"],
        id="bad-time-range-shape",
    ),
    pytest.param(
        [('"Asia/Shanghai"', '"Mars/Olympus"')],
        ["rules.yaml:4:11: timezone: unknown time zone 'Mars/Olympus'"],
        id="bad-zone",
    ),
    pytest.param(
        [("licence_expires: 2027-12-31", "licence_expires: 2027-13-31")],
        [
            "rules.yaml:9:22: operators.acme.licence_expires: Input should be a valid date or"
            " datetime, month value is outside expected range of 1-12"
        ],
        id="bad-date",
    ),
    pytest.param(
        [('"1h"', '"1 hour"')],
        [
            "rules.yaml:39:21: outbound.violation_window: bad duration '1 hour':"
            " expected e.g. 30s, 15m, 1h, 1d or 1h30m"
        ],
        id="bad-duration",
    ),
    pytest.param(
        [('    licence: "B2-2"\n', "")],
        ["rules.yaml:13:5: missing required key 'licence'"],
        id="missing-key",
    ),
    pytest.param(
        [("version: 1\n", "version: 1\nversion: 1\n")],
        ["rules.yaml:2:1: duplicate key 'version'"],
        id="duplicate-key",
    ),
    pytest.param(
        [("numbers:\n", "numbers:\n  - [\n")],
        ["rules.yaml:32:3: YAML syntax error: did not find expected node content"],
        id="yaml-syntax",
    ),
    pytest.param(
        [('"192.0.2.20"', '"192.0.2.300"')],
        [
            "rules.yaml:25:13: trunks.beta-1.peers.0: bad peer '192.0.2.300':"
            " expected an IPv4/IPv6 address or CIDR"
        ],
        id="bad-peer",
    ),
    pytest.param(
        [('"198.51.100.0/28"', '"198.51.100.5/28"')],
        [
            "rules.yaml:21:27: trunks.acme-1.peers.1: bad peer '198.51.100.5/28':"
            " host bits set, write 198.51.100.0/28"
        ],
        id="peer-host-bits",
    ),
    pytest.param(
        [('"sip:192.0.2.10:5060"', '"udp:1.2.3.4"')],
        [
            "rules.yaml:22:17: trunks.acme-1.deliver_to: bad deliver_to 'udp:1.2.3.4':"
            " expected a sip: or sips: URI"
        ],
        id="bad-deliver-to",
    ),
    pytest.param(
        [("journal:\n", "listen: [localhost, '[::1]:5060']\njournal:\n")],
        [
            "rules.yaml:42:10: listen.0: bad listen address 'localhost':"
            " expected HOST:PORT or [V6]:PORT"
        ],
        id="bad-listen",
    ),
    pytest.param(
        [('"12:00-13:30"', '"12:00-12:00"')],
        [
            "rules.yaml:36:32: outbound.quiet_hours.1: bad time range '12:00-12:00':"
            " start equals end"
        ],
        id="empty-time-range",
    ),
    pytest.param(
        [("version: 1", "version: 2")],
        ["rules.yaml:1:10: version: Input should be 1"],
        id="unknown-version",
    ),
]


def _issues(
    write_rules: Write, subs: list[tuple[str, str]], consents: str | None = None
) -> list[str]:
    text = BASE
    for old, new in subs:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = write_rules(text) if consents is None else write_rules(text, consents)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    return [str(issue).replace(str(path.parent) + "/", "") for issue in caught.value.issues]


@pytest.mark.parametrize(("subs", "expected"), GOLDEN)
def test_golden_error(write_rules: Write, subs: list[tuple[str, str]], expected: list[str]) -> None:
    """Each validation error of spec section 1 is reported with its golden located text."""
    assert _issues(write_rules, subs) == expected


def test_errors_are_collected(write_rules: Write) -> None:
    """Schema and cross-reference errors in different places are all reported at once."""
    subs = [
        ("licence_expires: 2027-12-31", "licence_expires: someday"),
        ("trunk: beta-1, inbound", "trunk: beta-9, inbound"),
        ("retention_days: 30", "retention_days: 1"),
        ('"95123"', '"95-12-x"'),
    ]
    issues = _issues(write_rules, subs)
    assert [i.split(":")[1] for i in issues] == ["9", "31", "33", "44"]
    assert "unknown trunk 'beta-9'" in issues[2]


def test_spec_example_loads() -> None:
    """The example of spec section 1, shipped under tests/data, loads with its consents."""
    ruleset = load_rules(DATA / "spec-example.yaml")
    assert ruleset.model.version == 1
    assert ruleset.numbers.lookup("4008001234") is not None
    assert len(ruleset.consents) == 2
    assert ruleset.listen == ["127.0.0.1:5060"]
    assert ruleset.journal_path == DATA / "journal.db"
    assert ruleset.network_target.host == "203.0.113.5"


def test_unquoted_number_keeps_its_digits(write_rules: Write) -> None:
    """A number written without quotes is read as text: 02061234567 is not an octal int."""
    text = BASE.replace('"020-6123-4567"', "02061234567")
    ruleset = load_rules(write_rules(text))
    assert ruleset.numbers.lookup("2061234567") is not None


def test_missing_file_is_a_rules_error(tmp_path: Path) -> None:
    """An unreadable rules file is reported as a located issue, not an OSError."""
    with pytest.raises(RulesError) as caught:
        load_rules(tmp_path / "absent.yaml")
    assert "cannot read rules file" in str(caught.value)


def test_consent_errors_surface_from_load(write_rules: Write) -> None:
    """Bad consent rows make load_rules fail with consents.csv:LINE:COL issues."""
    bad = "callee,number,credential,granted_at,expires_at\n138,4008001234,C,yesterday,2027-01-01\n"
    issues = _issues(write_rules, [], consents=bad)
    assert issues == [
        "consents.csv:2:18: bad granted_at 'yesterday': expected an ISO 8601 timestamp"
    ]


def test_version_hash_covers_both_files(write_rules: Write) -> None:
    """The version hash changes when either the rules or the consents change."""
    first = load_rules(write_rules()).version_hash
    again = load_rules(write_rules()).version_hash
    other_consents = load_rules(
        write_rules(consents="callee,number,credential,granted_at,expires_at\n")
    )
    other_rules = load_rules(write_rules(BASE + "listen: []\n"))
    assert first == again
    assert len({first, other_consents.version_hash, other_rules.version_hash}) == 3


def test_trunk_max_cps_is_optional_and_must_be_positive(write_rules: Write) -> None:
    """A trunk may set max_cps (calls/s the server admits from it); zero is a located error."""
    peers = 'peers: ["192.0.2.20"]'
    ruleset = load_rules(write_rules(BASE.replace(peers, f"{peers}\n    max_cps: 12.5", 1)))
    assert ruleset.trunk_cps == {"beta-1": 12.5}
    issues = _issues(write_rules, [(peers, f"{peers}\n    max_cps: 0")])
    assert len(issues) == 1
    assert issues[0].endswith("trunks.beta-1.max_cps: Input should be greater than 0")


ONE_ROUND = [
    pytest.param(
        [
            ('    deliver_to: "sip:192.0.2.20:5070', '    deliver_too: "sip:192.0.2.20:5070'),
            ("    operator: beta\n    peers", "    operator: gamma\n    peers"),
        ],
        [
            "rules.yaml:24:5: missing required key 'deliver_to'",
            "rules.yaml:24:15: unknown operator 'gamma'",
            "rules.yaml:26:5: unknown key 'deliver_too' (did you mean 'deliver_to'?)",
        ],
        id="key-typo-and-unknown-operator-in-one-trunk",
    ),
    pytest.param(
        [
            (MAKE_BETA_SEND_FROM, 'peers: ["192.0.2.10", "bogus"]'),
        ],
        [
            "rules.yaml:25:13: peer '192.0.2.10' of trunk 'beta-1' overlaps peer '192.0.2.10'"
            " of trunk 'acme-1' (see line 21)",
            "rules.yaml:25:27: trunks.beta-1.peers.1: bad peer 'bogus':"
            " expected an IPv4/IPv6 address or CIDR",
        ],
        id="bad-peer-and-overlap-in-one-trunk",
    ),
    pytest.param(
        [('timezone: "Asia/Shanghai"', 'timezone: "Asia/Beijing"')],
        [
            "rules.yaml:4:11: timezone: unknown time zone 'Asia/Beijing'"
            " (did you mean 'Asia/Shanghai'?)"
        ],
        id="zone-city-hint",
    ),
    pytest.param(
        [('timezone: "Asia/Shanghai"', 'timezone: "Asia/Shangai"')],
        [
            "rules.yaml:4:11: timezone: unknown time zone 'Asia/Shangai'"
            " (did you mean 'Asia/Shanghai'?)"
        ],
        id="zone-spelling-hint",
    ),
    pytest.param(
        [("  max_calls_per_callee_per_day: 2", "  max_call_per_callee_per_day: 2")],
        [
            "rules.yaml:37:3: unknown key 'max_call_per_callee_per_day'"
            " (did you mean 'max_calls_per_callee_per_day'?)"
        ],
        id="section-key-hint",
    ),
]


@pytest.mark.parametrize(("subs", "expected"), ONE_ROUND)
def test_schema_and_cross_errors_in_one_report(
    write_rules: Write, subs: list[tuple[str, str]], expected: list[str]
) -> None:
    """A schema error in an entry does not hide its cross-reference errors; hints are given."""
    assert sorted(_issues(write_rules, subs)) == sorted(expected)


def test_consent_errors_come_with_rules_errors(write_rules: Write) -> None:
    """A broken consents file is reported in the same run as the rules' own errors."""
    bad = "callee,number,credential,granted_at,expires_at\n138,4008001234,C,yesterday,2027-01-01\n"
    issues = _issues(write_rules, [("trunk: beta-1, inbound", "trunk: beta-9, inbound")], bad)
    assert sorted(issues) == [
        "consents.csv:2:18: bad granted_at 'yesterday': expected an ISO 8601 timestamp",
        "rules.yaml:33:54: unknown trunk 'beta-9'",
    ]
