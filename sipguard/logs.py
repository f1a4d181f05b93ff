"""Structured logging: one JSON event per decision and per call end, Call-ID in context.

Invariants:
- Only adapters and the CLI log; the core returns decisions and never imports this module.
- Every decision and call-end line carries the call's ``call_id``.  On the hot path each
  event's fields are built once, straight from the journal entry, and handed to a logger
  bound at import (structlog's filtering logger drops disabled levels before any work);
  other code may still bind ``call_id`` through ``structlog.contextvars``, which
  ``configure`` merges into every line.
- Writing a line never raises: a log on a full disk (or a closed stream) loses that line,
  counted in ``LINES_LOST``, and whatever was being logged (a call's answer) goes on;
- Events about untrusted garbage (unparseable datagrams, unknown sources) go through a
  ``sipguard.ratelimit.RateLimiter``, so a flood cannot flood the log; what it drops is
  counted and reported with the next event it lets through.
"""

from __future__ import annotations

import json as stdjson
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO, cast

import orjson
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


class _Unfailing:
    """A text stream for the log whose write and flush never raise; failures are counted."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lost = 0

    def write(self, text: str) -> int:
        try:
            return int(self.stream.write(text))
        except (OSError, ValueError):
            self.lost += 1
            return 0

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (OSError, ValueError):
            self.lost += 1


LINES_LOST = _Unfailing(sys.stderr)  # ``.lost``: lines the log could not write


@dataclass(slots=True)
class _Chain:
    """The chain ``configure`` set up, kept so the hot events can run it directly."""

    config: dict[str, Any] = field(default_factory=dict)  # what was handed to structlog
    processors: tuple[Any, ...] = ()  # the processors' content, as configured
    info: bool = False  # info lines are enabled
    printer: Any = None  # a logger of the configured factory: its lock and its stream


_CHAIN = _Chain()


def configure(*, json: bool = True, level: int | str = "info") -> None:
    """Set up structlog: contextvars merged, ISO UTC timestamps, JSON (or console) lines."""
    numeric = level if isinstance(level, int) else logging.getLevelName(level.upper())
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        renderer,
    ]
    config: dict[str, Any] = {
        "processors": processors,
        "wrapper_class": structlog.make_filtering_bound_logger(numeric),
        "logger_factory": structlog.PrintLoggerFactory(file=cast(TextIO, _stream())),
    }
    structlog.configure(**config, cache_logger_on_first_use=True)
    _CHAIN.config, _CHAIN.processors = config, tuple(processors)
    _CHAIN.info = numeric <= logging.INFO
    _CHAIN.printer = config["logger_factory"]()


# Datetimes and dataclasses go to structlog's fallback (their repr), as with the standard
# encoder, rather than orjson's own forms.
_PASS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def _dumps(event: dict[str, Any], *, default: Callable[[Any], Any] | None = None) -> str:
    """One JSON line, by orjson (UTF-8, compact); by the standard encoder for what orjson
    cannot write (text with lone surrogates, an integer past 64 bits)."""
    try:
        return orjson.dumps(event, default=default, option=_PASS).decode()
    except orjson.JSONEncodeError:
        return stdjson.dumps(event, default=default)


def _direct() -> tuple[Any, ...] | None:
    """The processors to run by hand, or None unless structlog still runs ``configure``'s
    chain, unchanged, with info enabled (a test's ``capture_logs`` or another
    ``structlog.configure`` sends every line the plain way)."""
    if not _CHAIN.info:
        return None
    current = structlog.get_config()
    for key, value in _CHAIN.config.items():
        if current[key] is not value:
            return None
    processors: list[Any] = current["processors"]
    if len(processors) != len(_CHAIN.processors) or processors[-1] is not _CHAIN.processors[-1]:
        return None
    return _CHAIN.processors


def _info(event: str, fields: dict[str, Any]) -> None:
    """``_calls.info(event, **fields)``; the configured chain run directly when it may be.

    The line is the one structlog writes, by the configured factory's logger (its lock, its
    stream, its flush): only structlog's per-call dispatch and context copy are skipped.
    """
    processors = _direct()
    if processors is None:
        _calls.info(event, **fields)
        return
    fields["event"] = event
    rendered: Any = fields
    for processor in processors:
        rendered = processor(None, "info", rendered)
    _CHAIN.printer.msg(rendered)


def _stream() -> _Unfailing:
    """The log's stream: stderr as it is now (tests swap it), wrapped so it never raises."""
    if LINES_LOST.stream is not sys.stderr:
        LINES_LOST.stream = sys.stderr
    return LINES_LOST


_calls = structlog.get_logger("sipguard.calls")


def _event(entry: Entry, names: tuple[str, ...]) -> dict[str, Any]:
    """The event's fields, built once: the Call-ID first, then the record's fields."""
    fields = {name: getattr(entry, name) for name in names}
    fields["call_id"] = entry.call_id
    return fields


def log_decision(entry: Entry, *, journaled: bool = True) -> None:
    """Emit the ``call.decision`` event; ``journaled=False`` marks a record kept only here.

    When the journal is unavailable the log line carries the full record, so inbound calls
    that went on are still on record somewhere.
    """
    metrics.count_decision(entry.reason, entry.trunk, entry.operator, entry.monitored)
    fields = _event(entry, _DECISION_FIELDS)
    if journaled:
        _info("call.decision", {"seq": entry.seq, **fields})
    else:
        _calls.warning("call.decision", journal="unavailable", **fields)


def log_call_end(entry: Entry, *, journaled: bool = True) -> None:
    """Emit the ``call.end`` event for an outcome entry."""
    fields = _event(entry, _OUTCOME_FIELDS)
    if journaled:
        _info("call.end", {"seq": entry.seq, **fields})
    else:
        _calls.warning("call.end", journal="unavailable", **fields)


def log_garbage(limiter: RateLimiter, now: float, event: str, **fields: object) -> bool:
    """Log a warning about untrusted input if ``limiter`` allows; report what it dropped."""
    if not limiter.allow(now):
        return False
    suppressed = limiter.take_suppressed()
    if suppressed:
        fields["suppressed"] = suppressed
    structlog.get_logger("sipguard.garbage").warning(event, **fields)
    return True
