"""The admin backend of ``sipguard serve``, built from what the command hands it.

It never imports the server adapter: the journal writer, the policy state, the current
rules, the reload coroutine and the stats, health and metrics readers come in as arguments
typed by the small Protocols below.

Invariants:
- Every change (suspend, resume, an applied reload) is entered into the journal's hash chain
  as an ``admin`` entry naming ``by`` (the token's name), through the journal writer's
  group commit, and this module writes nothing else to the journal.
- A suspension or resumption is journaled *before* the state changes; when the entry cannot
  be made durable (no journal, journal down) nothing changes and the client gets 503.
- Changes are serialised by one lock, so two requests cannot both see "not suspended".
- Call queries (SQLite reads of the journal) run in the loop's default executor.  The state
  is called on the loop: serve's state is the write-behind copy in memory, whose changes
  travel to the journal service on the loop's own connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Awaitable, Callable, Container
from dataclasses import replace
from datetime import UTC, datetime
from typing import ParamSpec, Protocol, TypeVar

from sipguard.adapters.admin.backend import (
    BadRequest,
    CallFilters,
    CallTable,
    Conflict,
    Health,
    NotFound,
    ReloadOutcome,
    Stats,
    SuspendedNumber,
    Unavailable,
)
from sipguard.journal.entries import admin_entry
from sipguard.journal.record import Entry
from sipguard.journal.writer import JournalUnavailable
from sipguard.policy.numbers import normalise
from sipguard.policy.state import State

T = TypeVar("T")
P = ParamSpec("P")


class RulesView(Protocol):
    """What the backend reads from the rules in force."""

    @property
    def country_code(self) -> str:
        """Digits of the country code."""
        ...

    @property
    def national_prefix(self) -> str:
        """The trunk prefix (``0``)."""
        ...

    @property
    def numbers(self) -> Container[object]:
        """The filed NSNs."""
        ...


class AdminJournal(Protocol):
    """The journal writer, as far as admin entries need it."""

    @property
    def healthy(self) -> bool:
        """False once the writer can no longer make records durable."""
        ...

    def submit(
        self, entry: Entry
    ) -> concurrent.futures.Future[Entry | None] | asyncio.Future[Entry | None]:
        """Queue an entry; the future completes once it is durable."""
        ...


class ServeBackend:
    """Implements :class:`sipguard.adapters.admin.backend.Backend` for a running server."""

    def __init__(
        self,
        *,
        rules: Callable[[], RulesView],
        state: State,
        journal: AdminJournal | None,
        calls: Callable[[CallFilters], CallTable] | None,
        reload: Callable[[], Awaitable[ReloadOutcome]],
        stats: Callable[[], Stats],
        health: Callable[[], Health],
        metrics: Callable[[], str],
    ) -> None:
        self._rules = rules
        self._state = state
        self._journal = journal
        self._calls = calls
        self._reload = reload
        self._stats = stats
        self._health = health
        self._metrics = metrics
        self._lock = asyncio.Lock()
        self._started = datetime.now(UTC).isoformat()

    def health(self) -> Health:
        return self._health()

    def metrics_text(self) -> str:
        return self._metrics()

    def stats(self) -> Stats:
        now = self._stats()
        return now if now.started_at else replace(now, started_at=self._started)

    async def query_calls(self, filters: CallFilters) -> CallTable:
        if self._calls is None:
            raise Unavailable("the rules name no journal: there are no calls to query")
        return await _run(self._calls, filters)

    async def suspended(self) -> list[SuspendedNumber]:
        rows = self._state.suspensions()
        return [SuspendedNumber(s.number, s.since.isoformat(), s.reason, s.by) for s in rows]

    async def suspend(self, number: str, why: str, who: str) -> str:
        nsn = self._nsn(number)
        if nsn not in self._rules().numbers:
            raise NotFound(f"{nsn}: not a filed number")
        async with self._lock:
            if self._state.suspension(nsn) is not None:
                raise Conflict(f"{nsn}: already suspended")
            now = datetime.now(UTC)
            detail = {"by": who, "why": why}
            await self._record(admin_entry("suspend", now, number=nsn, detail=detail))
            self._state.suspend(nsn, now, why, who)
        return nsn

    async def resume(self, number: str, who: str) -> str:
        nsn = self._nsn(number)
        async with self._lock:
            if self._state.suspension(nsn) is None:
                if nsn not in self._rules().numbers:
                    raise NotFound(f"{nsn}: not a filed number")
                raise Conflict(f"{nsn}: not suspended")
            now = datetime.now(UTC)
            await self._record(admin_entry("resume", now, number=nsn, detail={"by": who}))
            self._state.resume(nsn)
        return nsn

    async def reload(self, who: str) -> ReloadOutcome:
        async with self._lock:
            self._writable()
            outcome = await self._reload()
            if outcome.applied:
                detail = {"by": who, "rules_hash": outcome.rules_hash}
                entry = admin_entry("reload", datetime.now(UTC), detail=detail)
                await self._record(entry, what="the rules were applied but")
        return outcome

    def _nsn(self, raw: str) -> str:
        rules = self._rules()
        nsn = normalise(raw, rules.country_code, rules.national_prefix)
        if nsn is None:
            raise BadRequest(f"not a number: {raw!r}")
        return nsn

    def _writable(self) -> AdminJournal:
        if self._journal is None:
            raise Unavailable("the rules name no journal: changes cannot be journaled")
        if not self._journal.healthy:
            raise Unavailable("journal down: changes cannot be journaled now")
        return self._journal

    async def _record(self, entry: Entry, what: str = "nothing was changed:") -> None:
        journal = self._writable()
        try:
            stored = await asyncio.wrap_future(journal.submit(entry))
        except JournalUnavailable as exc:
            raise Unavailable(f"{what} the admin entry could not be journaled: {exc}") from exc
        if stored is None:
            raise Unavailable(f"{what} the journal is closed")


async def _run(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(work, *args, **kwargs))
