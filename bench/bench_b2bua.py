"""Benchmark the sans-IO call core: the CPU cost of one bridged and one rejected call.

    .venv/bin/python bench/bench_b2bua.py [--calls N] [--reject-every K] [--old REV] [--profile]

Fake peers answer in memory and a fake clock fires the core's timers, so the figures are
the core's own cost: every message of a call (INVITE, 100, 200 from the callee, ACK, BYE,
200) and every timer its transactions arm, until nothing is left.  A bridged call is an
inbound call from the network to a filed number; a rejected call is an outbound call from
an unfiled number (403, ACKed by the caller).

Reports calls/s and microseconds per call, with ratios against baselines measured in the
same run over the very messages the core received: ``sipguard.sip.parse`` alone, and
``classify`` (parse and validation, the core's first step).  ``core - classify`` is the call
logic's own share.  Times are CPU time of this process (``time.process_time``), so other
load on the machine matters less; each figure is the best of ``--rounds`` interleaved runs.
The core runs under the collector settings ``sipguard serve`` uses (``gctune``, applied
once the rules are loaded), unless ``--default-gc``.  ``--old REV`` also times the core of
git revision REV (its ``sipguard`` package taken with ``git archive``) on the same calls,
each in a fresh interpreter, in turns, and prints new/old.  ``--profile`` prints the top
functions instead.  ``--drive-only`` runs the calls once and exits, for an instruction
counter: on a shared machine, valgrind's ``callgrind`` counts of ``--calls 600`` minus
``--calls 100`` (each revision on ``PYTHONPATH``) give instructions per call that no other
load on the machine can move.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import heapq
import itertools
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sipguard.b2bua import B2BUA as B2BUA  # serve_path.py uses them
from sipguard.b2bua import Addr as Addr
from sipguard.b2bua import B2BUAConfig as B2BUAConfig
from sipguard.b2bua.effects import (
    CallEnded,
    CancelTimer,
    Decided,
    Effect,
    Effects,
    StartTimer,
    TimerKey,
    Transmit,
)
from sipguard.gctune import MIDDLE, OLD, YOUNG
from sipguard.policy.load import load_rules as load_rules
from sipguard.sip import parse
from sipguard.sip.validate import classify

RULES = Path(__file__).resolve().parents[1] / "sipguard" / "data" / "rules.yaml"
WALL = datetime(2026, 6, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
CARRIER = Addr("127.0.0.4", 5062)  # sends inbound calls, answers outbound ones on :5070
TRUNK = Addr("127.0.0.2", 5062)  # Acme's PBX: sends outbound calls
CC_IN = Addr("127.0.0.2", 5070)  # where inbound calls to Acme's numbers go
SDP = (
    b"v=0\r\no=- 2890844526 2890844526 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\n"
    b"t=0 0\r\nm=audio 49170 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n"
)
COPY = (b"via", b"from", b"to", b"call-id", b"cseq")


def invite(i: int, caller: str, callee: str, src: Addr) -> bytes:
    """An initial INVITE as a PBX or gateway sends it (about 900 bytes with SDP)."""
    ip = src.host
    head = (
        f"INVITE sip:{callee}@127.0.0.1:5060;user=phone SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {ip}:{src.port};branch=z9hG4bK{i:012x}-1;rport\r\n"
        "Max-Forwards: 70\r\n"
        f'From: "Customer" <sip:{caller}@{ip};user=phone>;tag=f{i:08x}\r\n'
        f"To: <sip:{callee}@127.0.0.1;user=phone>\r\n"
        f"Call-ID: {i:016x}@{ip}\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:{caller}@{ip}:{src.port}>\r\n"
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, INFO\r\n"
        "Supported: 100rel, timer, replaces\r\nSession-Expires: 1800;refresher=uac\r\n"
        "User-Agent: CallCenter-PBX/8.1\r\nContent-Type: application/sdp\r\n"
        f"Content-Length: {len(SDP)}\r\n\r\n"
    )
    return head.encode() + SDP


def fields(data: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    """The start line and the first value of each header of a message we sent (no parser)."""
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    out: dict[bytes, bytes] = {}
    for line in head[1:]:
        name, _, value = line.partition(b":")
        out.setdefault(name.strip().lower(), value.strip())
    return head[0], out


def answer(data: bytes, status: bytes, tag: bytes = b"", body: bytes = b"") -> bytes:
    """A peer's response to the request ``data`` (a To tag added when ``tag`` is given)."""
    _, h = fields(data)
    to = h[b"to"] + (b";tag=" + tag if tag and b";tag=" not in h[b"to"] else b"")
    lines = [b"SIP/2.0 " + status]
    lines += [b"Via: " + h[b"via"], b"From: " + h[b"from"], b"To: " + to]
    lines += [b"Call-ID: " + h[b"call-id"], b"CSeq: " + h[b"cseq"]]
    if body:
        lines += [b"Contact: <sip:gw@127.0.0.2:5070>", b"Content-Type: application/sdp"]
    lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def request_after(resp: bytes, method: bytes, seq: int, branch: bytes) -> bytes:
    """The caller's ACK or BYE in the dialog (or ACK of the final) that ``resp`` answered."""
    _, h = fields(resp)
    via = h[b"via"].split(b";branch=")[0] + b";branch=" + branch
    lines = [method + b" sip:95123@127.0.0.1:5060 SIP/2.0", b"Via: " + via]
    lines += [b"Max-Forwards: 70", b"From: " + h[b"from"], b"To: " + h[b"to"]]
    lines += [b"Call-ID: " + h[b"call-id"], b"CSeq: %d " % seq + method, b"Content-Length: 0"]
    return b"\r\n".join(lines) + b"\r\n\r\n"


