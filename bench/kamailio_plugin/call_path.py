"""The plugin's own cost per call, old revision against new, timed in turns in one run.

A fake ``KSR`` (tests/kamailio/fake_ksr.py) drives whole calls (INVITE, its 200, ACK, BYE)
through the plugin of each revision, one call at a time, with a real journal service at
the default durability (every decision fsynced before it is answered).  Kamailio itself is
left out, so the figures are sipguard's part alone: the worker's Python CPU, the journal
service's CPU, and the wall time, per call.  One call at a time is the journal's worst
case (no batching), so these are upper bounds.

    .venv/bin/python bench/kamailio_plugin/call_path.py [--old REV] [--calls N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests" / "kamailio"


def _request(ksr: object, **pv: object) -> None:
    ksr.request(**pv)  # type: ignore[attr-defined]
    ksr.pv.values["$sel(cfg_get.sipguard.state)"] = "sqlite"  # type: ignore[attr-defined]


def _call(kemi: object, ksr: object, i: int) -> None:
    """One whole allowed call through the plugin."""
    cid = f"c-{i}"
    ksr.method, ksr.totag, ksr.loose = "INVITE", False, False  # type: ignore[attr-defined]
    uris = {"$fu": "sip:4008001234@127.0.0.2", "$ru": "sip:13800138000@127.0.0.1"}
    _request(ksr, **{"$si": "127.0.0.2", "$sp": 5060, "$pr": "udp", "$ci": cid, **uris})
    kemi.ksr_request_route(None)  # type: ignore[attr-defined]
    _request(ksr, **{"$rm": "INVITE", "$rs": "200", "$ci": cid})
    kemi.ksr_onreply_sipguard(None)  # type: ignore[attr-defined]
    ksr.method, ksr.totag, ksr.loose = "ACK", True, True  # type: ignore[attr-defined]
    _request(ksr, **{"$si": "127.0.0.2", "$ci": cid})
    kemi.ksr_request_route(None)  # type: ignore[attr-defined]
    ksr.method = "BYE"  # type: ignore[attr-defined]
    _request(ksr, **{"$si": "127.0.0.2", "$ci": cid})
    kemi.ksr_request_route(None)  # type: ignore[attr-defined]


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(calls: int) -> dict[str, float]:
    """Measure this interpreter's sipguard (whatever PYTHONPATH gives) on ``calls`` calls."""
    sys.path.insert(0, str(TESTS))
    # The test helpers write the rules from this tree's ``tests.rulesets``; ``tests`` is a
    # namespace package, so appending this tree finds it whichever revision is measured.
    sys.path.append(str(TESTS.parents[1]))
    from fake_ksr import FakeKSR
    from rulesdata import write_rules

    from sipguard.adapters.kamailio.plugin import SipguardKemi

    folder = Path(tempfile.mkdtemp(prefix="call-path-"))
    rules = write_rules(folder, cap=10**9)
    ksr = FakeKSR()
    kemi = SipguardKemi(ksr, environ={"SIPGUARD_RULES": str(rules), "SIPGUARD_STATE": "sqlite"})
    kemi.child_init(1)
    for i in range(200):  # warm-up
        _call(kemi, ksr, i)
    service = int((folder / "journal.sock.lock").read_text().strip())
    s0, c0, w0 = _cpu(service), time.process_time(), time.perf_counter()
    for i in range(200, 200 + calls):
        _call(kemi, ksr, i)
    wall, cpu, svc = time.perf_counter() - w0, time.process_time() - c0, _cpu(service) - s0
    os.kill(service, 15)
    return {"worker_us": cpu / calls * 1e6, "service_us": svc / calls * 1e6,
            "wall_us": wall / calls * 1e6}  # fmt: skip


def extract(rev: str, into: Path) -> Path:
    """Write the ``sipguard`` package of git revision ``rev`` under ``into``."""
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "sipguard"],
                             capture_output=True, check=False)  # fmt: skip
    if archive.returncode != 0:
        sys.exit(f"cannot take revision {rev}: {archive.stderr.decode(errors='replace')}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def measure(root: Path, calls: int) -> dict[str, float]:
    """One child run of the sipguard package under ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, __file__, "--child", str(calls)], env=env, cwd=root,
                         capture_output=True, text=True, timeout=600, check=True)  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", default="3359a26", help="git revision measured as the baseline")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        old_root = extract(args.old, Path(tmp) / "old")
        runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
        for _ in range(args.rounds):  # in turns, so both see the same machine
            runs["old"].append(measure(old_root, args.calls))
            runs["new"].append(measure(ROOT, args.calls))
    for side, rows in runs.items():
        print(side, [{k: round(v) for k, v in r.items()} for r in rows])
    print(f"per call (median of {args.rounds} runs of {args.calls} calls), old = {args.old}")
    print(f"{'':14}{'old':>10}{'new':>10}{'new/old':>10}")
    for key in ("worker_us", "service_us", "wall_us"):
        old = statistics.median(r[key] for r in runs["old"])
        new = statistics.median(r[key] for r in runs["new"])
        print(f"{key:14}{old:10.0f}{new:10.0f}{new / old:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
