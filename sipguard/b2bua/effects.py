"""Effects: what the sans-IO B2BUA asks its I/O shell to do.

The core never touches a socket, a clock or a database.  Every input (``datagram``,
``stream message``, ``timer fired``) comes in with the current time as an argument, and the
core answers with a list of these effects, which the shell carries out in order.

Invariants:
- ``Addr`` identifies a peer and the transport to reach it; the shell owns the sockets.
- Timers are keyed; starting a timer with a live key replaces it, cancelling an unknown key
  is a no-op.  ``at`` is on the same monotonic clock as the ``now`` the core was given.
- ``Decided`` carries a call decision that must be journaled; its ``after`` effects (for a
  rejection, the final response; for an allowed call, leg B's INVITE) are carried out only
  once the record is durable, so no final response ever leaves before its decision record is
  on disk.  When the record cannot be made durable, the shell runs ``after`` anyway for a
  rejection or an inbound call, but asks the core's ``unrecorded(call_key)`` to refuse an
  allowed outbound call with 503: outbound calls are never let through unrecorded.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sipguard.policy.facts import CallFacts, Verdict


@dataclass(frozen=True, slots=True)
class Addr:
    """A peer's address and the transport used to reach it ("udp" or "tcp")."""

    host: str
    port: int
    transport: str = "udp"


@dataclass(frozen=True, slots=True)
class Transmit:
    """Send these bytes to ``dest``."""

    data: bytes
    dest: Addr


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Call the core's ``timer_fired(key, now)`` at monotonic time ``at``."""

    key: Hashable
    at: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Forget the timer ``key``."""

    key: Hashable


@dataclass(frozen=True, slots=True)
class Decided:
    """A policy decision on an initial INVITE, to be journaled and logged.

    ``after`` runs once the journal has made the record durable.
    """

    facts: CallFacts
    verdict: Verdict
    at: datetime
    legs: tuple[str, ...] = ()
    after: tuple[Any, ...] = ()
    call_key: int | None = None


@dataclass(frozen=True, slots=True)
class CallEnded:
    """An allowed call is over: the journal fills in its outcome fields."""

    call_id: str
    answered_at: datetime | None
    ended_at: datetime
    final_status: int
    ended_by: str
    extra: dict[str, Any] = field(default_factory=dict)
