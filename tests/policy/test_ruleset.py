"""The compiled ruleset: source classification (spec section 3), targets and tables."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sipguard.policy import Direction, Ruleset, load_rules
from sipguard.policy.ruleset import parse_target, quiet_table

from .conftest import BASE, Write

OUT, IN = Direction.OUTBOUND, Direction.INBOUND


@pytest.mark.parametrize(
    ("ip", "owner"),
    [
        ("192.0.2.10", (OUT, "acme-1")),
        ("198.51.100.0", (OUT, "acme-1")),
        ("198.51.100.15", (OUT, "acme-1")),
        ("198.51.100.16", (None, None)),
        ("2001:db8:a::1", (OUT, "acme-1")),
        ("2001:DB8:A:FFFF::9", (OUT, "acme-1")),
        ("::ffff:192.0.2.20", (OUT, "beta-1")),
        ("192.0.2.20", (OUT, "beta-1")),
        ("203.0.113.200", (IN, None)),
        ("2001:db8:f::1", (IN, None)),
        ("2001:db8:f::2", (None, None)),
        ("192.0.2.11", (None, None)),
        ("not-an-ip", (None, None)),
        ("", (None, None)),
    ],
)
def test_classify_source(
    rules: Ruleset, ip: str, owner: tuple[Direction | None, str | None]
) -> None:
    """Trunk peers are outbound with their trunk id, network peers inbound, others unknown."""
    assert rules.classify_source(ip) == owner
    assert rules.classify_source(ip) == owner  # the cached answer is the same


def test_thousand_trunks_classify_fast(write_rules: Write) -> None:
    """With 1,000 trunks (host and CIDR peers), classifying a source stays a few dict probes."""
    trunks = "".join(
        f"  t{i}:\n    operator: acme\n"
        f'    peers: ["10.{i // 250}.{i % 250}.1", "10.{100 + i // 250}.{i % 250}.0/28"]\n'
        f'    deliver_to: "sip:10.0.0.1"\n'
        for i in range(1000)
    )
    text = BASE.replace("trunks:\n", "trunks:\n" + trunks, 1)
    ruleset = load_rules(write_rules(text))
    assert ruleset.classify_source("10.103.249.7") == (OUT, "t999")
    assert ruleset.classify_source("10.3.249.1") == (OUT, "t999")
    ips = [f"10.{100 + i // 250}.{i % 250}.{i % 16}" for i in range(1000)]
    start = time.process_time()
    for _ in range(20):
        for ip in ips:
            ruleset.classify_source(ip)
    per_call = (time.process_time() - start) / 20000
    assert per_call < 20e-6


def test_targets(rules: Ruleset) -> None:
    """deliver_to URIs resolve to host, port and transport; outbound goes to the network."""
    assert rules.deliver_to(OUT, "acme-1") == rules.network_target
    beta = rules.deliver_to(IN, "beta-1")
    assert beta is not None and (beta.host, beta.port, beta.transport) == (
        "192.0.2.20",
        5070,
        "tcp",
    )
    assert rules.deliver_to(IN, None) is None


@pytest.mark.parametrize(
    ("uri", "host", "port", "transport"),
    [
        ("sip:gw.example.com", "gw.example.com", 5060, "udp"),
        ("sips:gw.example.com", "gw.example.com", 5061, "tls"),
        ("sip:[2001:db8::5]:5080;transport=TCP", "2001:db8::5", 5080, "tcp"),
        ("sip:edge@192.0.2.1:5062", "192.0.2.1", 5062, "udp"),
    ],
)
def test_parse_target(uri: str, host: str, port: int, transport: str) -> None:
    """Host, default ports (5060/5061) and the transport parameter are read from a URI."""
    target = parse_target(uri)
    assert (target.host, target.port, target.transport) == (host, port, transport)


def test_quiet_table_wraps_midnight() -> None:
    """Ranges are [start, end) in minutes and may wrap midnight."""
    table = quiet_table(["21:00-08:00", "12:00-13:30"])
    quiet = {m for m in range(1440) if table[m]}
    assert 21 * 60 in quiet and 23 * 60 + 59 in quiet and 0 in quiet and 7 * 60 + 59 in quiet
    assert 8 * 60 not in quiet and 20 * 60 + 59 not in quiet
    assert 12 * 60 in quiet and 13 * 60 + 29 in quiet and 13 * 60 + 30 not in quiet
    assert len(quiet) == 11 * 60 + 90
    assert sum(quiet_table(["22:00-24:00"])) == 120


def test_paths_relative_to_rules(rules: Ruleset, tmp_path: Path) -> None:
    """Journal and consents paths are resolved next to the rules file."""
    assert rules.journal_path == tmp_path / "journal.db"
    assert rules.consents_path == tmp_path / "consents.csv"
    assert rules.zone.key == "Asia/Shanghai"
