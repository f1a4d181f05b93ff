"""The collector's pauses in ``sipguard serve`` and what it keeps between messages, old and new.

    .venv/bin/python bench/serve_gc.py [--rate 400] [--seconds 10] [--rounds 2] [--old REV]

A fresh ``serve`` (``bench_serve.py``'s rules and sipp pair) takes one bridged step at
``--rate`` CPS with a probe loaded through ``sitecustomize`` (a temporary folder first on
its ``PYTHONPATH``): ``gc.callbacks`` time every collection of the serve process, and at
three quarters of the step a signal makes it count its tracked container objects by type
(``gc.get_objects``).  Reported per turn: the passes of each generation during the step,
their median and largest wall time in ms, and the tracked objects with their five most
common types.  The count itself stalls the server for a moment, so the step's delays are
not the post-dial delay figure (``bench_serve.py``'s fixed step is).  With ``--old REV``
the same is done for the code of revision ``REV``, in turns with this checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_serve as b
from steps import extract

ROOT = Path(__file__).resolve().parents[1]
PROBE = """\
import collections, gc, json, os, signal, time
_out = os.environ.get("SERVE_GC_OUT")
if _out:
    _log = open(os.path.join(_out, f"gc.{os.getpid()}.log"), "a", buffering=1)
    _start = [0.0]
    def _timed(phase, info):
        if phase == "start":
            _start[0] = time.perf_counter()
        else:
            ms = (time.perf_counter() - _start[0]) * 1e3
            _log.write(f"{time.time():.4f} {info['generation']} {ms:.3f}\\n")
    gc.callbacks.append(_timed)
    def _census(signum, frame):
        kinds = collections.Counter(type(o).__name__ for o in gc.get_objects())
        with open(os.path.join(_out, f"census.{os.getpid()}.json"), "w") as f:
            json.dump({"tracked": sum(kinds.values()), "top": kinds.most_common(5)}, f)
    signal.signal(signal.SIGUSR1, _census)
"""


def one_turn(code: Path, args: argparse.Namespace) -> dict[str, object]:
    """One probed step of the code at ``code``."""
    folder = Path(tempfile.mkdtemp(prefix="serve-gc-"))
    probe = b._mk(folder / "probe")
    (probe / "sitecustomize.py").write_text(PROBE)
    os.environ["SERVE_GC_OUT"] = str(probe)
    net = b.free_port(b.UAS_IP)
    uas = b.start_uas(folder, net)
    try:
        system = b.start_sipguard(b._mk(folder / "sg"), net, Path(f"{probe}:{code}"))
    finally:
        del os.environ["SERVE_GC_OUT"]
    try:
        b.run_step(folder, system, "bridge", 50, 1)
        pid = system.proc.pid
        timer = threading.Timer(args.seconds * 0.75, os.kill, (pid, signal.SIGUSR1))
        began = time.time()
        timer.start()
        step = b.run_step(folder, system, "bridge", args.rate, args.seconds)
        ended = time.time()
        timer.join()
    finally:
        system.stop()
        uas.kill()
        uas.wait()
    return {**passes(probe / f"gc.{pid}.log", began, ended), **census(probe, pid),
            "failed": step.failed}  # fmt: skip


def passes(log: Path, began: float, ended: float) -> dict[str, object]:
    """Per generation: passes during the step, their median and largest wall time (ms)."""
    by_gen: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for line in log.read_text().splitlines() if log.exists() else []:
        at, generation, ms = line.split()
        if began <= float(at) <= ended:
            by_gen[int(generation)].append(float(ms))
    out: dict[str, object] = {}
    for gen, times in by_gen.items():
        out[f"gen{gen}"] = (
            f"{len(times)} passes, median {statistics.median(times):.2f} ms, "
            f"max {max(times):.2f} ms"
            if times
            else "0 passes"
        )
    return out


def census(probe: Path, pid: int) -> dict[str, object]:
    """The tracked objects counted at three quarters of the step."""
    path = probe / f"census.{pid}.json"
    if not path.exists():
        return {"tracked": None}
    found = json.loads(path.read_text())
    return {"tracked": found["tracked"], "most_common": found["top"]}


def main() -> int:
    """Run the turns and print each one."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, default=400, help="CPS of the probed step")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the probed step")
    ap.add_argument("--rounds", type=int, default=2, help="turns per side")
    ap.add_argument("--old", help="git revision measured in turns with this checkout")
    args = ap.parse_args()
    sides = [("new", ROOT)]
    if args.old:
        old = extract(args.old, Path(tempfile.mkdtemp(prefix="serve-gc-old-")))
        sides.insert(0, ("old", old))
    for turn in range(args.rounds):
        for name, code in sides:
            print(f"{name} turn {turn + 1}: {json.dumps(one_turn(code, args))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
