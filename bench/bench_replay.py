"""Replay throughput and memory: packets/s, INVITEs/s and peak RSS, with same-run baselines.

Usage (from the project root):

    .venv/bin/python bench/bench_replay.py [--packets 1000000] [--big 10000000]

It writes synthetic captures into a temporary directory (deleted afterwards) with raw
``struct``-packed pcap records: 95% RTP-like UDP noise, some TCP, and 5% SIP (INVITEs with
their 100/180/200, ACK and BYE).  Each measurement runs in a fresh child process so peak
RSS is its own.  The baseline is the same file iterated with scapy's ``RawPcapReader`` and
no decoding at all; ratios against it are printed, as absolute times vary by machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_ETH = bytes(6) + bytes(5) + b"\x01" + b"\x08\x00"


def _ipv4(src: bytes, dst: bytes, proto: int, payload: bytes) -> bytes:
    total = 20 + len(payload)
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, proto, 0, src, dst) + payload


def _udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def _tcp(seq: int, payload: bytes) -> bytes:
    return struct.pack("!HHIIBBHHH", 40000, 5060, seq, 0, 0x50, 0x18, 65535, 0, 0) + payload


def _sip_dialogue(n: int) -> list[bytes]:
    """Six SIP datagrams of one call, from the carrier (127.0.0.4) to an access number."""
    common = (
        f"Via: SIP/2.0/UDP 127.0.0.4:5060;branch=z9hG4bK{n}\r\nFrom: <sip:1380013{n % 10000:04d}"
        f"@x>;tag=a{n}\r\nTo: <sip:95123@127.0.0.1>{{totag}}\r\nCall-ID: b{n}@bench\r\n"
        "CSeq: {cseq}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    first = [
        "INVITE sip:95123@127.0.0.1 SIP/2.0\r\n" + common.format(totag="", cseq="1 INVITE"),
        "SIP/2.0 100 Trying\r\n" + common.format(totag="", cseq="1 INVITE"),
        "SIP/2.0 180 Ringing\r\n" + common.format(totag=";tag=z", cseq="1 INVITE"),
        "SIP/2.0 200 OK\r\n" + common.format(totag=";tag=z", cseq="1 INVITE"),
        "ACK sip:95123@127.0.0.1 SIP/2.0\r\n" + common.format(totag=";tag=z", cseq="1 ACK"),
        "BYE sip:95123@127.0.0.1 SIP/2.0\r\n" + common.format(totag=";tag=z", cseq="2 BYE"),
    ]
    return [m.encode() for m in first]


def write_capture(path: Path, packets: int) -> int:
    """Write ``packets`` records; return how many INVITEs they hold."""
    src, dst, edge = bytes([127, 0, 0, 4]), bytes([127, 0, 0, 9]), bytes([127, 0, 0, 1])
    rtp = _ETH + _ipv4(src, dst, 17, _udp(20000, 30000, b"\x80\x00" + bytes(170)))
    tcp_seq = 1
    invites = 0
    pending: list[bytes] = []
    with path.open("wb", buffering=1 << 20) as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(packets):
            if i % 20 == 0:  # 5% SIP
                if not pending:
                    pending = _sip_dialogue(invites)
                    invites += 1
                frame = _ETH + _ipv4(src, edge, 17, _udp(5060, 5060, pending.pop(0)))
            elif i % 50 == 1:  # some TCP carrying non-SIP data
                frame = _ETH + _ipv4(src, dst, 6, _tcp(tcp_seq, b"x" * 100))
                tcp_seq += 100
            else:
                frame = rtp
            sec, usec = divmod(i * 100, 1_000_000)  # 10,000 packets per second of capture
            fh.write(struct.pack("<IIII", 1_780_000_000 + sec, usec, len(frame), len(frame)))
            fh.write(frame)
    return invites


def measure(mode: str, path: str) -> dict[str, float]:
    """Run one measurement in this process (called in a child)."""
    start = time.perf_counter()
    invites = 0
    if mode == "baseline":
        from scapy.utils import RawPcapReader

        count = sum(1 for _ in RawPcapReader(path))
    else:
        from sipguard.adapters.replay.engine import ReplaySummary, replay
        from sipguard.policy import MemoryState, load_rules

        summary = ReplaySummary()
        for _ in replay([path], load_rules(ROOT / "rules.yaml"), MemoryState(), summary):
            invites += 1
        count = summary.frames
    elapsed = time.perf_counter() - start
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"packets": count, "invites": invites, "seconds": elapsed, "rss_mb": rss_kb / 1024}


def child(mode: str, path: Path) -> dict[str, float]:
    """The measurement in a fresh interpreter, for an honest peak RSS."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    """Generate, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=10_000_000, help="0 to skip the RSS check")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1])))
        return
    with tempfile.TemporaryDirectory(prefix="sipguard-bench-") as tmp:
        small = Path(tmp) / "small.pcap"
        invites = write_capture(small, args.packets)
        base = child("baseline", small)
        run = child("replay", small)
        assert run["invites"] == invites, (run, invites)
        pps = run["packets"] / run["seconds"]
        print(f"capture: {args.packets:,} packets, {invites:,} INVITEs")
        print(f"baseline RawPcapReader: {base['packets'] / base['seconds']:,.0f} packets/s")
        print(
            f"replay: {pps:,.0f} packets/s, {run['invites'] / run['seconds']:,.0f} INVITEs/s, "
            f"{run['seconds'] / base['seconds']:.2f}x the baseline's time"
        )
        print(f"peak RSS at {args.packets:,} packets: {run['rss_mb']:.1f} MB")
        if args.big:
            big = Path(tmp) / "big.pcap"
            small.unlink()
            write_capture(big, args.big)
            large = child("replay", big)
            big.unlink()
            print(
                f"peak RSS at {args.big:,} packets: {large['rss_mb']:.1f} MB "
                f"({large['rss_mb'] / run['rss_mb']:.3f}x), "
                f"{large['packets'] / large['seconds']:,.0f} packets/s"
            )


if __name__ == "__main__":
    main()
