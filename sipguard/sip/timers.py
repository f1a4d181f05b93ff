"""Transaction timers of RFC 3261 section 17 (table 4) and RFC 6026 section 8.

Invariants:
- durations are pure functions of T1, T2, T4 and whether the transport is reliable;
- the retransmission timers A, E and G start at T1 and double; E and G are capped at T2,
  A is not (section 17.1.1.2); E restarts at T2 once a provisional response arrived;
- the wait timers D, I, J and K are zero on a reliable transport, which means "at once";
- retransmission timers are never armed on a reliable transport.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Timer(StrEnum):
    """Names of the transaction timers."""

    A = "A"  # INVITE request retransmit (client, unreliable)
    B = "B"  # INVITE transaction timeout (client)
    D = "D"  # wait for response retransmits (client INVITE, Completed)
    E = "E"  # non-INVITE request retransmit (client, unreliable)
    F = "F"  # non-INVITE transaction timeout (client)
    G = "G"  # INVITE final response retransmit (server, unreliable)
    H = "H"  # wait for ACK receipt (server INVITE, Completed)
    I = "I"  # wait for ACK retransmits (server INVITE, Confirmed)  # noqa: E741
    J = "J"  # wait for request retransmits (server non-INVITE, Completed)
    K = "K"  # wait for response retransmits (client non-INVITE, Completed)
    L = "L"  # wait for the ACK of a 2xx (server INVITE, Accepted; RFC 6026)
    M = "M"  # wait for 2xx retransmits (client INVITE, Accepted; RFC 6026)


RETRANSMIT = frozenset({Timer.A, Timer.E, Timer.G})
WAITS = frozenset({Timer.D, Timer.I, Timer.J, Timer.K})


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """The base intervals, in seconds (section 17.1.1.1 defaults)."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    def duration(self, timer: Timer, *, reliable: bool) -> float:
        """Initial duration of ``timer`` (the first interval for A, E and G)."""
        if timer in RETRANSMIT:
            return self.t1
        if reliable and timer in WAITS:
            return 0.0
        if timer is Timer.D:
            return max(32.0, 64 * self.t1)
        if timer in (Timer.I, Timer.K):
            return self.t4
        return 64 * self.t1  # B, F, H, J, L, M

    def next_interval(self, timer: Timer, previous: float) -> float:
        """The interval after ``previous`` for a retransmission timer (doubling, capped)."""
        doubled = previous * 2
        if timer is Timer.A:
            return doubled
        return min(doubled, self.t2)
