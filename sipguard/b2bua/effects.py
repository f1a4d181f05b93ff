"""Effects: what the sans-IO B2BUA asks its I/O shell to do.

The core never touches a socket, a clock or a database.  Every input (``datagram``,
``stream message``, ``timer fired``) comes in with the current time as an argument, and the
core answers with a list of these effects, which the shell carries out in order.

Invariants:
- ``Effect`` is a closed union: a shell that matches on it with ``assert_never`` in its
  default arm fails type checking when an effect is added here and not handled there;
- ``Addr`` identifies a peer and the transport to reach it; the shell owns the sockets;
- timers are keyed by ``TimerKey`` values (``TxTimer``, ``CallTimer``, the one ``SWEEP``
  of settled transactions or the one ``RESEND`` of Completed INVITE server transactions);
  starting a timer with a live key replaces it, cancelling an unknown key is a no-op;
  ``at`` is on the same monotonic clock as the ``now`` the core was given;
- ``Decided`` carries a call decision that must be journaled; its ``after`` effects (for a
  rejection, the final response; for an allowed call, leg B's INVITE) are carried out only
  once the record is durable, so no final response ever leaves before its decision record is
  on disk.  When the record cannot be made durable, the shell runs ``after`` anyway for a
  rejection or an inbound call, but asks the core's ``unrecorded(call_key)`` to refuse an
  allowed outbound call with 503: outbound calls are never let through unrecorded;
- ``Malformed`` records an INVITE from a listed peer that was refused as malformed; its
  answer has already been sent (it is not a decision that holds an answer back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sipguard.policy.facts import CallFacts, Direction, Verdict
from sipguard.sip.timers import Timer


@dataclass(frozen=True, slots=True, init=False)
class Addr:
    """A peer's address and the transport used to reach it ("udp" or "tcp")."""

    host: str
    port: int
    transport: str = "udp"

    def __init__(self, host: str, port: int, transport: str = "udp") -> None:
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "transport", transport)


class CallTimerKind(StrEnum):
    """The timers a call runs besides those of its transactions."""

    MAX_DURATION = "max"  # the call's maximum duration (hang up both legs)
    RING = "ring"  # RFC 3261 Timer C: the callee rings too long after its last provisional


@dataclass(frozen=True, slots=True, init=False)
class TxTimer:
    """A section 17 timer of one live transaction."""

    tx_id: int
    timer: Timer

    def __init__(self, tx_id: int, timer: Timer) -> None:
        object.__setattr__(self, "tx_id", tx_id)
        object.__setattr__(self, "timer", timer)

    # Written out, as ``@dataclass`` would write them: the timer heap hashes and compares
    # these keys for every start and cancel, and mypyc compiles only what is written.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, TxTimer) and other.__class__ is TxTimer:
            return self.tx_id == other.tx_id and self.timer == other.timer
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.tx_id, self.timer))


@dataclass(frozen=True, slots=True, init=False)
class CallTimer:
    """A timer of one call."""

    call_key: int
    kind: CallTimerKind

    def __init__(self, call_key: int, kind: CallTimerKind) -> None:
        object.__setattr__(self, "call_key", call_key)
        object.__setattr__(self, "kind", kind)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CallTimer) and other.__class__ is CallTimer:
            return self.call_key == other.call_key and self.kind == other.kind
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.call_key, self.kind))


@dataclass(frozen=True, slots=True)
class SweepTimer:
    """The one timer that drops settled transactions past their deadline (``settled``)."""


SWEEP = SweepTimer()


@dataclass(frozen=True, slots=True)
class ResendTimer:
    """The one timer of the Completed INVITE server records (``completed``): Timer G's
    retransmissions and Timer H's end, for all of them."""


RESEND = ResendTimer()
TimerKey = TxTimer | CallTimer | SweepTimer | ResendTimer


@dataclass(frozen=True, slots=True, init=False)
class Transmit:
    """Send these bytes to ``dest``."""

    data: bytes
    dest: Addr

    def __init__(self, data: bytes, dest: Addr) -> None:
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "dest", dest)


@dataclass(frozen=True, slots=True, init=False)
class StartTimer:
    """Call the core's ``on_timer(key, now, wall)`` at monotonic time ``at``."""

    key: TimerKey
    at: float

    def __init__(self, key: TimerKey, at: float) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "at", at)


@dataclass(frozen=True, slots=True, init=False)
class CancelTimer:
    """Forget the timer ``key``."""

    key: TimerKey

    def __init__(self, key: TimerKey) -> None:
        object.__setattr__(self, "key", key)


@dataclass(frozen=True, slots=True, init=False)
class Decided:
    """A policy decision on an initial INVITE, to be journaled and logged.

    ``after`` runs once the journal has made the record durable.
    """

    facts: CallFacts
    verdict: Verdict
    at: datetime
    legs: tuple[str, ...] = ()
    after: tuple[Effect, ...] = ()
    call_key: int | None = None

    def __init__(
        self,
        facts: CallFacts,
        verdict: Verdict,
        at: datetime,
        legs: tuple[str, ...] = (),
        after: tuple[Effect, ...] = (),
        call_key: int | None = None,
    ) -> None:
        object.__setattr__(self, "facts", facts)
        object.__setattr__(self, "verdict", verdict)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "legs", legs)
        object.__setattr__(self, "after", after)
        object.__setattr__(self, "call_key", call_key)


@dataclass(frozen=True, slots=True, init=False)
class CallEnded:
    """An allowed call is over: the journal fills in its outcome fields."""

    call_id: str
    answered_at: datetime | None
    ended_at: datetime
    final_status: int
    ended_by: str

    def __init__(
        self,
        call_id: str,
        answered_at: datetime | None,
        ended_at: datetime,
        final_status: int,
        ended_by: str,
    ) -> None:
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "answered_at", answered_at)
        object.__setattr__(self, "ended_at", ended_at)
        object.__setattr__(self, "final_status", final_status)
        object.__setattr__(self, "ended_by", ended_by)


@dataclass(frozen=True, slots=True)
class Malformed:
    """An INVITE from a listed peer that failed validation (answered ``status``): the journal
    keeps it as a malformed attempt, with its source and trunk."""

    source: Addr
    direction: Direction | None
    trunk: str | None
    status: int
    error: str
    at: datetime
    call_id: str | None = None


Effect = Transmit | StartTimer | CancelTimer | Decided | CallEnded | Malformed
Effects = list[Effect]
