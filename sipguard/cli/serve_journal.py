"""Where ``sipguard serve`` keeps its journal and its state, as the rules (or ``--state``) say.

Invariants:
- The journal (``journal.path`` or ``journal.url``) is written through a journal service
  that serve starts and supervises: per SQLite file, or per serve process for PostgreSQL
  (see ``sipguard.journal.backends``).
- The state is the one :func:`sipguard.journal.backends.state_spec` names.  An SQLite state
  rides the journal service's group commit (:class:`WriteBehindState`); a Redis state is
  shared by every node and is asked directly; ``memory`` is this process's alone.
- Without a journal there is no service; the state is then memory, unless a state url or
  ``--state`` names one.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from sipguard.errors import SipguardError
from sipguard.journal import launch
from sipguard.journal.backends import (
    default_state_path,
    is_pg_url,
    journal_target,
    open_state,
    pg_module,
    service_socket,
    sqlite_state_path,
    state_spec,
)
from sipguard.journal.behind import WriteBehindState
from sipguard.journal.state import SqliteState
from sipguard.journal.supervise import ServiceJournal
from sipguard.policy import Ruleset
from sipguard.policy.state import State


class StateSpecError(SipguardError):
    """A state url or ``--state`` value that names no usable backend."""


async def start_journal(
    ruleset: Ruleset, override: str | None = None
) -> tuple[ServiceJournal | None, State | None]:
    """The journal service (started and connected) and the state beside it."""
    target = journal_target(ruleset)
    spec = state_spec(ruleset, override)
    if target is None or ruleset.model.journal is None:
        explicit = override is not None or ruleset.state_url is not None
        return None, _other_state(spec, ruleset) if explicit else None
    state_file = sqlite_state_path(spec, ruleset)
    pg = is_pg_url(target)
    argv = launch.command(
        target,
        state=state_file or (default_state_path(ruleset) if pg else None),
        socket=service_socket(target, os.getpid()) if pg else None,
        retention_days=ruleset.model.journal.retention_days,
        watch_pid=os.getpid(),
    )
    journal = ServiceJournal(argv, service_socket(target, os.getpid()), probe=_probe(target))
    try:
        await journal.start()
    except SipguardError:
        journal.close()
        raise
    if state_file is None:
        return journal, _other_state(spec, ruleset)
    return journal, WriteBehindState(SqliteState(state_file), journal)


def _probe(target: str | Path) -> Callable[[], Awaitable[bool]] | None:
    """How the supervisor sees a PostgreSQL journal come back after a failed commit."""
    if not is_pg_url(target):
        return None
    reachable = pg_module().reachable
    url = str(target)
    return lambda: reachable(url)


def _other_state(spec: str, ruleset: Ruleset) -> State:
    try:
        return open_state(spec, ruleset)
    except (ValueError, ImportError) as exc:
        raise StateSpecError(f"state {spec!r}: {exc}") from exc
