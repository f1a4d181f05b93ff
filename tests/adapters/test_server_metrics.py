"""The serve collector exports the call core's transactions, calls, 503s by cause and what
unlisted sources got."""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest

from sipguard.adapters.server.metrics import ServeCollector
from sipguard.adapters.server.udp import UdpStats
from sipguard.b2bua import B2BUA, Addr, B2BUAConfig
from sipguard.b2bua.overload import Cause
from sipguard.policy.load import load_rules
from tests.b2bua.b2bua_harness import RULES_PATH


def scrape(core: B2BUA) -> str:
    tcp = SimpleNamespace(accepted=0, connected=0, connect_failures=0, framing_errors=0)
    gate = SimpleNamespace(failures=0)
    server = SimpleNamespace(
        udp_stats=UdpStats(), tcp_stats=tcp, errors=0, gate=gate, timers=0, core=core
    )
    registry = CollectorRegistry()
    registry.register(ServeCollector(server))
    return generate_latest(registry).decode()


def test_core_gauges_and_counters_are_exported_once() -> None:
    core = B2BUA(load_rules(RULES_PATH), config=B2BUAConfig(local=Addr("127.0.0.1", 5060)))
    core.setup.rejected.count(Cause.TRANSACTIONS)
    core.strangers.stats.suppressed = 7
    text = scrape(core)
    assert 'sipguard_serve_rejected_503_total{cause="transactions"} 1.0' in text
    assert 'sipguard_serve_rejected_503_total{cause="journal"} 0.0' in text
    assert "sipguard_serve_transactions 0.0" in text
    assert "sipguard_serve_settled_transactions 0.0" in text
    assert "sipguard_serve_unlisted_suppressed_total 7.0" in text
    assert text.count("# TYPE sipguard_serve_calls_in_progress gauge") == 1
