"""The sans-IO B2BUA call core: two legs per call, screened by the policy.

Drive :class:`B2BUA` with ``on_message(data, source, now, wall)`` and
``on_timer(key, now, wall)``; carry out the effects of :mod:`sipguard.b2bua.effects`.
"""

from sipguard.b2bua.config import B2BUAConfig
from sipguard.b2bua.core import B2BUA
from sipguard.b2bua.effects import (
    Addr,
    CallEnded,
    CallTimer,
    CallTimerKind,
    CancelTimer,
    Decided,
    Effect,
    ResendTimer,
    StartTimer,
    SweepTimer,
    TimerKey,
    Transmit,
    TxTimer,
)

__all__ = [
    "B2BUA",
    "Addr",
    "B2BUAConfig",
    "CallEnded",
    "CallTimer",
    "CallTimerKind",
    "CancelTimer",
    "Decided",
    "Effect",
    "ResendTimer",
    "StartTimer",
    "SweepTimer",
    "TimerKey",
    "Transmit",
    "TxTimer",
]
