"""Structured logging: one JSON event per decision and per call end, Call-ID in context.

Invariants:
- Only adapters and the CLI log; the core returns decisions and never imports this module.
- The call's Call-ID is bound with ``structlog.contextvars`` for the time an event is
  emitted, so every line about a call carries ``call_id`` without passing it around.
- Events about untrusted garbage (unparseable datagrams, unknown sources) go through a
  ``sipguard.ratelimit.RateLimiter``, so a flood cannot flood the log; what it drops is
  counted and reported with the next event it lets through.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from sipguard import metrics
from sipguard.journal.record import Entry
from sipguard.ratelimit import RateLimiter

_DECISION_FIELDS = (
    "at",
    "direction",
    "source",
    "trunk",
    "operator",
    "caller",
    "callee",
    "number",
    "verdict",
    "status",
    "reason",
    "credential",
    "legs",
    "rules_hash",
)
_OUTCOME_FIELDS = ("answered_at", "ended_at", "duration_ms", "final_status", "ended_by")


def configure(json: bool = True, level: int | str = "info") -> None:
    """Set up structlog: contextvars merged, ISO UTC timestamps, JSON (or console) lines."""
    numeric = level if isinstance(level, int) else logging.getLevelName(level.upper())
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def _pick(entry: Entry, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in names}


def log_decision(entry: Entry, *, journaled: bool = True) -> None:
    """Emit the ``call.decision`` event; ``journaled=False`` marks a record kept only here.

    When the journal is unavailable the log line carries the full record, so inbound calls
    that went on are still on record somewhere.
    """
    metrics.count_decision(entry.reason, entry.trunk, entry.operator)
    log = structlog.get_logger("sipguard.calls")
    with structlog.contextvars.bound_contextvars(call_id=entry.call_id):
        fields = _pick(entry, _DECISION_FIELDS)
        if journaled:
            log.info("call.decision", seq=entry.seq, **fields)
        else:
            log.warning("call.decision", journal="unavailable", **fields)


def log_call_end(entry: Entry, *, journaled: bool = True) -> None:
    """Emit the ``call.end`` event for an outcome entry."""
    log = structlog.get_logger("sipguard.calls")
    with structlog.contextvars.bound_contextvars(call_id=entry.call_id):
        fields = _pick(entry, _OUTCOME_FIELDS)
        if journaled:
            log.info("call.end", seq=entry.seq, **fields)
        else:
            log.warning("call.end", journal="unavailable", **fields)


def log_garbage(limiter: RateLimiter, now: float, event: str, **fields: Any) -> bool:
    """Log a warning about untrusted input if ``limiter`` allows; report what it dropped."""
    if not limiter.allow(now):
        return False
    suppressed = limiter.take_suppressed()
    if suppressed:
        fields["suppressed"] = suppressed
    structlog.get_logger("sipguard.garbage").warning(event, **fields)
    return True
