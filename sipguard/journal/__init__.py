"""The call journal: an append-only, hash-chained SQLite record of every call attempt,
with group-commit durability, retention, queries and the persistent policy state."""

from sipguard.journal.record import (
    GENESIS_HASH,
    Entry,
    Kind,
    admin_entry,
    decision_entry,
    outcome_entry,
)
from sipguard.journal.state import SqliteState
from sipguard.journal.store import CallRow, JournalStore, Query, VerifyResult
from sipguard.journal.writer import JournalUnavailable, JournalWriter

__all__ = [
    "GENESIS_HASH",
    "CallRow",
    "Entry",
    "JournalStore",
    "JournalUnavailable",
    "JournalWriter",
    "Kind",
    "Query",
    "SqliteState",
    "VerifyResult",
    "admin_entry",
    "decision_entry",
    "outcome_entry",
]
