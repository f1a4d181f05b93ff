"""The journal commands: calls, journal verify/purge and numbers suspend/resume/suspended."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sipguard.cli import main
from sipguard.journal.entries import decision_entry, outcome_entry
from sipguard.journal.state import SqliteState, state_path_for
from sipguard.journal.store import JournalStore
from sipguard.policy.facts import Reason

from .conftest import facts, verdict

DATA = Path(__file__).resolve().parents[2] / "sipguard" / "data"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A copy of the example rules (journal.db next to it), holding three journaled calls."""
    for name in ("rules.yaml", "consents.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    store = JournalStore(tmp_path / "journal.db")
    store.append(
        [
            decision_entry(facts("old"), verdict(), NOW - timedelta(days=8)),
            decision_entry(facts("q"), verdict(Reason.QUIET_HOURS), NOW - timedelta(days=2)),
            decision_entry(facts("new"), verdict(callee="13900139000"), NOW - timedelta(hours=1)),
            outcome_entry(
                "new", NOW - timedelta(hours=1), NOW - timedelta(minutes=58), 200, "callee"
            ),
        ]
    )
    store.close()
    return tmp_path / "rules.yaml"


def _out(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


def test_calls_json_filters_by_normalised_number_and_span(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--number is normalised like the rules (+86 dropped); --since 7d drops older calls."""
    code = main(
        [
            "calls",
            "--rules",
            str(rules),
            "--number",
            "+86 400-800-1234",
            "--since",
            "7d",
            "--format",
            "json",
        ]
    )
    rows = [json.loads(line) for line in _out(capsys).splitlines()]
    assert code == 0 and [r["call_id"] for r in rows] == ["q", "new"]
    assert rows[1]["duration_ms"] == 120_000 and rows[1]["ended_by"] == "callee"
    assert rows[0]["reason"] == "QUIET_HOURS" and rows[0]["ended_at"] is None


def test_calls_table_and_csv(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The default table has a header and a count line; CSV has one row per call."""
    assert main(["calls", "--rules", str(rules), "--callee", "013900139000"]) == 0
    table = _out(capsys).splitlines()
    assert table[0].split()[:3] == ["TIME", "DIR", "CALLER"]
    assert "2:00" in table[1] and table[-1] == "1 call"
    journal = str(rules.with_name("journal.db"))
    assert main(["calls", "--journal", journal, "--reason", "QUIET_HOURS", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(_out(capsys))))
    assert [r["call_id"] for r in rows] == ["q"]


def test_calls_usage_errors(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing journal or a bad date is a usage error with exit status 2."""
    assert main(["calls", "--journal", str(tmp_path / "none.db")]) == 2
    assert main(["calls", "--rules", str(rules), "--since", "last tuesday"]) == 2
    assert "error:" in capsys.readouterr().err


def test_verify_exit_codes(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """journal verify exits 0 on an intact chain and 1 naming the entry after tampering."""
    assert main(["journal", "verify", "--rules", str(rules)]) == 0
    assert "intact, 4 entries" in _out(capsys)
    conn = sqlite3.connect(rules.with_name("journal.db"))
    conn.execute("UPDATE entries SET reason = 'ALLOWED' WHERE seq = 2")
    conn.commit()
    conn.close()
    assert main(["journal", "verify", "--journal", str(rules.with_name("journal.db"))]) == 1
    assert "broken at entry 2" in _out(capsys)


def test_purge_command_respects_retention(
    rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """journal purge deletes only entries older than the retention and the chain still verifies."""
    journal = tmp_path / "other.db"
    JournalStore(journal).append(
        [
            decision_entry(facts("ancient"), verdict(), NOW - timedelta(days=40)),
            decision_entry(facts("recent"), verdict(), NOW - timedelta(days=29)),
        ]
    )
    assert main(["journal", "purge", "--journal", str(journal)]) == 2
    assert main(["journal", "purge", "--journal", str(journal), "--retention-days", "10"]) == 2
    assert main(["journal", "purge", "--journal", str(journal), "--retention-days", "30"]) == 0
    assert "1 entries older than 30 days purged" in _out(capsys)
    store = JournalStore(journal)
    assert [e.call_id for e in store.entries() if e.kind == "decision"] == ["recent"]
    assert main(["journal", "verify", "--journal", str(journal)]) == 0
    assert main(["journal", "purge", "--rules", str(rules)]) == 0
    assert "0 entries" in _out(capsys)


def test_suspend_resume_are_journaled(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Suspend and resume change the shared state and append admin entries to the chain."""
    base = ["--rules", str(rules)]
    assert (
        main(
            ["numbers", "suspend", *base, "0086-4008001234", "--why", "complaints", "--by", "alice"]
        )
        == 0
    )
    assert main(["numbers", "suspend", *base, "4008001234", "--why", "again"]) == 1
    state = SqliteState(state_path_for(rules.with_name("journal.db")))
    s = state.suspension("4008001234")
    assert s is not None and (s.reason, s.by) == ("complaints", "alice")
    capsys.readouterr()
    assert main(["numbers", "suspended", *base]) == 0
    assert "4008001234" in _out(capsys)
    assert main(["numbers", "resume", *base, "4008001234", "--by", "bob"]) == 0
    assert main(["numbers", "resume", *base, "4008001234"]) == 1
    assert state.suspension("4008001234") is None
    store = JournalStore(rules.with_name("journal.db"))
    admin = [(e.action, e.number) for e in store.entries() if e.kind == "admin"]
    assert admin == [("suspend", "4008001234"), ("resume", "4008001234")]
    assert store.verify().ok
