"""Benchmark SIP parsing and classification of the messages a bridged call brings.

    .venv/bin/python bench/bench_sip.py [--old COMMIT] [--number N] [--rounds N]

For an INVITE with SDP (about 900 octets), a 200 OK with SDP, an ACK and a BYE it reports
messages/s of ``parse`` and of ``classify``, each measured in the same run as:
- a baseline: a bare Python loop doing one dict lookup per header line, and the standard
  library's ``email.parser.HeaderParser`` on the same octets;
- the code of an older commit (default 9cc7f47), unpacked with ``git archive`` and timed in
  its own subprocess, next to the current code in another; the ratio is new/old speed.
Old and new subprocesses alternate for ``--rounds`` rounds and the best figure of each is
kept, so a busy machine disturbs both alike; times are CPU time of the timing process.
Bounded: a few seconds in all.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SDP = (
    "v=0\r\no=- 2890844526 2890844526 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
    "m=audio 49170 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
)
DIALOG = (
    'From: "Customer Care" <sip:4008001234@192.0.2.10;user=phone>;tag=f1a2b3c4\r\n'
    "To: <sip:13800138000@198.51.100.7;user=phone>{to_tag}\r\n"
    "Call-ID: 5f1c9e2a7b3d4c60@192.0.2.10\r\n"
)


def _message(start: str, via: str, cseq: str, extra: str, body: str, to_tag: str) -> bytes:
    head = (
        f"{start}\r\n{via}Max-Forwards: 70\r\n{DIALOG.format(to_tag=to_tag)}"
        f"CSeq: {cseq}\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    )
    return (head + body).encode()


def messages() -> dict[str, bytes]:
    """The four messages of a bridged call that every call brings, as a peer sends them."""
    via = "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK5f1c9e2a7b3d-{n};rport\r\n"
    sdp = SDP.format(ip="192.0.2.10")
    invite_extra = (
        "Contact: <sip:4008001234@192.0.2.10:5060;transport=udp>\r\n"
        "P-Asserted-Identity: <tel:+864008001234>\r\n"
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, INFO\r\n"
        "Supported: 100rel, timer, replaces\r\nSession-Expires: 1800;refresher=uac\r\n"
        "Min-SE: 90\r\nUser-Agent: CallCenter-PBX/8.1\r\nContent-Type: application/sdp\r\n"
    )
    ok_extra = (
        "Contact: <sip:13800138000@198.51.100.7:5060>\r\n"
        "Record-Route: <sip:198.51.100.1;lr>\r\n"
        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\nSupported: timer\r\n"
        "Session-Expires: 1800;refresher=uac\r\nServer: Carrier-SBC/5.2\r\n"
        "Content-Type: application/sdp\r\n"
    )
    to_tag = ";tag=9a8b7c6d"
    return {
        "INVITE": _message(
            "INVITE sip:13800138000@198.51.100.7:5060;user=phone SIP/2.0",
            via.format(n=1),
            "1 INVITE",
            invite_extra,
            sdp,
            "",
        ),
        "200 OK": _message(
            "SIP/2.0 200 OK",
            via.format(n=1),
            "1 INVITE",
            ok_extra,
            SDP.format(ip="198.51.100.7"),
            to_tag,
        ),
        "ACK": _message(
            "ACK sip:13800138000@198.51.100.7:5060 SIP/2.0",
            via.format(n=2),
            "1 ACK",
            "",
            "",
            to_tag,
        ),
        "BYE": _message(
            "BYE sip:13800138000@198.51.100.7:5060 SIP/2.0",
            via.format(n=3),
            "2 BYE",
            "",
            "",
            to_tag,
        ),
    }


CHILD = r"""
import email.parser, json, sys, time, timeit
from sipguard.sip import classify, parse
msgs = {k: bytes.fromhex(v) for k, v in json.loads(sys.argv[1]).items()}
number = int(sys.argv[2])
KNOWN = {"via": 1, "from": 2, "to": 3, "call-id": 4, "cseq": 5, "contact": 6}

def bare(data):
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    for line in head.split("\r\n")[1:]:
        KNOWN.get(line.partition(":")[0].lower())

def stdlib(data, parser=email.parser.HeaderParser()):
    head = data.split(b"\r\n", 1)[1].decode()
    parser.parsestr(head)

def rate(fn, data):
    best = min(timeit.repeat(lambda: fn(data), number=number, repeat=7, timer=time.process_time))
    return number / best

out = {}
for name, data in msgs.items():
    assert classify(data).action == "process", name
    out[name] = {"parse": rate(parse, data), "classify": rate(classify, data),
                 "bare": rate(bare, data), "stdlib": rate(stdlib, data)}
print(json.dumps(out))
"""


def _unpack(commit: str, into: Path) -> None:
    """Write the ``sipguard`` package of ``commit`` under ``into`` (``git archive``)."""
    tar = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "sipguard"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")


def _measure(path: Path, msgs: dict[str, bytes], number: int) -> dict[str, dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(path)}
    arg = json.dumps({k: v.hex() for k, v in msgs.items()})
    done = subprocess.run(
        [sys.executable, "-c", CHILD, arg, str(number)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=path,
        timeout=120,
    )
    result: dict[str, dict[str, float]] = json.loads(done.stdout)
    return result


def _best(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {m: {k: max(r[m][k] for r in runs) for k in runs[0][m]} for m in runs[0]}


def _report(old: dict[str, dict[str, float]], new: dict[str, dict[str, float]]) -> None:
    print(
        f"{'message':8} {'step':9} {'old/s':>9} {'new/s':>9} {'new/old':>8} "
        f"{'new/bare':>9} {'new/email':>10}"
    )
    for name, fig in new.items():
        for step in ("parse", "classify"):
            o, n = old[name][step], fig[step]
            print(
                f"{name:8} {step:9} {o:9.0f} {n:9.0f} {n / o:8.2f} "
                f"{n / fig['bare']:9.2f} {n / fig['stdlib']:10.2f}"
            )
    old_parse = old["INVITE"]["parse"]
    print(
        f"\nINVITE classify costs {old_parse / new['INVITE']['classify']:.2f}x the old parse "
        "(target <= 1.5)"
    )
    for name in ("200 OK", "ACK", "BYE"):
        print(
            f"{name} classify is {new[name]['classify'] / old[name]['classify']:.2f}x "
            "faster than the old classify (target >= 3 for responses)"
        )


def main() -> None:
    """Measure old and new code in alternating subprocesses and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", default="9cc7f47", help="commit to compare with")
    ap.add_argument("--number", type=int, default=500, help="calls per timing")
    ap.add_argument("--rounds", type=int, default=2, help="alternating old/new rounds")
    args = ap.parse_args()
    msgs = messages()
    print("sizes: " + ", ".join(f"{k} {len(v)} B" for k, v in msgs.items()))
    with tempfile.TemporaryDirectory() as tmp:
        _unpack(args.old, Path(tmp))
        olds, news = [], []
        for _ in range(args.rounds):
            olds.append(_measure(Path(tmp), msgs, args.number))
            news.append(_measure(ROOT, msgs, args.number))
    _report(_best(olds), _best(news))


if __name__ == "__main__":
    main()
