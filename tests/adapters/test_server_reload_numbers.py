"""serve's hot reload notices a new numbers.csv export (rules 1.1 section 7)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import structlog

from sipguard.adapters.server.reload import RulesWatcher
from sipguard.policy import Ruleset, load_rules

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kamailio"))
from numbersdata import write_csv_rules


def test_a_changed_numbers_csv_is_reloaded(tmp_path: Path) -> None:
    """Only the CSV changes: polling reloads the rules and the new number is filed."""
    rules_path = write_csv_rules(tmp_path)
    first = load_rules(rules_path)
    applied: list[Ruleset] = []

    async def main() -> None:
        watcher = RulesWatcher(rules_path, first.consents_path, load_rules, applied.append,
                               structlog.get_logger(), 0.05, current=first)  # fmt: skip
        watcher.start()
        await asyncio.sleep(0.1)
        csv = tmp_path / "numbers.csv"
        st = csv.stat()
        csv.write_text(csv.read_text() + "4008009999,acme,acme-sh-1,true,true,,,,\n")
        os.utime(csv, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if applied:
                break
        watcher.stop()

    asyncio.run(main())
    assert len(applied) == 1
    assert applied[0].numbers.get("4008009999") is not None
    assert first.numbers.get("4008009999") is None


def test_the_old_rules_are_emptied_in_the_reload_thread(tmp_path: Path) -> None:
    """Held by the watcher alone, the old rules' index is emptied off the loop, and said so;
    rules someone still holds are left whole."""
    rules_path = write_csv_rules(tmp_path)
    kept = load_rules(rules_path)
    applied: list[Ruleset] = []

    async def main() -> None:
        log = structlog.get_logger()
        watcher = RulesWatcher(rules_path, None, load_rules, applied.append, log, 60,
                               current=load_rules(rules_path))  # fmt: skip
        assert await watcher.reload("test")  # the first rules: held by nobody else
        watcher._current = kept  # rules a call in flight still holds
        assert await watcher.reload("test")

    with structlog.testing.capture_logs() as logs:
        asyncio.run(main())
    released = [e["emptied_in_reload_thread"] for e in logs if e["event"] == "rules.old_released"]
    assert released == [True, False] and len(applied) == 2
    assert kept.numbers.get("4008001234") is not None
