"""``calls`` filters by operator, trunk, verdict and reason; --limit keeps the newest calls."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sipguard.cli import main
from sipguard.journal.entries import decision_entry, outcome_entry
from sipguard.journal.store import JournalStore
from sipguard.policy.facts import Direction, Reason, Verdict
from tests.journal.conftest import facts, verdict

DATA = Path(__file__).resolve().parents[2] / "sipguard" / "data"
NOW = datetime.now(UTC).replace(microsecond=0)


def _beta_inbound() -> Verdict:
    return Verdict(
        Reason.ALLOWED, Direction.INBOUND, "13800138000", "4006601234", "4006601234",
        "beta", "beta-bj-1",
    )  # fmt: skip


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """Four calls: acme allowed but 404 at the callee, acme refused, beta inbound, acme newest."""
    for name in ("rules.yaml", "consents.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    t = [NOW - timedelta(hours=h) for h in (4, 3, 2, 1)]
    store = JournalStore(tmp_path / "journal.db")
    store.append(
        [
            decision_entry(facts("c1"), verdict(), t[0]),
            outcome_entry("c1", None, t[0] + timedelta(seconds=2), 404, "callee"),
            decision_entry(facts("c2"), verdict(Reason.QUIET_HOURS), t[1]),
            decision_entry(facts("c3", "127.0.0.4"), _beta_inbound(), t[2]),
            decision_entry(facts("c4"), verdict(), t[3]),
        ]
    )
    store.close()
    return tmp_path / "rules.yaml"


def _ids(capsys: pytest.CaptureFixture[str], rules: Path, *extra: str) -> list[str]:
    assert main(["calls", "--rules", str(rules), "--format", "json", *extra]) == 0
    return [json.loads(line)["call_id"] for line in capsys.readouterr().out.splitlines()]


def test_operator_trunk_verdict_and_reason_filters(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each filter keeps only the matching calls."""
    assert _ids(capsys, rules, "--operator", "beta") == ["c3"]
    assert _ids(capsys, rules, "--trunk", "acme-sh-1") == ["c1", "c2", "c4"]
    assert _ids(capsys, rules, "--verdict", "reject") == ["c2"]
    assert _ids(capsys, rules, "--reason", "ALLOWED", "--operator", "acme") == ["c1", "c4"]


def test_limit_keeps_the_newest_calls_oldest_first(
    rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--limit 2 shows the two most recent calls, not the two oldest."""
    assert _ids(capsys, rules, "--limit", "2") == ["c3", "c4"]
    assert main(["calls", "--rules", str(rules), "--limit", "0"]) == 2


def test_table_shows_the_final_status(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An allowed call the callee answered 404 reads 404, a refused one its own status."""
    assert main(["calls", "--rules", str(rules)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    col = header.index("FINAL")
    finals = [line.split()[col + 1] for line in lines[1:-1]]  # TIME is two words
    assert finals == ["404", "403", "-", "-"]
