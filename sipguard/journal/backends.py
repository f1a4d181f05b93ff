"""Where the journal and the state are: an SQLite file or a PostgreSQL URL, and a state url.

Invariants:
- Every front end (``serve``, the Kamailio plugin, ``replay``, the CLI commands) opens the
  journal through :func:`open_store` and names the state through :func:`state_spec`, so
  they cannot disagree about the rules' ``journal`` and ``state`` blocks.
- A journal is an SQLite file (``journal.path``) or a PostgreSQL URL (``journal.url``);
  the PostgreSQL driver is imported only when a URL is opened.
- The state spec is ``sqlite:PATH``, ``redis://...`` or ``memory``: an override (a
  ``--state`` flag) first, then the rules' ``state.url``, then the default, the SQLite file
  beside the journal file (``state.db`` beside the rules file for a PostgreSQL journal).
- The journal service of a PostgreSQL journal is per owning process (each node writes
  through its own service): its socket is in a private folder of this user, named by the
  URL and the owner's pid.  An SQLite journal's service is per file (``wire``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from sipguard.journal.record import Entry
from sipguard.journal.state import SqliteState, state_path_for
from sipguard.journal.wire import socket_path_for
from sipguard.journal.writer import JournalUnavailable
from sipguard.policy.state import MemoryState, State

if TYPE_CHECKING:
    from sipguard.journal.query import CallRow, EntryQuery, Query, RulesInForce
    from sipguard.journal.store import VerifyResult
    from sipguard.policy import Ruleset


class Store(Protocol):
    """What the SQLite and the PostgreSQL journal stores both offer."""

    @property
    def path(self) -> object: ...  # a Path, or a URL without its password
    def append(self, entries: Sequence[Entry]) -> list[Entry]: ...
    def purge(self, now: datetime, retention_days: int) -> int: ...
    def verify(self) -> VerifyResult: ...
    def entries(self, since_seq: int = 0) -> Iterator[Entry]: ...
    def head(self) -> tuple[int, str]: ...
    def count(self) -> int: ...
    def calls(self, q: Query) -> list[CallRow]: ...
    def select(self, q: EntryQuery) -> list[Entry]: ...
    def rules_in_force(self, since: datetime, until: datetime) -> list[RulesInForce]: ...
    def close(self) -> None: ...


def is_pg_url(text: str | Path) -> bool:
    """True for a ``postgresql://`` or ``postgres://`` URL."""
    return isinstance(text, str) and text.startswith(("postgresql://", "postgres://"))


def pg_module() -> ModuleType:
    """``sipguard.journal.pg_store``; JournalUnavailable saying what to install if the
    PostgreSQL driver is missing."""
    try:
        return import_module("sipguard.journal.pg_store")
    except ImportError as exc:
        raise JournalUnavailable(
            f"a PostgreSQL journal needs psycopg and psycopg_pool ({exc}): "
            "pip install 'sipguard[postgres]'",
            "down",
        ) from exc


def open_store(target: str | Path) -> Store:
    """The journal store at ``target``: a PostgreSQL URL or an SQLite file path."""
    if is_pg_url(target):
        store: Store = pg_module().PgJournalStore(str(target))
        return store
    from sipguard.journal.store import JournalStore

    return JournalStore(target)


def journal_target(rules: Ruleset) -> str | Path | None:
    """The rules' journal: its SQLite path, its PostgreSQL URL, or None."""
    return rules.journal_path if rules.journal_path is not None else rules.journal_url


def default_state_path(rules: Ruleset) -> Path:
    """The SQLite state file used when no state url says otherwise."""
    if rules.journal_path is not None:
        return state_path_for(rules.journal_path)
    return rules.path.with_name("state.db")


def state_spec(rules: Ruleset, override: str | None = None) -> str:
    """The state to use: ``override``, else the rules' ``state.url``, else the SQLite default."""
    if override:
        return override
    if rules.state_url is not None:
        return rules.state_url
    return f"sqlite:{default_state_path(rules)}"


def sqlite_state_path(spec: str, rules: Ruleset | None) -> Path | None:
    """The file of a ``sqlite[:PATH]`` spec (the rules' default file for bare ``sqlite``)."""
    if spec == "sqlite" and rules is not None:
        return default_state_path(rules)
    if spec.startswith("sqlite:"):
        return Path(spec[len("sqlite:") :])
    return None


def service_socket(target: str | Path, owner_pid: int) -> Path:
    """Where the journal service for ``target`` listens (see the module header)."""
    if not is_pg_url(target):
        return socket_path_for(target)
    folder = Path(tempfile.gettempdir()) / f"sipguard-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    tag = hashlib.blake2b(str(target).encode(), digest_size=6).hexdigest()
    return folder / f"journal-{tag}-{owner_pid}.sock"


def open_state(spec: str, rules: Ruleset | None = None) -> State:
    """The State a spec names: an SQLite file, a Redis database, or memory (ValueError if
    the spec names none of them)."""
    path = sqlite_state_path(spec, rules)
    if path is not None:
        return SqliteState(path)
    if spec == "memory":
        return MemoryState()
    if spec.startswith(("redis://", "rediss://", "unix://")):
        from sipguard.journal.redis_state import RedisState

        return RedisState.from_url(spec)
    raise ValueError(f"unknown state {spec!r}: use sqlite:PATH, redis://HOST:PORT/DB or memory")


def close_state(state: State) -> None:
    """Close ``state`` if it holds a connection that needs closing."""
    if isinstance(state, SqliteState):
        state.close()
