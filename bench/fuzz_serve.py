"""A million mutated datagrams at a running ``sipguard serve``, then one real sipp call.

    .venv/bin/python bench/fuzz_serve.py [--datagrams 1000000] [--minutes 10] [--seed 1]

The mutations start from real call messages (INVITE with SDP, 200, ACK, BYE, OPTIONS) and
apply one or more of: bit flips, truncation, duplicated headers, a huge header, a deep comma
list, a long Via chain, NUL bytes, invalid UTF-8, and random bytes.  They are sent from the
Acme trunk's address, the carrier network's address and an unlisted address, in turn, at
whatever rate the server keeps up with (bounded by ``--minutes``).

Reported: whether the server is still alive, Python tracebacks and error lines in its log,
its RSS before the flood, at its peak and after it, and whether a sipp call placed
afterwards succeeds.  "After" is measured once the server has worked off its backlog (its
CPU use has fallen idle) and ``--settle`` more seconds have passed, so that every
transaction and call the flood started has timed out; the live transactions, calls and
timers are read from its metrics then.  Targets: 0 crashes, 0 tracebacks, a working call,
RSS growth under 10%.  The datagrams per second are the sender's: on a shared machine the
sender and the server compete for the same cores.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve import CALLEE, CALLER, SUT_IP, UAS_IP, System, _mk, free_port, run_step, start_uas
from served import Peak, memory_map, rss_kb, start_server, tables, wait_idle

SOURCES = ("127.0.0.2", "127.0.0.4", "127.0.0.9")
INVITE = (
    "INVITE sip:{callee}@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP {src}:{port};branch=z9hG4bK{n};rport\r\nMax-Forwards: 70\r\n"
    "From: \"Acme\" <sip:{caller}@{src}>;tag={n}\r\nTo: <sip:{callee}@127.0.0.1>\r\n"
    "Call-ID: fz{n}@{src}\r\nCSeq: 1 INVITE\r\nContact: <sip:{caller}@{src}:{port}>\r\n"
    "P-Asserted-Identity: <sip:{caller}@{src}>\r\nContent-Type: application/sdp\r\n"
    "Content-Length: {cl}\r\n\r\n{sdp}"
)
SDP = "v=0\r\no=- 1 1 IN IP4 {src}\r\ns=-\r\nc=IN IP4 {src}\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"
OTHERS = (
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{n}\r\n"
    "From: <sip:{caller}@127.0.0.1>;tag={n}\r\nTo: <sip:{callee}@{src}>;tag=b{n}\r\n"
    "Call-ID: fz{n}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:{callee}@{src}:{port}>\r\n"
    "Content-Length: 0\r\n\r\n",
    "ACK sip:{callee}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {src}:{port};branch=z9hG4bK{n}\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:{caller}@{src}>;tag={n}\r\nTo: <sip:{callee}@127.0.0.1>"
    ";tag=x\r\nCall-ID: fz{n}@{src}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
    "BYE sip:{callee}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {src}:{port};branch=z9hG4bKb{n}\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:{caller}@{src}>;tag={n}\r\nTo: <sip:{callee}@127.0.0.1>"
    ";tag=x\r\nCall-ID: fz{n}@{src}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
    "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {src}:{port};branch=z9hG4bKo{n}\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:probe@{src}>;tag={n}\r\nTo: <sip:127.0.0.1>\r\n"
    "Call-ID: fo{n}@{src}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
)


def base_message(rng: random.Random, n: int, src: str, port: int) -> bytes:
    """One well-formed message of a call, numbered ``n``."""
    fields = {"n": n, "src": src, "port": port, "caller": CALLER, "callee": CALLEE}
    if rng.random() < 0.5:
        sdp = SDP.format(**fields)
        return INVITE.format(cl=len(sdp), sdp=sdp, **fields).encode()
    return rng.choice(OTHERS).format(**fields).encode()


def _flip(rng: random.Random, data: bytearray) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return data


def _truncate(rng: random.Random, data: bytearray) -> bytearray:
    return data[: rng.randrange(1, len(data))] if len(data) > 1 else data


def _dup_header(rng: random.Random, data: bytearray) -> bytearray:
    lines = bytes(data).split(b"\r\n")
    pick = lines[rng.randrange(len(lines))]
    return bytearray(b"\r\n".join(lines[:1] + [pick] * rng.randint(1, 50) + lines[1:]))


def _huge(rng: random.Random, data: bytearray) -> bytearray:
    return data.replace(b"\r\n", b"\r\nX-Big: " + b"A" * rng.randint(1000, 60000) + b"\r\n", 1)


def _commas(rng: random.Random, data: bytearray) -> bytearray:
    return data.replace(b"\r\n", b"\r\nPrivacy: " + b",".join([b"id"] * rng.randint(100, 8000))
                        + b"\r\n", 1)  # fmt: skip


def _vias(rng: random.Random, data: bytearray) -> bytearray:
    chain = b"".join(b"Via: SIP/2.0/UDP 10.0.0.%d;branch=z9hG4bK%d\r\n" % (i % 250, i)
                     for i in range(rng.randint(50, 1500)))  # fmt: skip
    return data.replace(b"\r\n", b"\r\n" + chain, 1)


def _nul(rng: random.Random, data: bytearray) -> bytearray:
    at = rng.randrange(len(data))
    return data[:at] + b"\x00" * rng.randint(1, 20) + data[at:]


def _utf8(rng: random.Random, data: bytearray) -> bytearray:
    at = rng.randrange(len(data))
    return data[:at] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88"]) + data[at:]


def _random(rng: random.Random, data: bytearray) -> bytearray:
    return bytearray(rng.randbytes(rng.randint(1, 1400)))


MUTATIONS: tuple[Callable[[random.Random, bytearray], bytearray], ...] = (
    _flip, _truncate, _dup_header, _huge, _commas, _vias, _nul, _utf8, _random,
)  # fmt: skip


def mutate(rng: random.Random, data: bytes) -> bytes:
    """``data`` after one to three random mutations, at most 65,000 octets."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if out:
            out = rng.choice(MUTATIONS)(rng, out)
    return bytes(out[:65000])


