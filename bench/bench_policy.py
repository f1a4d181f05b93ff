"""Benchmark the decision path at carrier scale (100k numbers, 1k trunks, 1M consents).

    .venv/bin/python bench/bench_policy.py [--numbers N] [--trunks N] [--consents N]

Reports, each with a ratio against a baseline measured in the same run:
- rules and consents load time and the loader's peak RSS (measured in a child process);
- ``evaluate`` decisions/s on one core (baseline: a bare Python call over the same facts);
- ``parse`` alone, messages/s (baseline: the standard library's e-mail header parser);
- ``parse + facts + evaluate`` on realistic INVITEs, calls/s.
"""

from __future__ import annotations

import argparse
import email.parser
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth import Synth, write_ruleset

from sipguard.policy import CallFacts, MemoryState, Ruleset, evaluate, load_rules
from sipguard.screening import facts_from_request
from sipguard.sip import Request, parse

SDP = (
    "v=0\r\no=- 2890844526 2890844526 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
    "m=audio 49170 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
)


def invite_bytes(i: int, caller: str, callee: str, ip: str) -> bytes:
    """A realistic INVITE as a call-center PBX sends it (about 1 KB with SDP)."""
    body = SDP.format(ip=ip)
    head = (
        f"INVITE sip:{callee}@127.0.0.1:5060;user=phone SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK{i:012x}-1;rport\r\n"
        "Max-Forwards: 70\r\n"
        f'From: "Customer Care" <sip:{caller}@{ip};user=phone>;tag=f{i:08x}\r\n'
        f"To: <sip:{callee}@127.0.0.1;user=phone>\r\n"
        f"Call-ID: {i:016x}@{ip}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:{caller}@{ip}:5060;transport=udp>\r\n"
        f"P-Asserted-Identity: <tel:+86{caller}>\r\n"
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, INFO\r\n"
        "Supported: 100rel, timer, replaces\r\n"
        "Session-Expires: 1800;refresher=uac\r\nMin-SE: 90\r\n"
        "User-Agent: CallCenter-PBX/8.1\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return (head + body).encode()


def workload(s: Synth, n: int) -> list[tuple[bytes, str]]:
    """``n`` INVITEs: mostly consented outbound calls, plus inbound calls and rejections."""
    calls: list[tuple[bytes, str]] = []
    for i in range(n):
        kind = i % 10
        if kind < 6:  # allowed outbound return visit
            number, callee = s.consented[i % len(s.consented)]
            ip = s.trunk_peers[s.number_trunk[number]]
        elif kind < 8:  # inbound call from the network to a filed number
            number, callee = f"139{i:08d}"[:11], s.inbound_numbers[i % len(s.inbound_numbers)]
            ip = s.network_peer
        elif kind == 8:  # outbound call with no consent on file
            number = s.outbound_numbers[i % len(s.outbound_numbers)]
            callee, ip = f"186{i:08d}"[:11], s.trunk_peers[s.number_trunk[number]]
        else:  # an extension appended to a filed number
            number = s.outbound_numbers[i % len(s.outbound_numbers)] + "01"
            callee, ip = "13800138000", s.trunk_peers["t0"]
        calls.append((invite_bytes(i, number, callee, ip), ip))
    return calls


def rate(fn: Callable[[], int], seconds: float = 2.0) -> float:
    """Operations per second of ``fn`` (which returns how many it did), best of 3 runs."""
    best = 0.0
    for _ in range(3):
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            done += fn()
        best = max(best, done / (time.perf_counter() - start))
    return best


_LOADER = """
import json, resource, sys, time
from zoneinfo import ZoneInfo
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from sipguard.policy import load_consents, load_rules
t = time.perf_counter()
if sys.argv[1] == "consents":
    n = len(load_consents(sys.argv[2], "86", "0", ZoneInfo("Asia/Shanghai")))
else:
    n = len(load_rules(sys.argv[2]).consents)
print(json.dumps({"seconds": time.perf_counter() - t, "base_rss_mb": base / 1024,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "consents": n}))
"""


def measure_load(what: str, path: Path) -> dict[str, float]:
    """Load consents alone, or the whole ruleset, in a fresh interpreter: time and peak RSS."""
    out = subprocess.run(
        [sys.executable, "-c", _LOADER, what, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def bench_evaluate(
    rules: Ruleset, calls: list[tuple[bytes, str]], now: datetime
) -> tuple[float, float, float]:
    facts: list[CallFacts] = []
    for data, ip in calls:
        msg = parse(data)
        assert isinstance(msg, Request)
        facts.append(facts_from_request(msg, ip, 5060))
    state = MemoryState()

    def run() -> int:
        for f in facts:
            evaluate(f, rules, state, now)
        return len(facts)

    pairs = [(f.from_user or "", f.ruri_user or "") for f in facts]
    t_epoch = now.timestamp()
    find = rules.consents.find

    def lookups() -> int:
        for number, callee in pairs:
            find(number, callee, t_epoch)
        return len(pairs)

    def bare(f: CallFacts, r: Ruleset, s: MemoryState, n: datetime) -> None:
        return None

    def baseline() -> int:
        for f in facts:
            bare(f, rules, state, now)
        return len(facts)

    return rate(run), rate(baseline), rate(lookups)


def bench_parse(calls: list[tuple[bytes, str]]) -> tuple[float, float]:
    datagrams = [d for d, _ in calls]
    stdlib = email.parser.BytesHeaderParser()

    def ours() -> int:
        for d in datagrams:
            parse(d)
        return len(datagrams)

    def baseline() -> int:
        for d in datagrams:
            stdlib.parsebytes(d.split(b"\r\n", 1)[1])
        return len(datagrams)

    return rate(ours), rate(baseline)


def bench_pipeline(rules: Ruleset, calls: list[tuple[bytes, str]], now: datetime) -> float:
    state = MemoryState()

    def run() -> int:
        for data, ip in calls:
            msg = parse(data)
            assert isinstance(msg, Request)
            evaluate(facts_from_request(msg, ip, 5060), rules, state, now)
        return len(calls)

    return rate(run)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--numbers", type=int, default=100_000)
    ap.add_argument("--trunks", type=int, default=1_000)
    ap.add_argument("--consents", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        synth = write_ruleset(Path(tmp), args.numbers, args.trunks, args.consents)
        print(f"synthetic ruleset written in {time.perf_counter() - t:.1f} s")
        consents = measure_load("consents", synth.rules.with_name("consents.csv"))
        load = measure_load("rules", synth.rules)
        rules = load_rules(synth.rules)
        calls = workload(synth, 20_000)
    gc.collect()
    now = datetime(2026, 6, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    ev, ev_base, lookups = bench_evaluate(rules, calls, now)
    pa, pa_base = bench_parse(calls)
    pipe = bench_pipeline(rules, calls, now)
    size = sum(len(d) for d, _ in calls) / len(calls)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ruleset: {args.numbers:,} numbers, {args.trunks:,} trunks, {args.consents:,} consents")
    print(
        f"load consents alone: {consents['seconds']:.2f} s for {consents['consents']:,.0f} rows, "
        f"peak RSS {consents['peak_rss_mb']:.0f} MB (targets: 10 s, 400 MB)"
    )
    print(
        f"load rules+consents: {load['seconds']:.2f} s, loader peak RSS "
        f"{load['peak_rss_mb']:.0f} MB (interpreter alone {load['base_rss_mb']:.0f} MB)"
    )
    print(
        f"evaluate:              {ev:>10,.0f} decisions/s  ({ev_base / ev:.1f}x a bare call; "
        f"target 200,000)"
    )
    print(
        f"  of which consent lookups alone run at {lookups:,.0f}/s "
        f"({ev / lookups:.2f} of evaluate's time per call)"
    )
    print(
        f"parse:                 {pa:>10,.0f} messages/s   ({pa / pa_base:.2f}x stdlib "
        f"email header parser at {pa_base:,.0f}/s; {size:.0f}-byte INVITEs)"
    )
    print(f"parse+facts+evaluate:  {pipe:>10,.0f} calls/s      (target 40,000)")
    print(f"benchmark process peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
