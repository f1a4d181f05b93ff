"""Shared state for the Kamailio plugin: the policy State backend and the call ledger.

Invariants:
- Kamailio runs one Python interpreter per worker process, so a frequency cap or a
  suspension only holds across workers through a store outside the process.  By default
  (``sqlite``, with a journal) that is the journal service: it holds the state in memory,
  runs each op atomically in one round trip and persists it to the SQLite state file in its
  group commit (see ``sipguard.journal.service``), so workers never queue on SQLite's write
  lock.  Without a journal, ``sqlite`` is the file itself (``BEGIN IMMEDIATE`` per update).
  Redis is the option shared across nodes; ``memory`` keeps per-worker counts and is meant
  for tests and single-worker setups.  The spec is the rules' ``state.url`` unless
  ``sipguard.state`` / ``SIPGUARD_STATE`` names another (plain ``sqlite``, the front
  end's default, defers to the rules).
- The call ledger lives in Kamailio's shared-memory ``htable`` named ``sipguard``, read and
  written through ``KSR.htable`` (no pseudo-variable name is built per call): a Call-ID
  maps to ``CALLER_IP|ANSWERED_ISO``.  Keys are hashes of the Call-ID, so no Call-ID text
  ever becomes a key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sipguard.adapters.kamailio.ksr import Ksr
from sipguard.adapters.kamailio.one_trip import OneTripState
from sipguard.errors import SipguardError
from sipguard.journal import SqliteState, state_path_for
from sipguard.journal.backends import (
    default_state_path,
    is_pg_url,
    journal_target,
    service_socket,
    state_spec,
)
from sipguard.journal.client import ServiceClient
from sipguard.journal.launch import command
from sipguard.policy import Ruleset
from sipguard.policy.state import MemoryState, State

TABLE = "sipguard"  # the htable the generated kamailio.cfg defines


class StateSpecError(SipguardError):
    """A ``sipguard.state`` / ``SIPGUARD_STATE`` value that names no usable backend."""


def sqlite_path(spec: str, rules: Ruleset) -> Path | None:
    """The state file a ``sqlite[:PATH]`` spec names (None for other backends)."""
    if spec != "sqlite" and not spec.startswith("sqlite:"):
        return None
    path = spec.partition(":")[2]
    if path:
        return Path(path)
    if rules.journal_path is not None:
        return state_path_for(rules.journal_path)
    return rules.path.with_name("state.db")


def state_for(rules: Ruleset, override: str | None) -> str:
    """The state spec: ``sipguard.state`` / ``SIPGUARD_STATE`` override the rules'
    ``state.url``, except plain ``sqlite`` (what ``sipguard kamailio --state`` passes by
    default), which defers to the rules."""
    return state_spec(rules, None if override == "sqlite" else override)


def service_command(
    rules: Ruleset, spec: str, sync: str | None, watch_pid: int
) -> list[str] | None:
    """The journal service's argv for these rules (None when they keep no journal).

    The service's state file is the one a ``sqlite`` spec names; ``sync=normal`` trades
    power-loss durability for speed (a record still survives a crash of Kamailio).
    """
    target = journal_target(rules)
    if target is None:
        return None
    journal, pg = rules.model.journal, is_pg_url(target)
    return command(
        target,
        state=sqlite_path(spec, rules) or (default_state_path(rules) if pg else None),
        socket=service_socket(target, watch_pid) if pg else None,
        sync="normal" if sync == "normal" else "full",
        retention_days=journal.retention_days if journal is not None else None,
        watch_pid=watch_pid,
    )


def open_state(spec: str, rules: Ruleset, service: ServiceClient | None = None) -> State:
    """Open the State backend named by ``spec``: sqlite[:PATH], memory or redis://URL.

    With ``service`` (the journal service, which was started with this spec's file), the
    ``sqlite`` state is the service's, asked once per decision (``one_trip``).
    """
    if spec == "memory":
        return MemoryState()
    path = sqlite_path(spec, rules)
    if path is not None:
        return OneTripState(service) if service is not None else SqliteState(path)
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

    def __init__(self, htable: Ksr) -> None:
        self._ht = htable  # KSR.htable: sht_get, sht_sets, sht_rm

    @staticmethod
    def _key(call_id: str) -> str:
        return hashlib.blake2b(call_id.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()

    def open(self, call_id: str, caller_ip: str) -> None:
        """Start tracking an allowed call from ``caller_ip``."""
        self._ht.sht_sets(TABLE, self._key(call_id), f"{caller_ip}|")

    def get(self, call_id: str) -> OpenCall | None:
        """The tracked call, or None."""
        return _open_call(self._ht.sht_get(TABLE, self._key(call_id)))

    def answered(self, call_id: str, at: datetime) -> None:
        """Mark the call answered at ``at`` (the first 2xx wins)."""
        key = self._key(call_id)
        raw = self._ht.sht_get(TABLE, key)
        call = _open_call(raw)
        if call is not None and call.answered_at is None:
            self._ht.sht_sets(TABLE, key, f"{raw}{at.isoformat()}")

    def close(self, call_id: str) -> OpenCall | None:
        """Stop tracking the call and return what was known about it."""
        key = self._key(call_id)
        call = _open_call(self._ht.sht_get(TABLE, key))
        if call is not None:
            self._ht.sht_rm(TABLE, key)
        return call


def _open_call(raw: object) -> OpenCall | None:
    if not isinstance(raw, str) or "|" not in raw:
        return None
    ip, _, answered = raw.partition("|")
    return OpenCall(ip, datetime.fromisoformat(answered) if answered else None)
