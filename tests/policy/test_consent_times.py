"""Consent timestamps (rules v1 section 1): every ISO 8601 form fromisoformat reads, the
end of a day as T24:00, and a located error for what a microsecond clock cannot hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sipguard.policy.consents import TimeTooPrecise, parse_moment, read_consents

ZONE = ZoneInfo("Asia/Shanghai")
EIGHT = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-01-01T00:00:00", datetime(2026, 1, 1)),
        ("2026-03-15T09:30:00+08:00", datetime(2026, 3, 15, 9, 30, tzinfo=EIGHT)),
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01 00:00:00+0800", datetime(2026, 1, 1, tzinfo=EIGHT)),
        ("20260101T000000+0800", datetime(2026, 1, 1, tzinfo=EIGHT)),
        ("2026-01-01", datetime(2026, 1, 1)),
        ("2026-01-01T00:00:00,5", datetime(2026, 1, 1, 0, 0, 0, 500000)),
        ("2026-01-01T00:00:00.123456+08:00", datetime(2026, 1, 1, 0, 0, 0, 123456, EIGHT)),
        ("2026-01-01T00:00:00.1234560", datetime(2026, 1, 1, 0, 0, 0, 123456)),
        ("2027-12-31T24:00:00+08:00", datetime(2028, 1, 1, tzinfo=EIGHT)),
        ("2027-12-31T24:00", datetime(2028, 1, 1)),
    ],
)
def test_accepted_forms(text: str, moment: datetime) -> None:
    assert parse_moment(text) == moment


@pytest.mark.parametrize(
    "text", ["2026-01-01T00:00:00.1234567", "2026-01-01T00:00:00.000000001+08:00"]
)
def test_sub_microsecond_digits_are_refused(text: str) -> None:
    with pytest.raises(TimeTooPrecise):
        parse_moment(text)


def test_a_too_precise_row_is_a_located_issue(tmp_path: Path) -> None:
    path = tmp_path / "consents.csv"
    path.write_text(
        "callee,number,credential,granted_at,expires_at\n"
        "13800138000,4008001234,C-1,2026-01-01T00:00:00,2027-01-01T00:00:00\n"
        "13800138000,4008001234,C-2,2026-01-01T00:00:00.0000005,2027-01-01T00:00:00\n",
        encoding="utf-8",
    )
    index, issues = read_consents(path, "86", "0", ZONE, "consents.csv")
    assert [(i.line, i.col) for i in issues] == [(3, 28)]
    assert "sub-microsecond" in str(issues[0])
    assert index.find("4008001234", "13800138000", datetime(2026, 6, 1, tzinfo=UTC).timestamp())
