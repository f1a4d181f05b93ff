"""What the admin API needs from the process it administers: one small typed Protocol.

Invariants:
- The HTTP layer (``app.py``) talks only to a :class:`Backend`; it never sees the journal,
  the state or the server, so it can be tested against a fake and reused by any process.
- Every method that may touch SQLite or the journal is a coroutine: an implementation runs
  the blocking part in an executor, so the shared event loop never waits on the disk.
- Failures the caller must act on are :class:`AdminError` subclasses carrying the HTTP
  status and a message for the client; anything else is a bug and answered with a bare 500.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from sipguard.journal.query import CallSelection


class AdminError(Exception):
    """A refusal with a status and a message meant for the API client."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(AdminError):
    """The request is malformed (bad JSON, bad filter value, missing field)."""

    status = 400


class NotFound(AdminError):
    """The named thing does not exist (an unfiled number)."""

    status = 404


class Conflict(AdminError):
    """Nothing to do: already in the state asked for."""

    status = 409


class Unavailable(AdminError):
    """The change cannot be made now (no journal, journal down)."""

    status = 503


@dataclass(frozen=True, slots=True)
class CallFilters(CallSelection[str]):
    """The filters of ``sipguard calls``, as text, exactly as the client sent them."""


@dataclass(frozen=True, slots=True)
class CallTable:
    """Matching call attempts as flat rows, and the column order for CSV."""

    fields: tuple[str, ...]
    rows: list[dict[str, Any]]


class JournalHealth(StrEnum):
    """Whether the journal can make records durable."""

    OK = "ok"
    DOWN = "down"
    NONE = "not configured"


@dataclass(frozen=True, slots=True)
class Health:
    """Ready or not, with every reason it is not."""

    ready: bool
    reasons: tuple[str, ...]
    checks: Mapping[str, str]


def judge_health(journal: JournalHealth, rules_hash: str | None) -> Health:
    """Ready unless the journal is down or no rules are loaded."""
    reasons: list[str] = []
    if journal is JournalHealth.DOWN:
        reasons.append("journal down: records cannot be made durable")
    if rules_hash is None:
        reasons.append("rules not loaded")
    checks = {"journal": journal.value, "rules": rules_hash or "not loaded"}
    return Health(not reasons, tuple(reasons), checks)


@dataclass(frozen=True, slots=True)
class Stats:
    """Calls in progress, and decisions by reason since the process started."""

    calls_in_progress: int
    decisions: Mapping[str, int]
    started_at: str = ""


@dataclass(frozen=True, slots=True)
class SuspendedNumber:
    """One suspension in force."""

    number: str
    since: str
    reason: str
    by: str


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What a reload did: applied, or why not, with every located issue of invalid rules."""

    applied: bool
    rules_hash: str | None = None
    issues: Sequence[str] = field(default_factory=tuple)
    detail: str = ""


class Backend(Protocol):
    """The operations behind the admin endpoints; ``who`` is the caller's token name."""

    def health(self) -> Health:
        """Readiness, with reasons."""
        ...

    def metrics_text(self) -> str:
        """The Prometheus text exposition."""
        ...

    def stats(self) -> Stats:
        """Calls in progress and decisions by reason."""
        ...

    async def query_calls(self, filters: CallFilters) -> CallTable:
        """Journaled calls matching ``filters``; BadRequest for a bad filter value."""
        ...

    async def suspended(self) -> list[SuspendedNumber]:
        """Every suspension in force."""
        ...

    async def suspend(self, number: str, why: str, who: str) -> str:
        """Suspend a filed number (journaled); returns its NSN."""
        ...

    async def resume(self, number: str, who: str) -> str:
        """End a suspension (journaled); returns the NSN."""
        ...

    async def reload(self, who: str) -> ReloadOutcome:
        """Load and apply the rules now (journaled when applied)."""
        ...
