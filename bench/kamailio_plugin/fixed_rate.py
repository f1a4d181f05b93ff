"""The plugin of an older revision, this tree's plugin and plain Kamailio at one fixed rate,
in turns, in one run: the CPU each spends per call, by process.

Where ``bench_kamailio.py`` looks for each setup's capacity (which a loaded machine moves a
lot), this runs every setup at the same rate, low enough that all of them keep up, and
counts the CPU (user + system) of each setup's processes per completed call: Kamailio's
(``kamailio``) and, for the plugin, the journal service's (``python3``).  Each round starts
every setup afresh (its own rules folder and journal, a 1 s warm-up at 50 CPS), so the old
and the new plugin see the same machine within minutes; the medians over the rounds are
reported with their ratios.  Full calls (INVITE, 200, ACK, BYE) as in ``bench_kamailio.py``,
every one allowed and journaled at the default ``--journal-sync full``, 4 workers; plain
Kamailio starts with this tree's allocators (``cfg.MEMORY_MANAGERS``).

    .venv/bin/python bench/kamailio_plugin/fixed_rate.py --old REV [--rate 150] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _entry in (ROOT / "tests" / "kamailio", ROOT, ROOT / "bench", HERE):
    sys.path.insert(0, str(_entry))

from bench_kamailio import PLAIN_PORT, PLUGIN_PORT, UAS_PORT, run_calls  # noqa: E402
from call_path import extract  # noqa: E402
from live import start_kamailio  # noqa: E402
from rulesdata import write_rules  # noqa: E402
from steps import Step, start_plain  # noqa: E402

from sipguard.adapters.kamailio.cfg import MEMORY_MANAGERS, find_module_dir  # noqa: E402


def plugin_step(root: Path, work: Path, rate: int, seconds: float) -> Step:
    """One fixed-rate step through Kamailio with the plugin of the tree at ``root``."""
    rules = write_rules(Path(tempfile.mkdtemp(dir=work)) / "rules", port=UAS_PORT, cap=10**9)
    kam = start_kamailio(rules, PLUGIN_PORT, children=4, debug=1,
                         extra=("--journal-sync", "full"), log_calls=False,
                         env={"PYTHONPATH": str(root)}, root=root)  # fmt: skip
    try:
        run_calls(PLUGIN_PORT, kam.proc.pid, 50, 1, work)  # warm-up
        return run_calls(PLUGIN_PORT, kam.proc.pid, rate, seconds, work)
    finally:
        kam.stop()


def plain_step(work: Path, rate: int, seconds: float) -> Step:
    """One fixed-rate step through plain Kamailio."""
    proc = start_plain(Path(tempfile.mkdtemp(dir=work)), PLAIN_PORT,
                       f"sip:127.0.0.4:{UAS_PORT}", find_module_dir(),
                       managers=MEMORY_MANAGERS)  # fmt: skip
    try:
        run_calls(PLAIN_PORT, proc.pid, 50, 1, work)
        return run_calls(PLAIN_PORT, proc.pid, rate, seconds, work)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def summary(runs: dict[str, list[Step]]) -> dict[str, object]:
    """Median CPU per call of each setup, by process, and the ratios between them."""
    med: dict[str, float] = {}
    out: dict[str, object] = {}
    for name, steps in runs.items():
        rows = [s.row() for s in steps]
        med[name] = statistics.median(float(r["cpu_us_per_call"]) for r in rows)
        names = {n for s in steps for n in s.cpu_by_name}
        by = {n: round(statistics.median(s.cpu_by_name.get(n, 0.0) / max(1, s.ok) * 1e6
                                         for s in steps)) for n in sorted(names)}  # fmt: skip
        out[name] = {"cpu_us_per_call": round(med[name]), "by_process": by,
                     "failed": sum(s.failed for s in steps)}  # fmt: skip
    out["new / old"] = round(med["new"] / med["old"], 2)
    out["new / plain"] = round(med["new"] / med["plain"], 2)
    out["old / plain"] = round(med["old"] / med["plain"], 2)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", required=True, help="git revision measured as the baseline")
    ap.add_argument("--rate", type=int, default=150)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fixed-rate-"))
    old_root = extract(args.old, work / "old")
    runs: dict[str, list[Step]] = {"old": [], "new": [], "plain": []}
    for _ in range(args.rounds):
        for name, root in (("old", old_root), ("new", ROOT)):
            runs[name].append(plugin_step(root, work, args.rate, args.seconds))
            print(json.dumps({"setup": name, **runs[name][-1].row()}), flush=True)
        runs["plain"].append(plain_step(work, args.rate, args.seconds))
        print(json.dumps({"setup": "plain", **runs["plain"][-1].row()}), flush=True)
    print(json.dumps({"rate": args.rate, "old": args.old, **summary(runs)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
