"""Structured logging: decision and call-end events, Call-ID context, rate limiting."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import structlog
from structlog.testing import capture_logs

from sipguard import logs, metrics
from sipguard.journal.entries import outcome_entry
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


class _NoPlainLogger:
    """Stands in for the bound logger: the hot events must not go through it."""

    def info(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("the plain path was taken")


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().err.splitlines()]


def test_hot_lines_run_the_configured_chain_directly_and_write_the_same_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decision and call-end lines skip structlog's dispatch, yet are the plain path's lines:
    same keys in the same order, same values (the timestamp aside), context merged."""
    old = structlog.get_config()
    logs.configure()
    try:
        entry = decision(7).chained(7, "00" * 32)
        end = outcome_entry("call-7", T0, T0 + timedelta(seconds=5), 200, "caller")
        structlog.contextvars.bind_contextvars(node="edge-1")
        calls = structlog.get_logger("sipguard.calls")  # bound to this configuration
        calls.info("call.decision", seq=entry.seq, **logs._event(entry, logs._DECISION_FIELDS))
        calls.info("call.end", seq=end.seq, **logs._event(end, logs._OUTCOME_FIELDS))
        plain = _lines(capsys)
        monkeypatch.setattr(logs, "_calls", _NoPlainLogger())
        logs.log_decision(entry)
        logs.log_call_end(end)
        direct = _lines(capsys)
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.configure(**old)
    assert len(plain) == len(direct) == 2
    for a, b in zip(plain, direct, strict=True):
        assert list(a) == list(b)  # key order too
        assert {**a, "timestamp": None} == {**b, "timestamp": None}
    assert direct[0]["node"] == "edge-1" and direct[0]["level"] == "info"


def test_hot_lines_take_the_plain_path_when_the_chain_is_not_the_configured_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``capture_logs``, another ``structlog.configure``, or a level above info, the
    lines go the plain way (captured, rendered by that chain, or dropped)."""
    old = structlog.get_config()
    logs.configure()
    monkeypatch.setattr(logs, "_calls", structlog.get_logger("sipguard.calls"))
    try:
        with capture_logs() as seen:
            logs.log_decision(decision(1))
        assert [e["event"] for e in seen] == ["call.decision"]
        assert logs._direct() is not None
        structlog.configure(processors=[structlog.processors.KeyValueRenderer()])
        assert logs._direct() is None
        logs.configure(level="warning")
        monkeypatch.setattr(logs, "_calls", structlog.get_logger("sipguard.calls"))
        logs.log_decision(decision(2))
        assert logs._direct() is None and capsys.readouterr().err == ""
    finally:
        structlog.configure(**old)
