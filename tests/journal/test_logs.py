"""Structured logging: decision and call-end events, Call-ID context, rate limiting."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import structlog
from structlog.testing import capture_logs

from sipguard import logs, metrics
from sipguard.journal.record import outcome_entry
from sipguard.ratelimit import RateLimiter

from .conftest import T0, decision


def test_decision_event_carries_call_id_from_context() -> None:
    """A decision is one event carrying the Call-ID and the verdict fields, leaving no context."""
    entry = decision(7).chained(7, "00" * 32)
    before = metrics.REGISTRY.get_sample_value("sipguard_decisions_total", {"reason": "ALLOWED"})
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs_seen:
        logs.log_decision(entry)
    (event,) = logs_seen
    assert event["event"] == "call.decision" and event["call_id"] == "call-7"
    assert (event["reason"], event["caller"], event["seq"]) == ("ALLOWED", "4008001234", 7)
    after = metrics.REGISTRY.get_sample_value("sipguard_decisions_total", {"reason": "ALLOWED"})
    assert (after or 0) - (before or 0) == 1
    assert structlog.contextvars.get_contextvars() == {}


def test_unjournaled_decision_is_a_warning_with_the_full_record() -> None:
    """When the journal is down the decision is logged as a warning marked journal=unavailable."""
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as seen:
        logs.log_decision(decision(1), journaled=False)
    (event,) = seen
    assert event["log_level"] == "warning" and event["journal"] == "unavailable"
    assert event["callee"] == "13800138000" and event["at"] == T0.isoformat()


def test_call_end_event() -> None:
    """A call end is one event with the outcome fields and the Call-ID."""
    end = outcome_entry("call-1", T0, T0 + timedelta(seconds=5), 200, "caller")
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as seen:
        logs.log_call_end(end)
    (event,) = seen
    assert event["event"] == "call.end" and event["call_id"] == "call-1"
    assert event["duration_ms"] == 5000 and event["ended_by"] == "caller"


def test_rate_limiter_allows_burst_then_rate() -> None:
    """The limiter lets a burst through, then one event per 1/rate seconds, counting the rest."""
    limiter = RateLimiter("test", rate=2.0, burst=3)
    assert [limiter.allow(0.0) for _ in range(5)] == [True, True, True, False, False]
    assert limiter.allow(0.25) is False
    assert limiter.allow(0.5) is True
    assert limiter.take_suppressed() == 3 and limiter.take_suppressed() == 0


def test_garbage_logging_reports_suppressed_count() -> None:
    """Garbage events beyond the limit are dropped and the next logged one says how many."""
    limiter = RateLimiter("garbage-test", rate=1.0, burst=1)
    with capture_logs() as seen:
        results = [logs.log_garbage(limiter, 0.0, "sip.unparseable", source="x") for _ in range(4)]
        logs.log_garbage(limiter, 1.0, "sip.unparseable", source="x")
    assert results == [True, False, False, False]
    assert len(seen) == 2 and seen[1]["suppressed"] == 3


def test_configure_renders_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """configure(json=True) prints one JSON object per event with level and timestamp."""
    logs.configure(json=True, level="info")
    try:
        structlog.get_logger("t").info("hello", n=1)
        structlog.get_logger("t").debug("hidden")
    finally:
        structlog.reset_defaults()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "hello" and record["level"] == "info" and "timestamp" in record
