"""``numbers suspend`` refuses a number the rules do not file, unless --force."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sipguard.cli import main
from sipguard.journal.state import SqliteState, state_path_for

DATA = Path(__file__).resolve().parents[2] / "sipguard" / "data"


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A copy of the example rules (journal.db next to it)."""
    for name in ("rules.yaml", "consents.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    return tmp_path / "rules.yaml"


def _suspended(rules: Path) -> list[str]:
    state = SqliteState(state_path_for(rules.with_name("journal.db")))
    try:
        return [s.number for s in state.suspensions()]
    finally:
        state.close()


def test_unfiled_number_is_refused(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """4001112222 is not filed: exit 2, a clear error naming --force, nothing suspended."""
    args = ["numbers", "suspend", "--rules", str(rules), "4001112222", "--why", "typo"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "4001112222: not a filed number" in err and "--force" in err
    assert _suspended(rules) == []


def test_force_suspends_with_a_warning(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--force suspends the unfiled number and warns on stderr."""
    args = ["numbers", "suspend", "--rules", str(rules), "4001112222", "--why", "x", "--force"]
    assert main(args) == 0
    assert "warning:" in capsys.readouterr().err
    assert _suspended(rules) == ["4001112222"]


def test_journal_alone_needs_force(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without rules nothing can be checked, so --force is required."""
    journal = str(rules.with_name("journal.db"))
    args = ["numbers", "suspend", "--journal", journal, "4008001234", "--why", "x"]
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    assert _suspended(rules) == ["4008001234"]