class Driver:
    """A fake shell: runs effects, keeps a timer heap on a fake clock, times the core."""

    def __init__(self, core: B2BUA) -> None:
        self.core = core
        self.now = 0.0
        self.spent = 0.0  # seconds inside the core
        self.fed: list[bytes] = []  # every message the core received
        self.effects = 0
        self.sent: dict[Addr, list[bytes]] = {}
        self._heap: list[tuple[float, int, TimerKey]] = []
        self._live: dict[TimerKey, int] = {}
        self._seq = itertools.count()

    def feed(self, data: bytes, source: Addr) -> None:
        self.fed.append(data)
        self._timed(lambda: self.core.on_message(data, source, self.now, WALL))

    def take(self, dest: Addr) -> list[bytes]:
        return self.sent.pop(dest, [])

    def advance(self, to: float) -> None:
        heap, live = self._heap, self._live
        while heap and heap[0][0] <= to:
            at, seq, key = heapq.heappop(heap)
            if live.get(key) == seq:
                del live[key]
                self.now = max(self.now, at)
                self._timed(lambda k=key: self.core.on_timer(k, self.now, WALL))  # type: ignore[misc]
        self.now = to

    def _timed(self, step: Callable[[], Effects]) -> None:
        t = time.process_time()
        effects = step()
        self.spent += time.process_time() - t
        self.run(effects)

    def run(self, effects: Effects | tuple[Effect, ...]) -> None:
        self.effects += len(effects)
        for e in effects:
            match e:
                case Transmit(data=data, dest=dest):
                    self.sent.setdefault(dest, []).append(data)
                case StartTimer(key=key, at=at):
                    seq = next(self._seq)
                    self._live[key] = seq
                    heapq.heappush(self._heap, (at, seq, key))
                case CancelTimer(key=key):
                    self._live.pop(key, None)
                case Decided(call_key=key, after=after):
                    if self.core.release(key):
                        self.run(after)
                case CallEnded():
                    pass


def bridged(d: Driver, i: int) -> None:
    """An inbound call, answered by the call center at once, hung up by the caller."""
    d.feed(invite(i, f"139{i:08d}", "95123", CARRIER), CARRIER)
    d.take(CARRIER)  # 100 Trying
    (b_inv,) = d.take(CC_IN)
    d.feed(answer(b_inv, b"200 OK", b"cc%d" % i, SDP), CC_IN)
    d.take(CC_IN)  # our ACK
    (ok,) = d.take(CARRIER)
    d.feed(request_after(ok, b"ACK", 1, b"z9hG4bKack%d" % i), CARRIER)
    d.feed(request_after(ok, b"BYE", 2, b"z9hG4bKbye%d" % i), CARRIER)
    d.take(CARRIER)  # 200 to the BYE
    (bye,) = d.take(CC_IN)
    d.feed(answer(bye, b"200 OK"), CC_IN)


def rejected(d: Driver, i: int) -> None:
    """An outbound call from an unfiled number: 100, 403, the caller's ACK."""
    d.feed(invite(i, "4001112222", "13800138000", TRUNK), TRUNK)
    final = d.take(TRUNK)[-1]
    branch = fields(final)[1][b"via"].split(b";branch=")[1].split(b";")[0]
    d.feed(request_after(final, b"ACK", 1, branch), TRUNK)


def drive(calls: int, reject_every: int, cps: float) -> tuple[Driver, int]:
    """Run ``calls`` calls (every ``reject_every``-th rejected) at ``cps`` calls/s."""
    config = B2BUAConfig(local=Addr("127.0.0.1", 5060), default_cps=None)
    rules = load_rules(RULES)
    if SERVING_GC:
        gc.freeze()  # what ``gctune.tune_for_serving`` does with the rules just loaded
    d = Driver(B2BUA(rules, config=config))
    rejects = 0
    for i in range(calls):
        if reject_every and i % reject_every == reject_every - 1:
            rejected(d, i)
            rejects += 1
        else:
            bridged(d, i)
        d.advance(d.now + 1.0 / cps)
    d.advance(d.now + 3600.0)
    assert d.core.active_calls == 0 and d.core.transactions == 0, "calls left behind"
    return d, rejects


