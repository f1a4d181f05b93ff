"""Exports carry every stored field; ``journal entries`` lists suspend and resume actions."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sipguard.cli import main
from sipguard.cli.calls import FIELDS
from sipguard.journal.entries import decision_entry
from sipguard.journal.record import COLUMNS
from sipguard.journal.store import JournalStore
from sipguard.policy.facts import Reason
from tests.journal.conftest import facts, verdict

DATA = Path(__file__).resolve().parents[2] / "sipguard" / "data"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """The example rules beside a journal holding one call that suspended its number."""
    for name in ("rules.yaml", "consents.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    base = verdict(Reason.NO_CONSENT)
    fifth = dataclasses.replace(base, suspended_now=True)
    store = JournalStore(tmp_path / "journal.db")
    store.append([decision_entry(facts("fifth"), fifth, NOW - timedelta(hours=1))])
    store.close()
    return tmp_path / "rules.yaml"


def test_every_decision_column_is_exported() -> None:
    """FIELDS names every stored column of a decision (kind/action/detail are admin-only)."""
    assert set(COLUMNS) - {"kind", "at", "action", "detail"} <= set(FIELDS)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_suspended_now_is_exported(
    rules: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The call that reached the violation count says so in JSON and CSV."""
    assert main(["calls", "--rules", str(rules), "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        row = json.loads(out.splitlines()[0])
        assert row["suspended_now"] is True and len(row["hash"]) == 64
    else:
        row = next(csv.DictReader(io.StringIO(out)))
        assert row["suspended_now"] == "True" and row["seq"] == "1"


def test_journal_entries_lists_suspend_and_resume(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Who suspended or resumed a number, why and when, from the chain."""
    base = ["--rules", str(rules)]
    main(["numbers", "suspend", *base, "4008001234", "--why", "complaint 118", "--by", "alice"])
    main(["numbers", "resume", *base, "4008001234", "--by", "bob"])
    capsys.readouterr()
    assert main(["journal", "entries", *base, "--kind", "admin", "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["action"], r["number"], r["by"], r["why"]) for r in rows] == [
        ("suspend", "4008001234", "alice", "complaint 118"),
        ("resume", "4008001234", "bob", None),
    ]
    assert rows[0]["time"].endswith("+08:00")
    assert main(["journal", "entries", *base, "--action", "suspend"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["SEQ", "TIME", "KIND", "WHAT"]
    assert "alice" in table[1] and "complaint 118" in table[1] and table[-1] == "1 entry"
    assert main(["journal", "entries", *base, "--limit", "0"]) == 2  # as calls --limit 0
    assert "--limit must be at least 1 (got 0)" in capsys.readouterr().err
