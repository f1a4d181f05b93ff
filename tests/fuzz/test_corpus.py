"""Every kept fuzz input, and every RFC 4475 message, passes every target's contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from .targets import TARGETS

DATA = Path(__file__).resolve().parents[1] / "data"
CORPUS = sorted((DATA / "fuzz").rglob("*")) + sorted((DATA / "rfc4475").glob("*.dat"))
INPUTS = [p for p in CORPUS if p.is_file()]


def test_the_corpus_is_there() -> None:
    """The kept corpus holds inputs for every target (a missing folder would test nothing)."""
    for name in TARGETS:
        assert any((DATA / "fuzz" / name).iterdir()), name


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_target_keeps_its_contract_on_the_corpus(name: str) -> None:
    """No kept input makes a target break its contract."""
    target = TARGETS[name]()
    for path in INPUTS:
        target(path.read_bytes())
