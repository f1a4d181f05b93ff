"""Prometheus view of the shell's counters, read at scrape time.

The shell keeps plain integer counters on the hot path (no locks, no label lookups per
datagram); this collector turns them into metric families only when scraped.

Invariants:
- Every family is named ``sipguard_serve_*`` and is a pure read of the server's state (and,
  for the rules' age, of the wall clock).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sipguard.metrics import rules_age

if TYPE_CHECKING:
    from sipguard.adapters.server.reload import RulesWatcher
    from sipguard.adapters.server.shell import Core, Server


class ServeCollector(Collector):
    """Exposes a running ``Server`` and ``RulesWatcher``."""

    def __init__(self, server: Server, watcher: RulesWatcher | None = None) -> None:
        self._server = server
        self._watcher = watcher

    def collect(self) -> Iterator[Metric]:
        """Yield the current value of every serve metric."""
        server = self._server
        udp = server.udp_stats
        tcp = server.tcp_stats
        yield _counter("udp_received", "UDP datagrams read from the sockets.", udp.received)
        yield _counter("udp_dropped", "UDP datagrams dropped: intake queue full.", udp.dropped)
        yield _counter("udp_sent", "UDP datagrams sent.", udp.sent)
        yield _counter("udp_send_errors", "UDP datagrams that could not be sent.", udp.send_errors)
        yield _counter("tcp_accepted", "TCP connections accepted.", tcp.accepted)
        yield _counter("tcp_connected", "TCP connections opened to peers.", tcp.connected)
        yield _counter("tcp_connect_failures", "TCP connects that failed.", tcp.connect_failures)
        yield _counter(
            "tcp_framing_errors", "TCP streams closed on bad framing.", tcp.framing_errors
        )
        yield _counter(
            "message_errors", "Inputs the core failed on (logged, skipped).", server.errors
        )
        yield _counter("journal_failures", "Journal writes that failed.", server.gate.failures)
        timers = GaugeMetricFamily("sipguard_serve_timers", "Timers armed.")
        timers.add_metric([], server.timers)
        yield timers
        yield from _core_families(server.core)
        age = rules_age(time.time())
        if age is not None:
            family = GaugeMetricFamily(
                "sipguard_serve_rules_age_seconds", "How long the rules in force have been."
            )
            family.add_metric([], age)
            yield family
        if self._watcher is not None:
            stats = self._watcher.stats
            yield _counter("reloads", "Rules reloads applied.", stats.ok)
            yield _counter(
                "reload_failures", "Rules reloads rejected (old rules kept).", stats.failed
            )


def _core_families(core: Core) -> Iterator[Metric]:
    """The call core's gauges and counters: calls, transactions, 503s, unlisted sources."""
    calls = GaugeMetricFamily("sipguard_serve_calls_in_progress", "Calls set up or being set up.")
    calls.add_metric([], core.active_calls)
    yield calls
    txs = GaugeMetricFamily("sipguard_serve_transactions", "Live SIP transactions, both legs.")
    txs.add_metric([], core.transactions)
    yield txs
    settled = GaugeMetricFamily(
        "sipguard_serve_settled_transactions",
        "Settled SIP transactions kept as records until their last timer, both legs.",
    )
    settled.add_metric([], core.settled)
    yield settled
    stats = core.stats
    rejected = CounterMetricFamily(
        "sipguard_serve_rejected_503", "Requests answered 503, by cause.", labels=["cause"]
    )
    for cause, count in stats.rejected.counts.items():
        rejected.add_metric([str(cause)], count)
    yield rejected
    s = stats.strangers
    yield _counter("unlisted_requests", "Requests from addresses in no peer list.", s.requests)
    yield _counter("unlisted_answered", "Stateless answers sent to unlisted sources.", s.answered)
    yield _counter("unlisted_suppressed", "Answers to unlisted sources rate-limited.", s.suppressed)
    yield _counter("unlisted_dropped", "Unlisted requests dropped unanswered.", s.dropped)
    yield _counter(
        "unlisted_unjournaled", "Unlisted INVITEs not journaled (sampled out).", s.unjournaled
    )


def _counter(name: str, doc: str, value: int) -> CounterMetricFamily:
    family = CounterMetricFamily(f"sipguard_serve_{name}", doc)
    family.add_metric([], value)
    return family