def flood(target: tuple[str, int], count: int, deadline: float, seed: int) -> int:
    """Send up to ``count`` mutated datagrams before ``deadline``; return how many went."""
    rng = random.Random(seed)
    socks = []
    for src in SOURCES:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((src, 0))
        socks.append((sock, src, sock.getsockname()[1]))
    sent = 0
    while sent < count and time.monotonic() < deadline:
        sock, src, port = socks[sent % len(socks)]
        try:
            sock.sendto(mutate(rng, base_message(rng, sent, src, port)), target)
        except OSError:
            time.sleep(0.001)  # the kernel's buffer is full: let the server catch up
            continue
        sent += 1
        if sent % 64 == 0:
            time.sleep(0.0005)
    for sock, _, _ in socks:
        sock.close()
    return sent


def run(folder: Path, server: System, metrics: str, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, flood, wait out the backlog and the settle, then place a call; the report."""
    warm = run_step(folder, server, "bridge", 20, 2)
    time.sleep(args.settle)  # the warm-up calls' transactions end, as the flood's will
    before, peak = rss_kb(server.proc.pid), Peak(server.proc.pid, metrics)
    map_before = memory_map(server.proc.pid)
    peak.start()
    started = time.monotonic()
    sent = flood((SUT_IP, server.port), args.datagrams, started + args.minutes * 60, args.seed)
    elapsed = time.monotonic() - started
    backlog = wait_idle(server.proc.pid, 600.0)
    time.sleep(args.settle)
    peak.done.set()
    alive = server.proc.poll() is None
    after = rss_kb(server.proc.pid) if alive else 0
    map_after = memory_map(server.proc.pid) if alive else {}
    left = tables(metrics) if alive else {}
    call = run_step(folder, server, "bridge", 5, 1) if alive else None
    return {
        "datagrams_sent": sent, "seconds": round(elapsed, 1),
        "datagrams_per_s": round(sent / max(elapsed, 1e-9)),
        "backlog_s": round(backlog, 1), "server_alive": alive,
        "rss_kb_before": before, "rss_kb_peak": peak.peak, "rss_kb_after": after,
        "memory_before": map_before, "memory_after": map_after,
        "tables_near_peak": peak.at_peak, "tables_highest": peak.most,
        "rss_growth": round(after / before - 1, 3) if before and after else None,
        "left_after_settle": left, "warm_up_calls_ok": f"{warm.ok}/{warm.created}",
        "call_after": f"{call.ok}/{call.created}" if call else "server dead",
        "call_failed": call.failed if call else None,
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datagrams", type=int, default=1_000_000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--settle", type=float, default=75.0,
                        help="seconds after the backlog for transactions and calls to end")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="fuzz-serve-"))
    net_port = free_port(UAS_IP)
    uas = start_uas(folder, net_port)
    try:
        server, metrics = start_server(_mk(folder / "sg"), net_port)
        try:
            report = run(folder, server, metrics, args)
        finally:
            server.stop()
    finally:
        uas.kill()
        uas.wait()
    log = (folder / "sg" / "serve.log").read_text(errors="replace")
    report["tracebacks"] = log.count("Traceback")
    report["error_lines"] = log.count('"level": "error"')
    print(json.dumps(report, indent=2))
    ok = report["server_alive"] and not report["tracebacks"] and report["call_failed"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
