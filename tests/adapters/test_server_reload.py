"""Hot reload: a changed file or a request reloads; invalid rules keep the old ones."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from sipguard.adapters.server.reload import RulesWatcher
from sipguard.errors import Issue, RulesError


def fake_load(path: Path) -> str:
    """A loader that 'validates' by rejecting files that contain the word bad."""
    text = path.read_text()
    if "bad" in text:
        raise RulesError([Issue(str(path), 3, 5, "bad thing"), Issue(str(path), 1, 1, "worse")])
    return text


def make(tmp_path: Path, applied: list[Any], interval: float = 0.05) -> tuple[Path, RulesWatcher]:
    import structlog

    rules = tmp_path / "rules.yaml"
    rules.write_text("v1")
    watcher = RulesWatcher(rules, None, fake_load, applied.append, structlog.get_logger(), interval)
    return rules, watcher


def test_file_change_reloads_and_applies(tmp_path: Path) -> None:
    """Editing the rules file is noticed by polling and the new rules are applied."""
    applied: list[Any] = []

    async def main() -> None:
        rules, watcher = make(tmp_path, applied)
        watcher.start()
        await asyncio.sleep(0.1)
        rules.write_text("v2 longer")
        for _ in range(40):
            await asyncio.sleep(0.05)
            if applied:
                break
        watcher.stop()
        assert watcher.stats.ok == 1

    asyncio.run(main())
    assert applied == ["v2 longer"]


def test_invalid_rules_keep_old_and_log_every_issue(tmp_path: Path) -> None:
    """An invalid reload applies nothing, counts a failure and logs each located issue."""
    applied: list[Any] = []

    async def main() -> bool:
        rules, watcher = make(tmp_path, applied)
        rules.write_text("bad rules")
        return await watcher.reload("SIGHUP")

    with capture_logs() as logs:
        ok = asyncio.run(main())
    assert ok is False
    assert applied == []
    issues = [entry["issue"] for entry in logs if entry["event"] == "rules.invalid"]
    assert issues == [f"{tmp_path}/rules.yaml:1:1: worse", f"{tmp_path}/rules.yaml:3:5: bad thing"]


def test_request_reloads_without_a_change(tmp_path: Path) -> None:
    """request() (the SIGHUP handler) reloads even when no file changed."""
    applied: list[Any] = []

    async def main() -> None:
        _, watcher = make(tmp_path, applied)
        watcher.request("SIGHUP")
        await asyncio.sleep(0.2)
        assert watcher.stats.ok == 1

    asyncio.run(main())
    assert applied == ["v1"]


def test_consents_change_triggers_reload(tmp_path: Path) -> None:
    """A change to the consents file alone also reloads the rules."""
    import structlog

    applied: list[Any] = []
    consents = tmp_path / "consents.csv"
    consents.write_text("callee,number\n")
    rules = tmp_path / "rules.yaml"
    rules.write_text("v1")

    async def main() -> None:
        watcher = RulesWatcher(
            rules, consents, fake_load, applied.append, structlog.get_logger(), 0.05
        )
        watcher.start()
        await asyncio.sleep(0.1)
        consents.write_text("callee,number\n1,2\n")
        for _ in range(40):
            await asyncio.sleep(0.05)
            if applied:
                break
        watcher.stop()

    asyncio.run(main())
    assert applied == ["v1"]
