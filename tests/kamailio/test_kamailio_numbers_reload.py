"""A new numbers.csv export is picked up by every Kamailio worker's hot reload."""

from __future__ import annotations

import os
from pathlib import Path

from fake_ksr import FakeKSR
from numbersdata import write_csv_rules

from sipguard.adapters.kamailio.reload import RulesWatch
from sipguard.policy import load_rules


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def append_later(path: Path, line: str) -> None:
    """Append ``line`` and move the mtime forward so the change is visible at once."""
    st = path.stat()
    path.write_text(path.read_text(encoding="utf-8") + line, encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_a_new_number_in_the_csv_is_filed_after_the_interval(tmp_path: Path) -> None:
    """Only the CSV changes: after the check interval the new number is filed."""
    ksr, clock = FakeKSR(), Clock()
    path = write_csv_rules(tmp_path)
    w = RulesWatch(path, load_rules, clock, ksr.info, ksr.err)
    assert w.rules.numbers.get("4008009999") is None
    append_later(tmp_path / "numbers.csv", "4008009999,acme,acme-sh-1,true,true,,,,\n")
    clock.now += 2.5
    fresh = w.current()
    assert fresh.numbers.get("4008009999") is not None
    assert w.reloads == 1 and ksr.errors() == []


def test_a_broken_csv_keeps_the_numbers_in_force_and_is_located(tmp_path: Path) -> None:
    """A bad row keeps the old rules, logs ``numbers.csv:LINE:COL``, and is not retried."""
    ksr, clock = FakeKSR(), Clock()
    path = write_csv_rules(tmp_path)
    w = RulesWatch(path, load_rules, clock, ksr.info, ksr.err)
    old = w.rules
    append_later(tmp_path / "numbers.csv", "40080x,acme,acme-sh-1,true,true,,,,\n")
    clock.now += 2.5
    assert w.current() is old
    assert any("numbers.csv:7:" in line for line in ksr.errors()), ksr.errors()
    logged = len(ksr.errors())
    clock.now += 2.5
    assert w.current() is old and len(ksr.errors()) == logged
