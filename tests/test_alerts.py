"""Alerts reach a real local webhook; a webhook that is down gives retries, a log and a count."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
import structlog

from sipguard import metrics
from sipguard.alerts import Alert, AlertSender, AsyncAlertSender, Delivery, Event

AT = datetime(2026, 6, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
SUSPENDED = Alert(
    Event.NUMBER_SUSPENDED, AT, {"number": "4008001234", "reason": "NO_CONSENT", "by": "policy"}
)


class Hook:
    """A local HTTP server that records every POST body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        self.got = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(size)))
                self.send_response(204)
                self.end_headers()
                hook.got.set()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hook]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    served = Hook()
    yield served
    served.server.shutdown()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _undelivered() -> float:
    value = metrics.REGISTRY.get_sample_value(
        "sipguard_alerts_undelivered_total", {"event": "number_suspended"}
    )
    return value or 0.0


def test_a_suspension_is_one_post_of_the_documented_json(hook: Hook) -> None:
    sender = AlertSender(Delivery(hook.url, frozenset({Event.NUMBER_SUSPENDED})))
    sender.send(SUSPENDED)
    sender.send(Alert(Event.LIMIT_WARNING, AT, {"number": "4008001234"}))  # not listed
    sender.close()
    assert hook.bodies == [
        {
            "event": "number_suspended",
            "time": "2026-06-01T10:00:00+08:00",
            "number": "4008001234",
            "reason": "NO_CONSENT",
            "by": "policy",
        }
    ]


def test_a_down_webhook_is_retried_logged_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    url = f"http://127.0.0.1:{_closed_port()}/alerts"
    before = _undelivered()
    with structlog.testing.capture_logs() as logs:
        sender = AlertSender(Delivery(url, frozenset(Event), timeout=0.5, attempts=3, backoff=0.05))
        sender.send(SUSPENDED)
        sender.close()
    assert [e["event"] for e in logs] == ["alert.retry"] * 3 + ["alert.undelivered"]
    assert logs[-1]["attempts"] == 3
    assert _undelivered() == before + 1


def test_the_asyncio_sender_delivers_without_blocking_the_loop(hook: Hook) -> None:
    async def scenario() -> float:
        sender = AsyncAlertSender(Delivery(hook.url, frozenset(Event)))
        sender.start()
        loop = asyncio.get_running_loop()
        start = loop.time()
        sender.send(SUSPENDED)
        queued = loop.time() - start
        await asyncio.wait_for(sender.drain(), 10)
        await sender.close()
        return queued

    assert asyncio.run(scenario()) < 0.05
    assert [b["event"] for b in hook.bodies] == ["number_suspended"]


def test_a_full_queue_drops_logged_and_counted() -> None:
    """The plugin's sender never blocks: beyond its capacity an alert is dropped, counted."""
    gate = threading.Event()
    before = _undelivered()
    delivery = Delivery("http://127.0.0.1:9/", frozenset(Event), attempts=1, backoff=0)
    sender = AlertSender(delivery, capacity=1)
    sender._deliver = lambda alert: gate.wait(5)  # type: ignore[method-assign]
    for _ in range(3):
        sender.send(SUSPENDED)
    gate.set()
    sender.close()
    assert _undelivered() >= before + 1
