"""Captured calls with answers and ends, for the replay tests of rules 1.1 sections 5 and 6."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sipguard.adapters.replay.capture import CapturedMessage

ROOT = Path(__file__).resolve().parents[2]
ACME, NETWORK, EDGE = "127.0.0.2", "127.0.0.4", "127.0.0.1"
MORNING_NS = int(datetime(2026, 6, 2, 2, 0, tzinfo=UTC).timestamp()) * 10**9
S = 10**9


def write_rules(folder: Path, *, webhook: str | None = None) -> Path:
    """The example rules with max_concurrent_calls 2 on acme-sh-1, a short-call rule (under
    6 s, more than 60% of the last 3), a daily cap of 50 and, with ``webhook``, alerts."""
    text = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    text = text.replace("    max_cps: 100", "    max_concurrent_calls: 2\n    max_cps: 100", 1)
    text = text.replace("max_calls_per_callee_per_day: 2 ", "max_calls_per_callee_per_day: 50 ")
    text = text.replace(
        '  violation_window: "1h"',
        '  short_calls: {seconds: 6, ratio: 0.6, over_last: 3}\n  violation_window: "1h"',
    )
    if webhook is not None:
        text += f'\nalerts: {{webhook: "{webhook}", events: [number_suspended]}}\n'
    (folder / "rules.yaml").write_text(text, encoding="utf-8")
    (folder / "consents.csv").write_text((ROOT / "consents.csv").read_text(), encoding="utf-8")
    return folder / "rules.yaml"


def _head(first: str, n: int, cseq: str, *, to_tag: bool) -> list[str]:
    return [
        first,
        f"Via: SIP/2.0/UDP {ACME}:5060;branch=z9hG4bK-c{n}-{cseq.split()[1]}",
        "Max-Forwards: 70",
        f"From: <sip:4008001234@example.com>;tag=f{n}",
        f"To: <sip:13800138000@{EDGE}>" + (f";tag=t{n}" if to_tag else ""),
        f"Call-ID: call-{n}@{ACME}",
        f"CSeq: {cseq}",
    ]


def _message(lines: list[str], src: str, ts_ns: int) -> CapturedMessage:
    data = ("\r\n".join([*lines, "Content-Length: 0"]) + "\r\n\r\n").encode()
    dst = EDGE if src != EDGE else ACME
    return CapturedMessage(ts_ns, src, 5060, dst, 5060, "udp", data)


def invite(n: int, ts_ns: int) -> CapturedMessage:
    """Acme's INVITE of call ``n`` from 4008001234 to the consented 13800138000."""
    first = f"INVITE sip:13800138000@{EDGE} SIP/2.0"
    lines = [*_head(first, n, "1 INVITE", to_tag=False), f"Contact: <sip:4008001234@{ACME}:5060>"]
    return _message(lines, ACME, ts_ns)


def answer(n: int, ts_ns: int, status: int = 200) -> CapturedMessage:
    """The edge's final answer to the INVITE of call ``n``."""
    text = {200: "OK", 486: "Busy Here"}[status]
    return _message(_head(f"SIP/2.0 {status} {text}", n, "1 INVITE", to_tag=True), EDGE, ts_ns)


def bye(n: int, ts_ns: int) -> CapturedMessage:
    """Acme's BYE of call ``n``."""
    return _message(
        _head(f"BYE sip:13800138000@{EDGE} SIP/2.0", n, "2 BYE", to_tag=True), ACME, ts_ns
    )


def call(n: int, start_ns: int, lasted_ns: int) -> list[CapturedMessage]:
    """An answered call: INVITE, 200 one second later, BYE ``lasted_ns`` after the 200."""
    return [invite(n, start_ns), answer(n, start_ns + S), bye(n, start_ns + S + lasted_ns)]
