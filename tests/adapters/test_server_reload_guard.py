"""A reload takes only a stable file, and holds one that would drop most of the filings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from structlog.testing import capture_logs

from sipguard.adapters.server.reload import RulesWatcher
from sipguard.reloadguard import confirm_path, hold_for


@dataclass
class Filed:
    """A stand-in ruleset: its hash and how many consents and numbers it files."""

    version_hash: str
    consents: list[int]
    numbers: list[int]


def load_counts(path: Path) -> Filed:
    """Rules files here are ``CONSENTS NUMBERS``; the hash is the text itself, padded."""
    text = path.read_text()
    consents, numbers = (int(part) for part in text.split())
    return Filed(text.replace(" ", "-").ljust(16, "0"), [0] * consents, [0] * numbers)


def watch(rules: Path, applied: list[Any], current: Filed) -> RulesWatcher:
    return RulesWatcher(rules, None, load_counts, applied.append, structlog.get_logger(), 0.05,
                        current=current, guard=hold_for)  # fmt: skip


async def until(check: Callable[[], object], seconds: float = 2.0) -> bool:
    for _ in range(int(seconds / 0.05)):
        if check():
            return True
        await asyncio.sleep(0.05)
    return False


def test_a_reload_dropping_most_consents_is_held_until_confirmed(tmp_path: Path) -> None:
    """100 -> 10 consents keeps the old rules, logs the hold, and applies once confirmed."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("100 5")
    applied: list[Any] = []

    async def main() -> None:
        watcher = watch(rules, applied, load_counts(rules))
        watcher.start()
        with capture_logs() as logs:
            rules.write_text("10 5")
            assert await until(lambda: watcher.stats.held == 1)
        assert applied == []
        held = [e for e in logs if e["event"] == "rules.reload_held"]
        assert held and "consents would fall from 100 to 10" in held[0]["reason"]
        confirm_path(rules).write_text(load_counts(rules).version_hash[:16])
        assert await until(lambda: applied)
        assert len(applied[0].consents) == 10
        watcher.stop()

    asyncio.run(main())


def test_a_small_drop_goes_through(tmp_path: Path) -> None:
    """Losing 40% of the numbers is within the default guard: the rules are applied."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("100 10")
    applied: list[Any] = []

    async def main() -> None:
        watcher = watch(rules, applied, load_counts(rules))
        watcher.start()
        rules.write_text("100 6")
        assert await until(lambda: applied)
        assert watcher.stats.held == 0
        watcher.stop()

    asyncio.run(main())


def test_a_file_that_changes_while_it_is_read_is_not_taken(tmp_path: Path) -> None:
    """A file still being written is retried, and only its final content is applied."""
    rules = tmp_path / "rules.yaml"
    rules.write_text("100 10")
    applied: list[Any] = []
    writes = iter(["100 10 ", "100 12"])

    def load_while_writing(path: Path) -> Filed:
        loaded = load_counts(path)
        step = next(writes, None)
        if step is not None:
            path.write_text(step)  # the editor is still writing
        return loaded

    async def main() -> None:
        watcher = RulesWatcher(rules, None, load_while_writing, applied.append,
                               structlog.get_logger(), 0.05)  # fmt: skip
        watcher.start()
        rules.write_text("100 11")
        assert await until(lambda: applied)
        assert watcher.stats.unstable >= 1
        assert len(applied[-1].numbers) == 12
        watcher.stop()

    asyncio.run(main())
