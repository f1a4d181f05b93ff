"""Alert delivery from Kamailio workers: a detached process, retries, a logged failure."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime

from hookserver import wait_for, webhook_server
from structlog.testing import capture_logs

from sipguard.adapters.kamailio.alerting import _deliver, deliver_detached
from sipguard.alerts import Alert, Delivery, Event
from sipguard.metrics import REGISTRY

AT = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_detached_delivery_posts_the_alert_once() -> None:
    """The worker returns at once; the grandchild POSTs the documented JSON."""
    with webhook_server() as (url, bodies):
        alert = Alert(Event.NUMBER_SUSPENDED, AT, {"number": "4008001234", "reason": "X"})
        deliver_detached(Delivery(url, frozenset(Event)), alert)
        wait_for(bodies, 1)
    assert bodies == [{"event": "number_suspended", "time": AT.isoformat(),
                       "number": "4008001234", "reason": "X"}]  # fmt: skip


def test_a_server_that_is_down_gets_retries_then_a_logged_failure() -> None:
    """Every attempt is retried with back-off and the final failure is logged."""
    url = f"http://127.0.0.1:{_closed_port()}/alerts"
    delivery = Delivery(url, frozenset(Event), timeout=0.5, attempts=3, backoff=0.01)
    labels = {"event": Event.SHORT_CALLS.value}
    before = REGISTRY.get_sample_value("sipguard_alerts_undelivered_total", labels) or 0.0
    with capture_logs() as logs:
        assert _deliver(delivery, Alert(Event.SHORT_CALLS, AT, {"number": "1"})) == 1
    events = [entry["event"] for entry in logs]
    assert events == ["alert.retry", "alert.retry", "alert.retry", "alert.undelivered"]
    assert logs[-1]["attempts"] == 3
    after = REGISTRY.get_sample_value("sipguard_alerts_undelivered_total", labels)
    assert after == before + 1  # and counted, as serve counts it


def test_delivery_never_waits_for_the_webhook() -> None:
    """A webhook that never answers does not hold the worker: the fork returns at once."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/alerts"
        delivery = Delivery(url, frozenset(Event), timeout=2.0, attempts=2, backoff=0.5)
        started = time.monotonic()
        deliver_detached(delivery, Alert(Event.SHORT_CALLS, AT, {}))
        assert time.monotonic() - started < 0.5