def baseline(messages: list[bytes], step: Callable[[bytes], object]) -> float:
    """Seconds to pass ``messages`` once each through ``step``."""
    t = time.process_time()
    for m in messages:
        step(m)
    return time.process_time() - t


def measure(calls: int, every: int, rounds: int) -> tuple[Driver, int, float, float]:
    """Core seconds, parse-only and classify-only seconds: best of ``rounds``, interleaved."""
    best: Driver | None = None
    parse_s = classify_s = float("inf")
    rejects = 0
    for _ in range(rounds):
        d, rejects = drive(calls, every, 300.0)
        best = d if best is None or d.spent < best.spent else best
        parse_s = min(parse_s, baseline(d.fed, parse))
        classify_s = min(classify_s, baseline(d.fed, classify))
    assert best is not None
    return best, rejects, parse_s, classify_s


SERVING_GC = True


def kinds(reject_every: int) -> list[tuple[str, int]]:
    """The loads measured: bridged only, and mixed when some calls are rejected."""
    return [("bridged", 0), ("mixed", reject_every)] if reject_every else [("bridged", 0)]


def figures(calls: int, reject_every: int, rounds: int) -> dict[str, list[float]]:
    """Per load: core, parse-only and classify-only us per call, messages and effects."""
    out: dict[str, list[float]] = {}
    for name, every in kinds(reject_every):
        d, rejects, parse_s, classify_s = measure(calls, every, rounds)
        core, base, checked = (x / calls * 1e6 for x in (d.spent, parse_s, classify_s))
        out[name] = [core, base, checked, len(d.fed) / calls, d.effects / calls, rejects]
    return out


def report(calls: int, reject_every: int, rounds: int) -> None:
    for name, row in figures(calls, reject_every, rounds).items():
        core, base, checked, messages, effects, rejects = row
        print(
            f"{name}: {calls} calls, {rejects:.0f} rejected; {messages:.1f} messages "
            f"and {effects:.1f} effects per call\n"
            f"  core          {1e6 / core:8.0f} calls/s {core:7.1f} us/call\n"
            f"  parse only    {base:7.1f} us/call   core/parse    {core / base:5.2f}x\n"
            f"  classify only {checked:7.1f} us/call   core/classify {core / checked:5.2f}x\n"
            f"  core beyond classify (the call logic's own share) {core - checked:7.1f} us/call"
        )


def against_old(rev: str, args: argparse.Namespace) -> None:
    """Time the core of ``rev`` and of this checkout in turns; print both and new/old."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", rev, "sipguard"], capture_output=True, check=False
        )
        if archive.returncode != 0:
            sys.exit(f"cannot take revision {rev}: {archive.stderr.decode(errors='replace')}")
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        best: dict[str, dict[str, float]] = {"old": {}, "new": {}}
        for _ in range(args.rounds):
            for side, code in (("old", tmp), ("new", str(root))):
                for name, row in _child(code, args).items():
                    best[side][name] = min(best[side].get(name, float("inf")), row[0])
    print(f"call core, us per call (best of {args.rounds} turns, each in a fresh interpreter)")
    print(f"{'':10}{'old (' + rev + ')':>16}{'new':>10}{'new/old':>10}{'old/new':>10}")
    for name in best["new"]:
        o, n = best["old"][name], best["new"][name]
        print(f"{name:10}{o:>16.1f}{n:>10.1f}{n / o:>9.2f}x{o / n:>9.2f}x")


def _child(code: str, args: argparse.Namespace) -> dict[str, list[float]]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--json", "--rounds", "1"]
    cmd += ["--calls", str(args.calls), "--reject-every", str(args.reject_every)]
    if args.default_gc:
        cmd.append("--default-gc")
    env = dict(os.environ, PYTHONPATH=code)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=code, check=False)
    if out.returncode != 0:
        sys.exit(f"the core in {code} failed:\n{out.stderr}")
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> None:
    global SERVING_GC
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--reject-every", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--old", help="git revision whose core is timed in turns with this one")
    ap.add_argument("--default-gc", action="store_true", help="CPython's collector settings")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--drive-only", action="store_true", help="run the calls once, untimed (for callgrind)"
    )
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    if not args.default_gc:
        gc.set_threshold(YOUNG, MIDDLE, OLD)
    else:
        SERVING_GC = False
    if args.drive_only:
        drive(args.calls, args.reject_every, 300.0)
        return
    if args.old:
        against_old(args.old, args)
        return
    if args.json:
        print(json.dumps(figures(args.calls, args.reject_every, args.rounds)))
        return
    if args.profile:
        prof = cProfile.Profile()
        prof.runcall(drive, args.calls, args.reject_every, 300.0)
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return
    report(args.calls, args.reject_every, args.rounds)


if __name__ == "__main__":
    main()
