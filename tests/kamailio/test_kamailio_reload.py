"""Per-worker hot reload: valid changes are picked up, invalid ones keep the old rules."""

from __future__ import annotations

import os
from pathlib import Path

from fake_ksr import FakeKSR
from rulesdata import write_rules

from sipguard.adapters.kamailio.reload import RulesWatch
from sipguard.policy import load_rules


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def touch_later(path: Path, text: str) -> None:
    """Rewrite ``path`` and move its mtime forward so the change is visible at once."""
    st = path.stat()
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def watch(tmp_path: Path) -> tuple[RulesWatch, Clock, FakeKSR, Path]:
    ksr, clock = FakeKSR(), Clock()
    path = write_rules(tmp_path)
    return RulesWatch(path, load_rules, clock, ksr.info, ksr.err), clock, ksr, path


def test_valid_change_is_picked_up_after_the_interval(tmp_path: Path) -> None:
    """A valid edit is not seen before the 2 s interval and is swapped in after it."""
    w, clock, ksr, path = watch(tmp_path)
    old = w.rules
    touch_later(path, path.read_text().replace("max_calls_per_callee_per_day: 2",
                                               "max_calls_per_callee_per_day: 7"))  # fmt: skip
    clock.now += 1.0
    assert w.current() is old
    clock.now += 1.5
    assert w.current().max_calls == 7
    assert w.reloads == 1
    assert any("rules reloaded" in text for _, text in ksr.logs)


def test_consents_change_is_picked_up(tmp_path: Path) -> None:
    """Editing only the consents file reloads the rules too."""
    w, clock, _, path = watch(tmp_path)
    consents = path.with_name("consents.csv")
    touch_later(
        consents, consents.read_text() + "13300133000,4008001234,C-9,2000-01-01,2100-01-01\n"
    )
    clock.now += 3
    before = w.rules.version_hash
    assert w.current().version_hash != before


def test_invalid_change_keeps_old_rules_and_logs_located_errors(tmp_path: Path) -> None:
    """A broken edit keeps the rules in force and logs each error as FILE:LINE:COL once."""
    w, clock, ksr, path = watch(tmp_path)
    old = w.rules
    touch_later(path, path.read_text().replace("operator: beta, trunk", "operator: nobody, trunk"))
    clock.now += 3
    assert w.current() is old
    errors = ksr.errors()
    assert any(f"{path}:" in text and "nobody" in text for text in errors), errors
    located = [t for t in errors if t.startswith(f"sipguard: {path}:")]
    assert located and all(t.split(":")[2].isdigit() for t in located)
    count = len(errors)
    clock.now += 3
    assert w.current() is old
    assert len(ksr.errors()) == count


def test_fixing_an_invalid_change_recovers(tmp_path: Path) -> None:
    """After a failed reload, a later valid edit is loaded."""
    w, clock, _, path = watch(tmp_path)
    good = path.read_text()
    touch_later(path, good + "bogus_key: 1\n")
    clock.now += 3
    w.current()
    touch_later(path, good.replace("suspend_after_violations: 5", "suspend_after_violations: 9"))
    clock.now += 3
    assert w.current().suspend_after == 9


def test_a_reload_that_drops_most_consents_is_held_until_confirmed(tmp_path: Path) -> None:
    """A truncated consents file keeps the rules in force until its hash is confirmed."""
    from sipguard.reloadguard import confirm_path

    w, clock, ksr, path = watch(tmp_path)
    old = w.rules
    consents = path.with_name("consents.csv")
    touch_later(consents, consents.read_text().splitlines()[0] + "\n")
    clock.now += 3
    assert w.current() is old
    held = [t for t in ksr.errors() if "reload held" in t]
    assert held and "consents would fall from 5 to 0" in held[0]
    fresh = load_rules(path)
    confirm_path(path).write_text(fresh.version_hash[:16] + "\n")
    clock.now += 3
    assert len(w.current().consents) == 0
