"""The Kamailio front over 1 and 2 ``serve`` nodes, against plain Kamailio, in the same run.

Three setups carry the same sipp calls (INVITE, 200, ACK, BYE; a sipp callee on
127.0.0.4 answers), at the same fixed rate, one after the other:

- ``plain``: Kamailio alone as a stateful proxy (tm + rr + sl, ``kamailio_plugin/plain.cfg``),
  the baseline for what routing a call through Kamailio costs;
- ``front+1``: ``sipguard kamailio run --front`` over one ``sipguard serve`` node;
- ``front+2``: the same front over two nodes.

Every call is allowed, screened and journaled (SQLite, the default durability) by a node.
Reported per setup: failed calls, INVITE-to-200 delays, and the CPU (user + system) per
call of the front's processes and of the nodes' (each node with its journal service),
read from /proc.  The summary gives the front's CPU per call as a ratio to plain
Kamailio's, and the nodes' CPU per call with two nodes as a ratio to one node's: those
two figures say how the fleet scales on a box with more cores.  The run is bounded:
``rate * seconds`` calls per setup.

    .venv/bin/python bench/bench_front.py [--rate 100] [--seconds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "kamailio"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_kamailio import PLAIN_PORT, UAS_PORT, start_plain  # noqa: E402
from live import SCENARIOS  # noqa: E402
from rulesdata import write_rules  # noqa: E402
from steps import Step, group_cpu, run_sipp  # noqa: E402

FRONT_PORT, NODE_PORTS, UAC_PORT = 5380, (5381, 5382), 5383


def sipguard(*argv: str) -> list[str]:
    return [sys.executable, "-m", "sipguard", *argv]


def start_node(work: Path, port: int) -> subprocess.Popen[bytes]:
    """One serve node in its own folder (own journal), trusting the front on 127.0.0.1."""
    rules = write_rules(work / f"node-{port}", port=UAS_PORT, cap=10**9)
    log = rules.parent / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            sipguard("serve", "--rules", str(rules), "--listen", f"127.0.0.1:{port}",
                     "--trust-front", "127.0.0.1"),
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 20
    while b"serve.ready" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"serve on {port} did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)
    return proc


def start_front(work: Path, ports: tuple[int, ...]) -> subprocess.Popen[bytes]:
    folder = work / f"front-{len(ports)}"
    argv = sipguard("kamailio", "run", "--front", *(f"127.0.0.1:{p}" for p in ports),
                    "--listen", f"127.0.0.1:{FRONT_PORT}", "--no-tcp", "--children", "4",
                    "--debug", "1", "--workdir", str(folder))  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=ROOT, start_new_session=True)  # fmt: skip
    time.sleep(2.0)  # the first OPTIONS probes have found the nodes up
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def run_calls(port: int, groups: dict[str, list[int]], rate: int, seconds: float,
              work: Path) -> tuple[Step, dict[str, float]]:  # fmt: skip
    """``rate * seconds`` calls through ``port``; the step and CPU seconds per group kind."""
    calls = max(1, int(rate * seconds))
    step_dir = Path(tempfile.mkdtemp(dir=work))
    uas = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / "uas_rr.xml"), "-i", "127.0.0.4", "-p", str(UAS_PORT),
         "-buff_size", "4194304", "-nostdin"], cwd=step_dir,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(0.3)
    args = ["sipp", "-sf", str(SCENARIOS / "uac_call.xml"), "-i", "127.0.0.2", "-p",
            str(UAC_PORT), "-key", "caller", "4008001234", "-s", "13800138000", "-r", str(rate),
            "-m", str(calls), "-l", str(max(1000, rate * 4)), "-buff_size", "4194304",
            "-nostdin", "-trace_rtt", "-rtt_freq", "1",
            "-timeout", f"{int(seconds) + 30}s", f"127.0.0.1:{port}"]  # fmt: skip
    before = {kind: sum(group_cpu(g) for g in pids) for kind, pids in groups.items()}
    try:
        step = run_sipp(args, step_dir, rate, timeout=seconds + 60)
    finally:
        uas.terminate()
        uas.wait(10)
    cpu = {kind: sum(group_cpu(g) for g in pids) - before[kind] for kind, pids in groups.items()}
    step.cpu_s = sum(cpu.values())
    return step, cpu


def row(name: str, step: Step, cpu: dict[str, float]) -> dict[str, object]:
    per_call = {k: round(v / max(1, step.ok) * 1e6, 1) for k, v in cpu.items()}
    return {"setup": name, **step.row(), "cpu_us_per_call_by_part": per_call}


def measure_fronts(work: Path, args: argparse.Namespace) -> list[dict[str, object]]:
    rows = []
    for count in (1, 2):
        nodes = [start_node(work, port) for port in NODE_PORTS[:count]]
        front = start_front(work, NODE_PORTS[:count])
        try:
            groups = {"front": [front.pid], "nodes": [n.pid for n in nodes]}
            step, cpu = run_calls(FRONT_PORT, groups, args.rate, args.seconds, work)
            rows.append(row(f"front+{count}", step, cpu))
        finally:
            stop(front)
            for node in nodes:
                stop(node)
        print(json.dumps(rows[-1]), flush=True)
    return rows


def summary(plain: dict[str, object], fronts: list[dict[str, object]]) -> dict[str, object]:
    def part(r: dict[str, object], key: str) -> float:
        parts = r["cpu_us_per_call_by_part"]
        assert isinstance(parts, dict)
        return float(parts[key])

    base = part(plain, "kamailio")
    one, two = fronts
    return {
        "rate": plain["rate"],
        "front CPU per call / plain Kamailio's": [
            round(part(r, "front") / base, 2) for r in fronts
        ],
        "nodes CPU per call, 2 nodes / 1 node": round(part(two, "nodes") / part(one, "nodes"), 2),
        "whole fleet CPU per call / plain Kamailio's": [
            round((part(r, "front") + part(r, "nodes")) / base, 2) for r in fronts
        ],
        "failed calls": {str(r["setup"]): r["failed"] for r in [plain, *fronts]},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=100, help="calls per second (default 100)")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per setup")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-front-"))
    plain_proc = start_plain(work)
    try:
        step, cpu = run_calls(PLAIN_PORT, {"kamailio": [plain_proc.pid]}, args.rate,
                              args.seconds, work)  # fmt: skip
    finally:
        stop(plain_proc)
    plain = row("plain", step, cpu)
    print(json.dumps(plain), flush=True)
    fronts = measure_fronts(work, args)
    print(json.dumps(summary(plain, fronts), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
