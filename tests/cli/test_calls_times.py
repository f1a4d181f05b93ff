"""``sipguard calls`` shows and reads every time in one zone, with its offset."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipguard.cli import main
from sipguard.cli.calls import local_time, parse_when
from sipguard.journal.entries import decision_entry, outcome_entry, to_ts
from sipguard.journal.store import JournalStore
from tests.journal.conftest import facts, verdict

DATA = Path(__file__).resolve().parents[2] / "sipguard" / "data"
# 02:00 UTC is 10:00 in Shanghai: the server journals UTC times, replay local ones.
AT_UTC = datetime(2026, 6, 2, 2, 0, 0, tzinfo=UTC)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """The example rules beside a journal holding one call written with a UTC time."""
    for name in ("rules.yaml", "consents.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    store = JournalStore(tmp_path / "journal.db")
    end = AT_UTC + timedelta(minutes=2)
    store.append(
        [
            decision_entry(facts("utc-call"), verdict(), AT_UTC),
            outcome_entry("utc-call", AT_UTC + timedelta(seconds=1), end, 200, "callee"),
        ]
    )
    store.close()
    return tmp_path / "rules.yaml"


def test_table_prints_rules_zone_with_offset(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A UTC-written call shows at 10:00+08:00 in the table, not at 02:00 without an offset."""
    assert main(["calls", "--rules", str(rules)]) == 0
    row = capsys.readouterr().out.splitlines()[1]
    assert row.startswith("2026-06-02 10:00:00+08:00 ")


def test_time_copied_from_table_finds_the_call(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--since/--until without an offset are read in the zone the table is printed in."""
    args = ["calls", "--rules", str(rules), "--format", "json"]
    assert main([*args, "--since", "2026-06-02 10:00:00", "--until", "2026-06-02 10:00:01"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["call_id"] for r in rows] == ["utc-call"]
    assert rows[0]["time"] == "2026-06-02T10:00:00+08:00"
    assert rows[0]["ended_at"] == "2026-06-02T10:02:00+08:00"


def test_journal_only_uses_utc_and_says_so(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With --journal and no rules, times carry +00:00 and stderr names the zone."""
    journal = str(rules.with_name("journal.db"))
    assert main(["calls", "--journal", journal, "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["time"] == "2026-06-02T02:00:00+00:00"
    assert "UTC" in err


def test_suspensions_list_in_rules_zone(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """numbers suspended prints since-times in the rules' timezone with the offset."""
    base = ["--rules", str(rules)]
    assert main(["numbers", "suspend", *base, "4008001234", "--why", "test", "--by", "t"]) == 0
    capsys.readouterr()
    assert main(["numbers", "suspended", *base, "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["since"].endswith("+08:00")
    assert main(["numbers", "suspended", *base]) == 0
    assert "+08:00" in capsys.readouterr().out.splitlines()[0]


@given(
    when=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
    ).map(lambda t: t.replace(microsecond=0)),
    zone=st.sampled_from(["Asia/Shanghai", "UTC", "America/New_York", "Asia/Kolkata"]),
)
def test_a_printed_time_reads_back_as_the_same_instant(when: datetime, zone: str) -> None:
    """What the table prints, with or without its offset, parses back to the same instant."""
    tz = ZoneInfo(zone)
    printed = local_time(to_ts(when), tz).isoformat(sep=" ", timespec="seconds")
    assert parse_when(printed, tz, when) == when
    naive = printed[:19]  # copied without the offset: read in the same zone
    wall = datetime.fromisoformat(naive)
    ambiguous = (
        wall.replace(tzinfo=tz, fold=0).utcoffset() != wall.replace(tzinfo=tz, fold=1).utcoffset()
    )
    if not ambiguous:  # (the hour a DST zone repeats needs its offset to be exact)
        assert parse_when(naive, tz, when) == when
