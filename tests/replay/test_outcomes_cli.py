"""``sipguard replay`` on a written capture: short calls, trunk capacity and alerts in its
table, its JSON summary, and (with ``--send-alerts``) POSTed to a real local webhook."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

from sipguard.adapters.replay.capture import CapturedMessage
from sipguard.cli import main

from .callsdata import MORNING_NS, S, call, invite, write_rules


def write_capture(path: Path, messages: list[CapturedMessage]) -> Path:
    packets = []
    for m in messages:
        pkt = Ether() / IP(src=m.src, dst=m.dst) / UDP(sport=m.sport, dport=m.dport) / Raw(m.data)
        pkt.time = m.ts_ns / 1e9
        packets.append(pkt)
    wrpcap(str(path), packets)
    return path


def capture(tmp_path: Path) -> Path:
    """Three short calls, a call refused for them, and three calls up at once."""
    short = [m for n in range(3) for m in call(n, MORNING_NS + n * 60 * S, 2 * S)]
    later = MORNING_NS + 600 * S
    messages = [*short, invite(10, later)]
    messages += [invite(20 + n, later + (n + 1) * S) for n in range(3)]
    return write_capture(tmp_path / "calls.pcap", messages)


class _Hook(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    handler = type("Hook", (_Hook,), {"bodies": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", handler.bodies
    server.shutdown()
    server.server_close()


def test_the_json_summary_reports_short_calls_capacity_and_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Counted, not sent: no webhook is called without --send-alerts."""
    rules = write_rules(tmp_path)
    assert main(["replay", "--rules", str(rules), "--json", str(capture(tmp_path))]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    verdicts, summary = lines[:-1], lines[-1]["summary"]
    assert [v["reason"] for v in verdicts] == ["ALLOWED"] * 3 + ["NUMBER_SUSPENDED"] * 4
    assert summary["short_call_suspensions"] == ["4008001234"]
    assert summary["alerts"] == {"number_suspended": 1, "short_calls": 1}
    assert summary["trunk_full"] == {}  # refused calls hold no trunk slot


def test_the_table_names_trunk_full_calls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three allowed calls at once on a trunk capped at 2: the third is marked in the table."""
    messages = [invite(n, MORNING_NS + n * S) for n in range(3)]
    pcap = write_capture(tmp_path / "full.pcap", messages)
    assert main(["replay", "--rules", str(write_rules(tmp_path)), str(pcap)]) == 0
    table = capsys.readouterr().out
    assert table.count("(trunk full: 503)") == 1
    assert "over max_concurrent_calls (serve answers 503): acme-sh-1 1" in table


def test_send_alerts_posts_the_suspension_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    """With --send-alerts the short-call suspension is one POST of the documented JSON."""
    url, bodies = webhook
    rules = write_rules(tmp_path, webhook=url)
    pcap = str(capture(tmp_path))
    assert main(["replay", "--rules", str(rules), "--send-alerts", pcap]) == 0
    assert "suspended for short calls: 4008001234" in capsys.readouterr().out
    assert [(b["event"], b["number"], b["reason"]) for b in bodies] == [
        ("number_suspended", "4008001234", "SHORT_CALLS")
    ]
