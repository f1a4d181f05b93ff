"""CPU per call of ``sipguard serve``: its own process and its whole group, old code against new.

    .venv/bin/python bench/serve_cpu.py [--rate 400] [--seconds 6] [--rounds 3] [--old REV]
                                        [--modes reject,bridge]

For each load (reject-only: an unfiled caller answered 403 after journaling; bridged: a call
set up through to the sipp UAS and hung up), a fresh ``serve`` takes a short warm-up step and
then one step at ``--rate`` CPS; the CPU (user + system, from ``/proc``) that the ``serve``
process and its whole process group (the journal service included) used over that step is
divided by the calls that completed (``serve_sys_us``: the kernel's share of the process's,
its sockets' system calls).  With ``--old REV`` the same is done for the code of
revision ``REV`` (taken with ``git archive``), in turns with this checkout, so both sides see
the same machine; each figure is printed as its median (min..max) over the rounds.  A step
that queues (p99 in seconds) makes sipp retransmit, which inflates the CPU per call: compare
steps that stayed clean, or use a lower ``--rate``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_serve as b
from steps import TICKS, extract, group_cpu

ROOT = Path(__file__).resolve().parents[1]


def process_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds used so far by process ``pid`` alone: (user + system, system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS, int(fields[12]) / TICKS


def one_turn(code: Path, mode: str, args: argparse.Namespace) -> dict[str, float]:
    """Serve and group CPU per call of the code at ``code`` for one step of ``mode``."""
    folder = Path(tempfile.mkdtemp(prefix="serve-cpu-"))
    net = b.free_port(b.UAS_IP)
    uas = b.start_uas(folder, net)
    try:
        system = start(folder, net, code)
    except RuntimeError:
        uas.kill()
        uas.wait()
        raise
    try:
        b.run_step(folder, system, mode, 50, 1)
        pid = system.proc.pid
        group0, own0 = group_cpu(pid), process_cpu(pid)
        step = b.run_step(folder, system, mode, args.rate, args.seconds)
        group1, own1 = group_cpu(pid), process_cpu(pid)
    finally:
        system.stop()
        uas.kill()
        uas.wait()
    calls = max(1, step.ok)
    return {
        "serve_us": (own1[0] - own0[0]) / calls * 1e6,
        "serve_sys_us": (own1[1] - own0[1]) / calls * 1e6,
        "group_us": (group1 - group0) / calls * 1e6,
        "failed": float(step.failed),
        "p99_ms": step.percentile(0.99),
    }


def start(folder: Path, net: int, code: Path) -> b.System:
    """A fresh serve; a free port taken by someone else meanwhile is tried again."""
    for attempt in range(3):
        try:
            return b.start_sipguard(b._mk(folder / f"sg{attempt}"), net, code)
        except RuntimeError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def summary(rows: list[dict[str, float]]) -> dict[str, str]:
    """Each figure over the rounds: ``median (min..max)``."""
    out = {}
    for key in rows[0]:
        values = [row[key] for row in rows]
        out[key] = f"{statistics.median(values):.0f} ({min(values):.0f}..{max(values):.0f})"
    return out


def median(rows: list[dict[str, float]], key: str) -> float:
    """The median of one figure over the rounds."""
    return statistics.median(row[key] for row in rows)


def main() -> int:
    """Run the turns and print the figures (and new/old medians with ``--old``)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, default=400, help="CPS of the measured step")
    ap.add_argument("--seconds", type=float, default=6.0, help="length of the measured step")
    ap.add_argument("--rounds", type=int, default=3, help="turns per side and load")
    ap.add_argument("--modes", default="reject,bridge", help="loads to measure")
    ap.add_argument("--old", help="git revision measured in turns with this checkout")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sides = {"new": ROOT}
        if args.old:
            sides = {"old": extract(args.old, Path(tmp)), "new": ROOT}
        rows: dict[str, dict[str, list[dict[str, float]]]] = {}
        for mode in args.modes.split(","):
            for _ in range(args.rounds):
                for side, code in sides.items():
                    row = one_turn(code, mode, args)
                    print(f"  {mode:6} {side:3} {json.dumps(row)}", flush=True)
                    rows.setdefault(mode, {}).setdefault(side, []).append(row)
    for mode, by in rows.items():
        for side, side_rows in by.items():
            print(f"{mode:6} {side:3} {json.dumps(summary(side_rows))}")
        if args.old:
            ratios = {key: round(median(by["new"], key) / median(by["old"], key), 3)
                      for key in ("serve_us", "group_us")}  # fmt: skip
            print(f"{mode:6} new/old medians {json.dumps(ratios)}")
            turns = {key: round(statistics.median(n[key] / o[key] for o, n in
                                                  zip(by["old"], by["new"], strict=True)), 3)
                     for key in ("serve_us", "group_us")}  # fmt: skip
            print(f"{mode:6} median of each turn's new/old {json.dumps(turns)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
