"""Consent records: loading, located bad rows, validity window and the timezone default."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipguard.errors import RulesError
from sipguard.policy import load_consents
from sipguard.policy.consents import ConsentIndex, read_consents

ZONE = ZoneInfo("Asia/Shanghai")
HEADER = "callee,number,credential,granted_at,expires_at\n"


def _write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "consents.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_valid_from_granted_until_expires(tmp_path: Path) -> None:
    """A row is valid at granted_at exactly and invalid at expires_at exactly."""
    path = _write(
        tmp_path, "13800138000,4008001234,C-1,2026-06-01T10:00:00+08:00,2026-06-02T10:00:00+08:00\n"
    )
    index = load_consents(path, "86", "0", ZONE)
    granted, expires = _epoch("2026-06-01T10:00:00+08:00"), _epoch("2026-06-02T10:00:00+08:00")
    assert index.find("4008001234", "13800138000", granted - 0.001) is None
    assert index.find("4008001234", "13800138000", granted) == "C-1"
    assert index.find("4008001234", "13800138000", expires - 0.001) == "C-1"
    assert index.find("4008001234", "13800138000", expires) is None


def test_missing_offset_means_rules_zone(tmp_path: Path) -> None:
    """A timestamp without an offset is read in the rules' zone, not UTC or the host's zone."""
    path = _write(tmp_path, "13800138000,4008001234,C-1,2026-06-01T10:00:00,2026-06-01T11:00:00\n")
    index = load_consents(path, "86", "0", ZONE)
    assert index.find("4008001234", "13800138000", _epoch("2026-06-01T02:00:00+00:00")) == "C-1"
    assert index.find("4008001234", "13800138000", _epoch("2026-06-01T10:00:00+00:00")) is None


def test_numbers_are_normalised(tmp_path: Path) -> None:
    """Callee and number are stored as NSNs, whatever form the CSV uses."""
    path = _write(tmp_path, "+86 138 0013 8000,020-6123-4567,C-9,2026-01-01,2027-01-01\n")
    index = load_consents(path, "86", "0", ZONE)
    assert index.find("2061234567", "13800138000", _epoch("2026-06-01T00:00:00+08:00")) == "C-9"


def test_renewed_rows_for_one_pair(tmp_path: Path) -> None:
    """Several rows for the same pair: whichever is valid at the call's time is found."""
    rows = (
        "138,400,OLD,2025-01-01T00:00:00+08:00,2026-01-01T00:00:00+08:00\n"
        "138,400,NEW,2026-01-01T00:00:00+08:00,2027-01-01T00:00:00+08:00\n"
    )
    index = load_consents(_write(tmp_path, rows), "86", "0", ZONE)
    assert index.find("400", "138", _epoch("2025-06-01T00:00:00+08:00")) == "OLD"
    assert index.find("400", "138", _epoch("2026-06-01T00:00:00+08:00")) == "NEW"
    assert index.find("400", "138", _epoch("2027-06-01T00:00:00+08:00")) is None
    assert len(index) == 2


def test_every_bad_row_is_reported(tmp_path: Path) -> None:
    """Each bad row gives one issue at its line and the column of the bad field."""
    rows = (
        "13800138000,4008001234,C-1,2026-01-01,2027-01-01\n"  # line 2: fine
        "alice,4008001234,C-2,2026-01-01,2027-01-01\n"  # line 3: callee
        "13800138000,40080x,C-3,2026-01-01,2027-01-01\n"  # line 4: number
        "13800138000,4008001234,,2026-01-01,2027-01-01\n"  # line 5: credential
        "13800138000,4008001234,C-5,2026-01-01,soon\n"  # line 6: expires_at
        "13800138000,4008001234,C-6,2027-01-01,2026-01-01\n"  # line 7: order
        "13800138000,4008001234\n"  # line 8: field count
        "\n"  # line 9: blank lines are skipped
        "13800138000,4008001234,C-10,2026-01-01,2027-01-01\n"  # line 10: fine
    )
    path = _write(tmp_path, rows)
    index, issues = read_consents(path, "86", "0", ZONE, display="consents.csv")
    assert [str(i) for i in issues] == [
        "consents.csv:3:1: callee 'alice' is not a number",
        "consents.csv:4:13: number '40080x' is not a number",
        "consents.csv:5:24: empty credential",
        "consents.csv:6:39: bad expires_at 'soon': expected an ISO 8601 timestamp",
        "consents.csv:7:39: expires_at must be later than granted_at",
        "consents.csv:8:1: expected 5 fields, found 2",
    ]
    assert len(index) == 2
    with pytest.raises(RulesError) as caught:
        load_consents(path, "86", "0", ZONE, display="consents.csv")
    assert len(caught.value.issues) == 6


def test_header_any_order(tmp_path: Path) -> None:
    """The header names the columns; their order is free."""
    header = "number,callee,expires_at,granted_at,credential\n"
    path = _write(tmp_path, "4008001234,13800138000,2027-01-01,2026-01-01,C-1\n", header=header)
    index = load_consents(path, "86", "0", ZONE)
    assert index.find("4008001234", "13800138000", _epoch("2026-06-01T00:00:00+08:00")) == "C-1"


def test_bad_header(tmp_path: Path) -> None:
    """A header without the five documented columns is an issue on line 1."""
    path = _write(tmp_path, "", header="callee,number,credential\n")
    _, issues = read_consents(path, "86", "0", ZONE, display="c.csv")
    assert [str(i) for i in issues] == [
        "c.csv:1:1: bad header 'callee,number,credential':"
        " expected callee,number,credential,granted_at,expires_at"
    ]


ROWS = st.lists(
    st.tuples(
        st.sampled_from(["4008001234", "2061234567"]),
        st.sampled_from(["13800138000", "13900139000"]),
        st.text(min_size=1, max_size=6),
        st.integers(0, 20),
        st.integers(1, 20),
    ),
    max_size=8,
)


@given(ROWS, st.sampled_from(["4008001234", "2061234567"]), st.integers(-1, 42))
def test_index_equals_a_plain_scan_of_the_rows(
    rows: list[tuple[str, str, str, int, int]], number: str, at: int
) -> None:
    """The packed index answers as a scan for the first valid row in file order does."""
    index = ConsentIndex()
    plain = []
    for n, callee, credential, granted, length in rows:
        start = 1.78e9 + granted * 0.5
        index.add(n, callee, credential, start, start + length * 0.5)
        plain.append((n, callee, credential, start, start + length * 0.5))
    t = 1.78e9 + at * 0.25
    for callee in ("13800138000", "13900139000"):
        expected = next(
            (c for n, k, c, g, e in plain if n == number and k == callee and g <= t < e), None
        )
        assert index.find(number, callee, t) == expected
    assert len(index) == len(rows)
