"""Putting the admin backend together from the parts of a running ``sipguard serve``.

The command hands over its call core, its server shell, the journal writer and the rules
watcher; this module reads them only through the read-only Protocols below, so it never
imports the server adapter.

Invariants:
- Health is "ready" unless the journal writer or the core says records cannot be made
  durable, or no rules are loaded; it is read fresh on every request.
- A reload first validates the file off the loop, so invalid rules come back with every
  located issue; valid rules then go through the watcher, exactly as SIGHUP does (stable
  file, reload guard, one atomic swap).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from sipguard.adapters.admin.backend import (
    Backend,
    CallFilters,
    CallTable,
    Health,
    JournalHealth,
    ReloadOutcome,
    Stats,
    judge_health,
)
from sipguard.adapters.admin.serve_backend import AdminJournal, RulesView, ServeBackend
from sipguard.errors import RulesError
from sipguard.metrics import exposition
from sipguard.policy.state import State


class CoreView(Protocol):
    """The B2BUA core, as the admin API reads it."""

    @property
    def rules(self) -> RulesView:
        """The rules in force."""
        ...

    @property
    def state(self) -> State:
        """Counts, violations and suspensions."""
        ...

    @property
    def active_calls(self) -> int:
        """Calls in progress."""
        ...

    @property
    def journal_ok(self) -> bool:
        """False once a journal write failed."""
        ...


class GateView(Protocol):
    """The server's journal gate: the rules hash it stamps and the decisions it counted."""

    @property
    def rules_hash(self) -> str | None:
        """Hash of the rules in force."""
        ...

    @property
    def decisions(self) -> Mapping[str, int]:
        """Decisions by reason since start."""
        ...


class ServerView(Protocol):
    """The server shell."""

    @property
    def gate(self) -> GateView:
        """Its journal gate."""
        ...


class WatcherStats(Protocol):
    """The rules watcher's counters."""

    @property
    def held(self) -> int:
        """Reloads held by the reload guard."""
        ...


class WatcherView(Protocol):
    """The rules watcher."""

    @property
    def stats(self) -> WatcherStats:
        """Its counters."""
        ...

    async def reload(self, trigger: str) -> bool:
        """Reload now; True when the new rules are in force."""
        ...


class JournalView(AdminJournal, Protocol):
    """The journal the server writes through."""


def serve_backend(
    core: CoreView,
    server: ServerView,
    journal: JournalView | None,
    watcher: WatcherView,
    rules_path: Path,
    calls: Callable[[Path | str, Callable[[], RulesView]], Callable[[CallFilters], CallTable]],
    journal_path: Path | str | None = None,  # an SQLite file or a PostgreSQL URL
) -> Backend:
    """The backend of a running server; ``calls(journal_path, rules)`` makes the query."""

    def health() -> Health:
        state = JournalHealth.NONE
        if journal is not None:
            ok = journal.healthy and core.journal_ok
            state = JournalHealth.OK if ok else JournalHealth.DOWN
        return judge_health(state, server.gate.rules_hash)

    def rules() -> RulesView:
        return core.rules

    return ServeBackend(
        rules=rules,
        state=core.state,
        journal=journal,
        calls=calls(journal_path, rules) if journal_path is not None else None,
        reload=lambda: reload_via(watcher, rules_path, server.gate),
        stats=lambda: Stats(core.active_calls, dict(server.gate.decisions)),
        health=health,
        metrics=lambda: exposition().decode(),
    )


async def reload_via(watcher: WatcherView, rules_path: Path, gate: GateView) -> ReloadOutcome:
    """Validate ``rules_path`` (located issues when invalid), then reload through the watcher."""
    from sipguard.policy import load_rules

    try:
        await asyncio.get_running_loop().run_in_executor(None, load_rules, rules_path)
    except RulesError as exc:
        return ReloadOutcome(applied=False, issues=tuple(str(i) for i in exc.issues))
    held = watcher.stats.held
    if await watcher.reload("admin"):
        return ReloadOutcome(applied=True, rules_hash=gate.rules_hash)
    if watcher.stats.held > held:
        detail = "held by the reload guard: confirm it as the server log says, then reload"
    else:
        detail = "not applied: the file changed while it was read, or a reload was running"
    return ReloadOutcome(applied=False, detail=detail)
