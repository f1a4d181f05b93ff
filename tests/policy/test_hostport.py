"""The one host:port parser that every address in sipguard goes through."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipguard.policy.hostport import DEFAULT_LISTEN, HostPort, parse_hostport


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5060", HostPort("127.0.0.1", 5060)),
        ("127.0.0.1", HostPort("127.0.0.1", None)),
        ("[::1]:5070", HostPort("::1", 5070)),
        ("[2001:db8::1]", HostPort("2001:db8::1", None)),
        ("2001:db8::1", HostPort("2001:db8::1", None)),
        ("sbc.example.net:5080", HostPort("sbc.example.net", 5080)),
        (" 10.0.0.1:1 ", HostPort("10.0.0.1", 1)),
    ],
)
def test_accepted_forms(text: str, expected: HostPort) -> None:
    """Every documented form parses to its host and port."""
    assert parse_hostport(text) == expected


@pytest.mark.parametrize(
    "text", [":5060", "[::1", "[::1]5060", "[zz::1]:5060", "1.2.3.4:x", "1.2.3.4:65536",
             "1.2.3.4:-1", "1.2.3.4:٥٠٦٠", "", "[]:5060"],
)  # fmt: skip
def test_refused_forms(text: str) -> None:
    """Malformed addresses raise ValueError that names the text."""
    with pytest.raises(ValueError, match="bad"):
        parse_hostport(text)


def test_port_zero_only_when_asked_for() -> None:
    """Port 0 means "any free port" on a command-line listen address, and nowhere else."""
    with pytest.raises(ValueError, match=r"1\.\.65535"):
        parse_hostport("127.0.0.1:0")
    assert parse_hostport("127.0.0.1:0", ephemeral=True).port == 0


def test_default_port_fills_a_missing_one() -> None:
    """A default port stands in only where the text has none."""
    assert parse_hostport("::1", default_port=9090) == HostPort("::1", 9090)
    assert parse_hostport("[::1]:1", default_port=9090).port == 1
    assert parse_hostport(DEFAULT_LISTEN) == HostPort("127.0.0.1", 5060)


@given(
    st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str)),
    st.integers(min_value=1, max_value=65535),
)
def test_round_trip(host: str, port: int) -> None:
    """str() of a parsed address parses back to the same address."""
    value = HostPort(host, port)
    assert parse_hostport(str(value)) == value
