"""The journal keeps ``monitored``; ``calls --monitored`` selects those calls; old journals open."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sipguard.cli import main
from sipguard.journal.entries import decision_entry
from sipguard.journal.record import COLUMNS
from sipguard.journal.store import JournalStore
from sipguard.policy.facts import Reason
from tests.journal.conftest import facts, verdict

DATA = Path(__file__).resolve().parents[2] / "sipguard" / "data"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """Three calls: allowed, allowed while QUIET_HOURS was watched, refused."""
    for name in ("rules.yaml", "consents.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    watched = dataclasses.replace(verdict(), monitored=Reason.QUIET_HOURS)
    store = JournalStore(tmp_path / "journal.db")
    store.append(
        [
            decision_entry(facts("c1"), verdict(), NOW - timedelta(hours=3)),
            decision_entry(facts("c2"), watched, NOW - timedelta(hours=2)),
            decision_entry(facts("c3"), verdict(Reason.NO_CONSENT), NOW - timedelta(hours=1)),
        ]
    )
    assert store.verify().ok
    store.close()
    return tmp_path / "rules.yaml"


def test_monitored_calls_are_stored_and_selected(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calls", "--rules", str(rules), "--format", "json", "--monitored"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["call_id"], r["verdict"], r["monitored"]) for r in rows] == [
        ("c2", "allow", "QUIET_HOURS")
    ]
    assert main(["calls", "--rules", str(rules)]) == 0
    table = capsys.readouterr().out
    assert "MONITORED" in table.splitlines()[0] and "QUIET_HOURS" in table


def test_a_journal_from_before_monitor_mode_opens_and_still_verifies(tmp_path: Path) -> None:
    """Entries hashed without the field keep their hashes; the column is added on open."""
    store = JournalStore(tmp_path / "journal.db")
    store.append([decision_entry(facts("old"), verdict(), NOW)])
    store.close()
    conn = sqlite3.connect(tmp_path / "journal.db")
    conn.execute("ALTER TABLE entries DROP COLUMN monitored")
    conn.commit()
    conn.close()
    assert "monitored" in COLUMNS
    store = JournalStore(tmp_path / "journal.db")
    watched = dataclasses.replace(verdict(), monitored=Reason.NO_CONSENT)
    store.append([decision_entry(facts("new"), watched, NOW)])
    assert store.verify().ok
    store.close()


def test_metrics_count_monitored_decisions_by_reason() -> None:
    """A logged decision with a monitored reason is counted under that reason."""
    from sipguard import logs, metrics

    def count() -> float:
        value = metrics.REGISTRY.get_sample_value(
            "sipguard_monitored_decisions_total", {"reason": "QUIET_HOURS"}
        )
        return value or 0.0

    before = count()
    watched = dataclasses.replace(verdict(), monitored=Reason.QUIET_HOURS)
    logs.log_decision(decision_entry(facts("m1"), watched, NOW))
    logs.log_decision(decision_entry(facts("m2"), verdict(), NOW))
    assert count() == before + 1
