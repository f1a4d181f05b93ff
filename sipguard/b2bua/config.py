"""The tunables of the call core, fixed for the life of one ``B2BUA``."""

from __future__ import annotations

from dataclasses import dataclass, field

from sipguard.b2bua.effects import Addr
from sipguard.sip.timers import TimerConfig


@dataclass(frozen=True, slots=True)
class B2BUAConfig:
    """Tunables of the call core."""

    local: Addr | None = None  # our address for Via/Contact; default: rules' first listen
    # Lookup keys of the headers relayed between legs; None: the rules' (``relay_keys``).
    allow_headers: frozenset[str] | None = None
    max_duration: float | None = 4 * 3600.0
    # How long the callee may ring after its last provisional (RFC 3261 Timer C, > 3 min).
    ring_timeout: float | None = 181.0
    max_concurrent: int | None = None
    trunk_cps: dict[str, float] = field(default_factory=dict)
    default_cps: float | None = None
    retry_after: int = 5
    # Live transactions (both legs) past which a new request is answered 503, statelessly.
    max_transactions: int = 20_000
    # Settled transactions kept as records per side (``settled``); past it the first due goes.
    max_settled: int = 100_000
    timers: TimerConfig = field(default_factory=TimerConfig)
    # Kamailio fronts whose X-Sipguard-Source names the address a call is screened as from.
    fronts: frozenset[str] = frozenset()
