"""The Kamailio front over 1 and 2 ``serve`` nodes, against plain Kamailio, in the same run.

The setups carry the same sipp calls (INVITE, 200, ACK, BYE; a sipp callee on
127.0.0.4 answers) at fixed rates, one after the other:

- ``front+1`` at ``--rate``: ``sipguard kamailio run --front`` over one ``serve`` node;
- ``front+2`` at twice ``--rate``: the same front over two nodes, so each node takes as
  many calls per second as the single node did (a node's CPU per call falls as its load
  rises, since group commit and the event loop batch more, so only equal loads compare);
- ``plain`` at each of those rates: Kamailio alone as a stateful proxy (tm + rr + sl,
  ``kamailio_plugin/plain.cfg``), the baseline for what routing a call through Kamailio costs.

Every call is allowed, screened and journaled by a node: each node has its own SQLite
state and journal, or, with ``--state redis://…`` and ``--journal postgresql://…``, the
nodes share them (the CPU of Redis and PostgreSQL is not counted; their round trips are).
Reported per setup: failed calls, INVITE-to-200 delays, and the CPU (user + system) per
call of the front's processes and of the nodes' (each node with its journal service),
read from /proc.  The summary gives the front's CPU per call as a ratio to plain
Kamailio's at the same rate, and the nodes' CPU per call with two nodes as a ratio to one
node's: those figures say how the fleet scales on a box with more cores.  The run is
bounded: ``rate * seconds`` calls per node and setup.

    .venv/bin/python bench/bench_front.py [--rate 100] [--seconds 4] [--state URL --journal URL]
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

from live import SCENARIOS  # noqa: E402
from rulesdata import write_rules  # noqa: E402
from steps import Step, group_cpu, run_sipp, start_plain  # noqa: E402

from sipguard.adapters.kamailio.front_cfg import find_module_dir  # noqa: E402
from tests.e2e.harness import free_port  # noqa: E402

# Free ports, picked once: other benchmarks may run on the same machine at the same time.
PLAIN_PORT, FRONT_PORT, UAC_PORT = free_port(), free_port(), free_port("127.0.0.2")
NODE_PORTS, UAS_PORT = (free_port(), free_port()), free_port("127.0.0.4")


def sipguard(*argv: str) -> list[str]:
    return [sys.executable, "-m", "sipguard", *argv]


def shared(rules: Path, state: str | None, journal: str | None) -> None:
    """Point a node's rules at a shared state and journal (``--state``, ``--journal``)."""
    text = rules.read_text(encoding="utf-8")
    if journal:
        text = text.replace("journal:\n  path: journal.db\n", f'journal:\n  url: "{journal}"\n')
    if state:
        text += f'state:\n  url: "{state}"\n'
    rules.write_text(text, encoding="utf-8")


def start_node(work: Path, port: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    """One serve node in its own folder, trusting the front on 127.0.0.1."""
    rules = write_rules(work / f"node-{port}", port=UAS_PORT, cap=10**9)
    shared(rules, args.state, args.journal)
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
    out: dict[str, object] = {"setup": name, **step.row(), "cpu_us_per_call_by_part": per_call}
    print(json.dumps(out), flush=True)
    return out


def measure_plain(work: Path, rate: int, seconds: float) -> dict[str, object]:
    proc = start_plain(work, PLAIN_PORT, f"sip:127.0.0.4:{UAS_PORT}", find_module_dir(),
                       memory=(64, 8))  # fmt: skip
    try:
        step, cpu = run_calls(PLAIN_PORT, {"kamailio": [proc.pid]}, rate, seconds, work)
    finally:
        stop(proc)
    return row(f"plain@{rate}", step, cpu)


def measure_front(work: Path, count: int, rate: int, args: argparse.Namespace
                  ) -> dict[str, object]:  # fmt: skip
    nodes = [start_node(work, port, args) for port in NODE_PORTS[:count]]
    front = start_front(work, NODE_PORTS[:count])
    try:
        groups = {"front": [front.pid], "nodes": [n.pid for n in nodes]}
        step, cpu = run_calls(FRONT_PORT, groups, rate, args.seconds, work)
    finally:
        stop(front)
        for node in nodes:
            stop(node)
    return row(f"front+{count}@{rate}", step, cpu)


def part(r: dict[str, object], key: str) -> float:
    parts = r["cpu_us_per_call_by_part"]
    assert isinstance(parts, dict)
    return float(parts[key])


def summary(pairs: list[tuple[dict[str, object], dict[str, object]]]) -> dict[str, object]:
    """Ratios: each front against plain Kamailio at its rate; 2 nodes against 1 per call."""
    if any(part(plain, "kamailio") <= 0 for plain, _ in pairs):
        raise RuntimeError("plain Kamailio used no CPU: was another process on its port?")
    one, two = (front for _, front in pairs)
    return {
        "front CPU per call / plain Kamailio's, 1 and 2 nodes": [
            round(part(f, "front") / part(p, "kamailio"), 2) for p, f in pairs
        ],
        "nodes CPU per call, 2 nodes / 1 node (same calls per node)": round(
            part(two, "nodes") / part(one, "nodes"), 2
        ),
        "whole fleet CPU per call / plain Kamailio's, 1 and 2 nodes": [
            round((part(f, "front") + part(f, "nodes")) / part(p, "kamailio"), 2) for p, f in pairs
        ],
        "failed calls": {str(r["setup"]): r["failed"] for pair in pairs for r in pair},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=100,
                        help="calls per second per node (default 100)")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per setup")
    parser.add_argument(
        "--state",
        metavar="URL",
        help="the nodes share this state (redis://...; default: SQLite each)",
    )
    parser.add_argument("--journal", metavar="URL",
                        help="the nodes share this journal (postgresql://...; default: "
                        "SQLite each)")  # fmt: skip
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-front-"))
    pairs = []
    for count in (1, 2):
        rate = args.rate * count
        pairs.append((measure_plain(work, rate, args.seconds),
                      measure_front(work, count, rate, args)))  # fmt: skip
    print(json.dumps(summary(pairs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
