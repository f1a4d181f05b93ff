"""Alerts (rules 1.1 section 6): one JSON object per event, POSTed to a webhook.

Invariants:
- Outside the core: the policy and the call core return facts (a suspension, a failed
  reload); the adapters turn them into ``Alert``s and hand them to a sender here.
- Sending never delays a call.  ``AlertSender`` is a daemon thread with a bounded queue
  (for the Kamailio plugin and replay); ``AsyncAlertSender`` is an asyncio task (for
  ``serve``).  ``send`` only enqueues; a full queue drops the alert, logged and counted.
- Delivery retries with exponential back-off (``attempts`` tries, ``backoff`` doubling);
  an alert that is not delivered in the end is logged (``alert.undelivered``) and counted
  (``sipguard_alerts_undelivered_total``), never lost silently.  A 2xx answer is delivery.
- Only the events the rules list are sent; others are dropped without a sound.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import structlog
from prometheus_client import Counter

from sipguard.metrics import REGISTRY
from sipguard.policy.model import Alerts
from sipguard.policy.values import parse_duration


class Event(StrEnum):
    """The events of spec section 6."""

    NUMBER_SUSPENDED = "number_suspended"
    SHORT_CALLS = "short_calls"
    JOURNAL_FAILED = "journal_failed"
    RULES_RELOAD_FAILED = "rules_reload_failed"
    LIMIT_WARNING = "limit_warning"


UNDELIVERED = Counter(
    "sipguard_alerts_undelivered_total",
    "Alerts that could not be delivered to the webhook, by event.",
    ["event"],
    registry=REGISTRY,
)
SENT = Counter(
    "sipguard_alerts_sent_total", "Alerts delivered to the webhook, by event.", ["event"],
    registry=REGISTRY,
)  # fmt: skip
_log = structlog.get_logger("sipguard.alerts")


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert: its event, when it happened and what it is about."""

    event: Event
    at: datetime
    details: dict[str, str | int | float | None] = field(default_factory=dict)

    def body(self) -> bytes:
        """The JSON object POSTed: ``event``, ``time`` (ISO 8601), then the details."""
        document = {"event": self.event.value, "time": self.at.isoformat(), **self.details}
        return json.dumps(document, ensure_ascii=False, sort_keys=False).encode()


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where and how alerts go."""

    webhook: str
    events: frozenset[Event]
    timeout: float = 2.0
    attempts: int = 4
    backoff: float = 0.5  # seconds before the first retry, doubled after each


def post(delivery: Delivery, alert: Alert) -> str | None:
    """POST once; None when delivered, else what went wrong."""
    request = urllib.request.Request(
        delivery.webhook, data=alert.body(), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "sipguard"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=delivery.timeout) as answer:
            status = int(answer.status)
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return str(getattr(exc, "reason", exc))
    return None if 200 <= status < 300 else f"HTTP {status}"


def _failed(alert: Alert, problem: str, attempts: int) -> None:
    UNDELIVERED.labels(event=alert.event.value).inc()
    _log.error("alert.undelivered", alert=alert.event.value, problem=problem, attempts=attempts)


def delivery_of(block: Alerts | None) -> Delivery | None:
    """The ``Delivery`` of a rules file's ``alerts`` block (``Rules.alerts``), or None."""
    if block is None:
        return None
    timeout = parse_duration(block.timeout).total_seconds()
    return Delivery(block.webhook, frozenset(Event(e) for e in block.events), timeout)


def suspended(number: str | None, reason: str, at: datetime, **more: str | None) -> Alert:
    """The alert of a number the policy has just suspended."""
    return Alert(Event.NUMBER_SUSPENDED, at, {"number": number, "reason": reason, **more})


class AlertSender:
    """Delivers alerts from a daemon thread; ``send`` never blocks the caller."""

    def __init__(self, delivery: Delivery, capacity: int = 1000) -> None:
        self.delivery = delivery
        self._queue: queue.Queue[Alert | None] = queue.Queue(capacity)
        self._thread = threading.Thread(target=self._run, name="sipguard-alerts", daemon=True)
        self._thread.start()

    def send(self, alert: Alert) -> None:
        """Queue ``alert`` if its event is wanted; a full queue drops it, logged and counted."""
        if alert.event not in self.delivery.events:
            return
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            _failed(alert, "alert queue full", 0)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (within ``timeout``), then stop the thread."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _run(self) -> None:
        while (alert := self._queue.get()) is not None:
            try:
                self._deliver(alert)
            except Exception as exc:  # the thread must outlive any one alert
                _failed(alert, repr(exc), 0)

    def _deliver(self, alert: Alert) -> None:
        delay, problem = self.delivery.backoff, "not sent"
        for attempt in range(1, self.delivery.attempts + 1):
            problem = post(self.delivery, alert) or ""
            if not problem:
                SENT.labels(event=alert.event.value).inc()
                return
            _log.warning("alert.retry", alert=alert.event.value, problem=problem, attempt=attempt)
            if attempt < self.delivery.attempts:
                time.sleep(delay)
                delay *= 2
        _failed(alert, problem, self.delivery.attempts)


class AsyncAlertSender:
    """Delivers alerts from an asyncio task; the blocking POST runs in a worker thread.

    ``delivery`` may change at any time (a reload); None sends nothing.
    """

    def __init__(self, delivery: Delivery | None, capacity: int = 1000) -> None:
        self.delivery = delivery
        self._queue: asyncio.Queue[Alert] = asyncio.Queue(capacity)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the delivery task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    def send(self, alert: Alert) -> None:
        """Queue ``alert`` if its event is wanted; never waits."""
        if self.delivery is None or alert.event not in self.delivery.events:
            return
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            _failed(alert, "alert queue full", 0)

    async def drain(self) -> None:
        """Wait until every queued alert is delivered or given up."""
        await self._queue.join()

    async def close(self) -> None:
        """Stop the task (queued alerts not yet sent are logged and counted)."""
        if self._task is not None:
            self._task.cancel()
        while not self._queue.empty():
            _failed(self._queue.get_nowait(), "shut down before delivery", 0)

    async def _run(self) -> None:
        while True:
            alert = await self._queue.get()
            try:
                await self._deliver(alert)
            finally:
                self._queue.task_done()

    async def _deliver(self, alert: Alert) -> None:
        delivery = self.delivery
        if delivery is None:
            return
        delay, problem = delivery.backoff, "not sent"
        for attempt in range(1, delivery.attempts + 1):
            result: str | None = await asyncio.to_thread(post, delivery, alert)
            problem = result or ""
            if not problem:
                SENT.labels(event=alert.event.value).inc()
                return
            _log.warning("alert.retry", alert=alert.event.value, problem=problem, attempt=attempt)
            if attempt < delivery.attempts:
                await asyncio.sleep(delay)
                delay *= 2
        _failed(alert, problem, delivery.attempts)
