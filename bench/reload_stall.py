"""The event-loop stall of a hot reload of a registry-scale numbers CSV in ``serve``.

    .venv/bin/python bench/reload_stall.py [--numbers 1000000] [--trunks 10000] [--trace MS]

Starts serve's reload watcher (``adapters.server.reload.RulesWatcher``, the one serve runs)
on an asyncio loop with the rules loaded and the collector tuned as serve has them, and a probe task
that wakes every millisecond and records how late it woke.  A call in flight is answered
by that same loop, so a probe that wakes N ms late means every call in flight waited up to
N ms more: the probe's lateness bounds the post-dial delay the reload adds.  Halfway
through, a new numbers.csv export (one more row) is written by atomic rename (in a thread,
as another process would write it, so the loop does not copy 40 MB itself); the watcher
loads it in a worker thread and swaps it in on the loop, as serve does (``gc.freeze``
after the swap).  It prints the probe's lateness before and during the reload (p50, p99,
max), split into the load (worker thread) and the swap with the freeing of the old rules
(on the loop), and whether the max stays under 50 ms.  ``--trace MS`` also lists every
wake-up later than MS ms, in seconds since the new export, with the swap marked, to line
the stalls up with a profile.  Bounded: one reload, at most 120 s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_numbers import write

if TYPE_CHECKING:
    from sipguard.policy.ruleset import Ruleset

LIMIT_MS = 50.0


async def _probe(lateness: list[tuple[float, float]], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + 0.001
        await asyncio.sleep(0.001)
        lateness.append((loop.time(), (loop.time() - due) * 1000))


async def measure(rules_path: Path) -> dict[str, object]:
    import structlog

    from sipguard.adapters.server.reload import RulesWatcher
    from sipguard.gctune import tune_for_serving
    from sipguard.policy import load_rules

    current = [load_rules(rules_path)]
    tune_for_serving()  # as serve starts: the loaded rules frozen, the same thresholds
    swapped: list[float] = []

    def apply(new: Ruleset) -> None:
        current[0] = new
        gc.freeze()
        swapped.append(asyncio.get_running_loop().time())

    log = structlog.get_logger("bench")
    watcher = RulesWatcher(rules_path, None, load_rules, apply, log, 0.2, current=current[0])
    lateness: list[tuple[float, float]] = []
    stop = asyncio.Event()
    probe = asyncio.get_running_loop().create_task(_probe(lateness, stop))
    watcher.start()
    await asyncio.sleep(2.0)
    began = asyncio.get_running_loop().time()
    await asyncio.to_thread(_new_export, rules_path.with_name("numbers.csv"))
    deadline = began + 100
    while not swapped and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(2.0)  # the old rules are dropped and collected meanwhile
    stop.set()
    await probe
    watcher.stop()
    swap = swapped[0] if swapped else float("inf")
    before = [ms for t, ms in lateness if t < began]
    during = [ms for t, ms in lateness if t >= began]
    loading = [ms for t, ms in lateness if began <= t < swap]
    after = [ms for t, ms in lateness if t >= swap]  # the swap, and freeing the old rules
    return {"swapped": bool(swapped), "reload_s": (swapped[0] - began) if swapped else None,
            "before": _stats(before), "during": _stats(during), "loading": _stats(loading),
            "swap": _stats(after), "began": began, "swap_at": swap,
            "lateness": lateness}  # fmt: skip


def _new_export(csv: Path) -> None:
    """One more row, written to a temporary file and renamed over the export."""
    tmp = csv.with_suffix(".tmp")
    tmp.write_bytes(csv.read_bytes() + b"3999999999,op0,t0,true,false,,2026-01-01,\n")
    os.replace(tmp, csv)


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)
    return {"p50": statistics.median(ordered), "p99": ordered[int(0.99 * (len(ordered) - 1))],
            "max": ordered[-1]}  # fmt: skip


def _trace(got: dict[str, object], over: float) -> None:
    began, swap, lateness = got["began"], got["swap_at"], got["lateness"]
    assert isinstance(began, float) and isinstance(swap, float) and isinstance(lateness, list)
    print(f"swap at {swap - began:.3f} s; wake-ups later than {over:g} ms:")
    for t, ms in lateness:
        if ms > over:
            print(f"  {t - began:8.3f} s  {ms:7.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--numbers", type=int, default=1_000_000)
    ap.add_argument("--trunks", type=int, default=10_000)
    ap.add_argument("--trace", type=float, default=None, metavar="MS",
                    help="list every wake-up later than MS ms")  # fmt: skip
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rules = write(Path(tmp), args.numbers, args.trunks, inline=False)
        started = time.perf_counter()
        got = asyncio.run(asyncio.wait_for(measure(rules), 120))
    print(f"{args.numbers:,} numbers, reload swapped: {got['swapped']}, "
          f"{got['reload_s']:.2f} s from the new export to the swap "
          f"(run {time.perf_counter() - started:.0f} s)")  # fmt: skip
    labels = {"before": "before the reload", "during": "during the reload",
              "loading": "  while loading", "swap": "  at the swap, after"}  # fmt: skip
    for name, label in labels.items():
        s = got[name]
        assert isinstance(s, dict)
        print(f"probe lateness {label:20}: p50 {s['p50']:6.2f} ms  "
              f"p99 {s['p99']:6.2f} ms  max {s['max']:7.2f} ms")  # fmt: skip
    if args.trace is not None:
        _trace(got, args.trace)
    during = got["during"]
    assert isinstance(during, dict)
    print(f"max lateness during the reload under {LIMIT_MS:.0f} ms: "
          f"{'yes' if during['max'] < LIMIT_MS else 'no'}")  # fmt: skip


if __name__ == "__main__":
    main()
