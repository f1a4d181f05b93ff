"""Shared state for the Kamailio plugin: the policy State backend and the call ledger.

Invariants:
- Kamailio runs one Python interpreter per worker process, so a frequency cap or a
  suspension only holds across workers through a store outside the process: SQLite (WAL,
  ``BEGIN IMMEDIATE`` per update, see ``sipguard.journal.state``) by default, or Redis.
  ``memory`` keeps per-worker counts and is meant for tests and single-worker setups.
- The call ledger lives in Kamailio's shared-memory ``htable`` named ``sipguard``, read and
  written through ``KSR.pv``: a Call-ID maps to ``CALLER_IP|ANSWERED_ISO``.  Keys are hashes
  of the Call-ID, so no Call-ID text ever lands inside a pseudo-variable name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sipguard.errors import SipguardError
from sipguard.journal import SqliteState, state_path_for
from sipguard.policy import Ruleset
from sipguard.policy.state import MemoryState, State


class StateSpecError(SipguardError):
    """A ``sipguard.state`` / ``SIPGUARD_STATE`` value that names no usable backend."""


def open_state(spec: str, rules: Ruleset) -> State:
    """Open the State backend named by ``spec``: sqlite[:PATH], memory or redis://URL."""
    if spec == "memory":
        return MemoryState()
    if spec == "sqlite" or spec.startswith("sqlite:"):
        path = spec.partition(":")[2]
        if path:
            return SqliteState(Path(path))
        if rules.journal_path is not None:
            return SqliteState(state_path_for(rules.journal_path))
        return SqliteState(rules.path.with_name("state.db"))
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return _redis_state(spec)
    raise StateSpecError(f"unknown state backend {spec!r}: use sqlite[:PATH], memory or redis://")


def _redis_state(url: str) -> State:
    try:
        from sipguard.journal.redis_state import RedisState
    except ImportError as exc:
        raise StateSpecError(f"Redis state is not available in this build ({exc})") from exc
    state: State = RedisState.from_url(url)
    return state


@dataclass(frozen=True, slots=True)
class OpenCall:
    """An allowed call the ledger still tracks."""

    caller_ip: str
    answered_at: datetime | None


class CallLedger:
    """Allowed calls in flight, shared by every worker through the ``sipguard`` htable."""

    def __init__(self, pv: Any) -> None:
        self._pv = pv

    @staticmethod
    def _name(call_id: str) -> str:
        key = hashlib.blake2b(call_id.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()
        return f"$sht(sipguard=>{key})"

    def open(self, call_id: str, caller_ip: str) -> None:
        """Start tracking an allowed call from ``caller_ip``."""
        self._pv.sets(self._name(call_id), f"{caller_ip}|")

    def get(self, call_id: str) -> OpenCall | None:
        """The tracked call, or None."""
        raw = self._pv.get(self._name(call_id))
        if not isinstance(raw, str) or "|" not in raw:
            return None
        ip, _, answered = raw.partition("|")
        return OpenCall(ip, datetime.fromisoformat(answered) if answered else None)

    def answered(self, call_id: str, at: datetime) -> None:
        """Mark the call answered at ``at`` (the first 2xx wins)."""
        call = self.get(call_id)
        if call is not None and call.answered_at is None:
            self._pv.sets(self._name(call_id), f"{call.caller_ip}|{at.isoformat()}")

    def close(self, call_id: str) -> OpenCall | None:
        """Stop tracking the call and return what was known about it."""
        call = self.get(call_id)
        if call is not None:
            self._pv.unset(self._name(call_id))
        return call
