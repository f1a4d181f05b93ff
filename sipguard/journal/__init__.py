"""The call journal: an append-only, hash-chained SQLite record of every call attempt,
with group-commit durability, retention, queries and the persistent policy state.

The journal service (``service``, started by ``launch``) owns the journal and the state
in one process per journal; ``serve`` talks to it through ``aclient`` and ``supervise``,
Kamailio workers and other processes through ``client``.  ``writer`` is the in-process
group-commit thread.

Names are imported lazily, so a process that needs only the state does not load the
writer (structlog, prometheus) and vice versa.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sipguard.journal.client import RemoteState, ServiceClient
    from sipguard.journal.entries import admin_entry, decision_entry, outcome_entry
    from sipguard.journal.record import GENESIS_HASH, Entry, Kind
    from sipguard.journal.state import SqliteState, state_path_for
    from sipguard.journal.store import (
        CallRow,
        EntryQuery,
        JournalStore,
        Query,
        RulesInForce,
        VerifyResult,
    )
    from sipguard.journal.writer import JournalUnavailable, JournalWriter

_HOMES = {
    "GENESIS_HASH": "record",
    "Entry": "record",
    "Kind": "record",
    "admin_entry": "entries",
    "decision_entry": "entries",
    "outcome_entry": "entries",
    "RemoteState": "client",
    "ServiceClient": "client",
    "SqliteState": "state",
    "state_path_for": "state",
    "CallRow": "store",
    "JournalStore": "store",
    "Query": "store",
    "EntryQuery": "store",
    "RulesInForce": "store",
    "VerifyResult": "store",
    "JournalUnavailable": "writer",
    "JournalWriter": "writer",
}

__all__ = [
    "GENESIS_HASH",
    "CallRow",
    "Entry",
    "EntryQuery",
    "JournalStore",
    "JournalUnavailable",
    "JournalWriter",
    "Kind",
    "Query",
    "RemoteState",
    "RulesInForce",
    "ServiceClient",
    "SqliteState",
    "VerifyResult",
    "admin_entry",
    "decision_entry",
    "outcome_entry",
    "state_path_for",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sipguard.journal' has no attribute {name!r}")
    return getattr(import_module(f"sipguard.journal.{home}"), name)
