"""Kamailio with the sipguard plugin vs. Kamailio alone (tm + rr + sl), same run, same sipp pair.

For each setup a sipp callee (127.0.0.4) answers and a sipp caller (127.0.0.2) places full
calls (INVITE, 200, ACK, BYE through the proxy).  Capacity follows ``bench/steps.py``: a
step is clean only with no failed call and an INVITE-to-200 p99 of at most 50 ms, and each
setup, after a 1 s warm-up at 50 CPS, is stepped up until its own first unclean step (past
the listed rates while it stays clean), so plain Kamailio's limit is found.  Reported per
step: failed calls, delays, and the CPU (user + system, every process of the setup:
Kamailio's and, for the plugin, the journal service's, in all and by process name:
``kamailio``, and ``python3`` for the service) per call, and at the end the two
setups' CPU per call at the highest rate both ran clean, with their ratio.  Every call is
allowed, screened and journaled at the plugin's default durability (``--journal-sync
full``: every decision durable before the INVITE is relayed), 4 workers.  Both setups
start with the same allocators (the plugin's ``cfg.MEMORY_MANAGERS``, TLSF) and the same
shared memory, ``--shm-mb`` (1,024 MB by default): tm keeps each transaction there until
its wait timer ends, so at a few thousand calls a second a smaller size, not the CPU, is
what fails first (``500 No error`` from ``t_relay``).

    .venv/bin/python bench/bench_kamailio.py [--rates 200,400,...] [--seconds 4]
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

from live import SCENARIOS, start_kamailio  # noqa: E402
from rulesdata import write_rules  # noqa: E402
from steps import Step, group_cpu_by_name, ramp, run_sipp, start_plain  # noqa: E402

from sipguard.adapters.kamailio.cfg import MEMORY_MANAGERS, find_module_dir  # noqa: E402

PLUGIN_PORT, PLAIN_PORT, UAS_PORT = 5280, 5281, 5290


def run_calls(port: int, pgid: int, rate: int, seconds: float, work: Path) -> Step:
    """Place ``rate * seconds`` calls through the proxy on ``port``; count and time them."""
    calls = max(1, int(rate * seconds))
    step_dir = Path(tempfile.mkdtemp(dir=work))
    uas = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / "uas_rr.xml"), "-i", "127.0.0.4", "-p", str(UAS_PORT),
         "-buff_size", "4194304", "-nostdin", "-max_socket", "20000"], cwd=step_dir,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(0.3)
    args = ["sipp", "-sf", str(SCENARIOS / "uac_call.xml"), "-i", "127.0.0.2", "-p", "5282",
            "-key", "caller", "4008001234", "-s", "13800138000", "-r", str(rate), "-m",
            str(calls), "-l", str(max(1000, rate * 4)), "-buff_size", "4194304", "-nostdin",
            "-trace_rtt", "-rtt_freq", "1", "-max_socket", "20000",
            "-timeout", f"{int(seconds) + 30}s", f"127.0.0.1:{port}"]  # fmt: skip
    before = group_cpu_by_name(pgid)
    try:
        step = run_sipp(args, step_dir, rate, timeout=seconds + 60)
    finally:
        uas.terminate()
        uas.wait(10)
    after = group_cpu_by_name(pgid)
    step.cpu_by_name = {name: cpu - before.get(name, 0.0) for name, cpu in after.items()}
    step.cpu_s = sum(step.cpu_by_name.values())
    return step


def measure(name: str, pgid: int, port: int, args: argparse.Namespace, work: Path
            ) -> tuple[int, dict[int, Step]]:  # fmt: skip
    """The setup's clean CPS and its last step at each clean rate; every step's row is
    printed as a JSON line."""
    rates = [int(r) for r in args.rates.split(",")]
    run_calls(port, pgid, 50, 1, work)  # warm-up: first imports, connections, caches
    best, steps = ramp(lambda rate: run_calls(port, pgid, rate, args.seconds, work), rates,
                       name, args.max_rate)  # fmt: skip
    for step in steps:
        by_process = {"cpu_us_per_call_by_process": step.by_process()} if step.cpu_by_name else {}
        print(json.dumps({"setup": name, **step.row(), **by_process}), flush=True)
    return best, {s.rate: s for s in steps if s.clean}


def cpu_ratio(plugin: dict[int, Step], plain: dict[int, Step]) -> dict[str, object]:
    """CPU per call of both setups at the highest rate both ran clean, their ratio, and the
    plugin's by process."""
    common = sorted(set(plugin) & set(plain))
    if not common:
        return {}
    rate = common[-1]
    ours, base = plugin[rate].row(), plain[rate].row()
    mine, theirs = float(ours["cpu_us_per_call"]), float(base["cpu_us_per_call"])
    return {"rate": rate, "plugin_us": round(mine), "plain_us": round(theirs),
            "plugin / plain": round(mine / theirs, 2),
            "plugin_by_process": plugin[rate].by_process()}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="100,200,400,600,800,1000,1200,1500,2000,2500,"
                        "3000,4000,5000,6000")  # fmt: skip
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--max-rate", type=int, default=12_000)
    parser.add_argument("--shm-mb", type=int, default=1024, help="both Kamailios' -m")
    parser.add_argument("--children", type=int, default=4, help="the plugin Kamailio's workers")
    parser.add_argument(
        "--journal-sync",
        choices=("full", "normal"),
        default="full",
        help="the plugin's journal durability (its default is full)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-kamailio-"))
    rules = write_rules(work / "rules", port=UAS_PORT, cap=10**9)
    plugin = start_kamailio(
        rules,
        PLUGIN_PORT,
        children=args.children,
        debug=1,
        extra=("--journal-sync", args.journal_sync, "--shm-mb", str(args.shm_mb)),
        log_calls=False,
    )
    # The baseline starts with the plugin's allocators, so the two differ only by the plugin.
    plain = start_plain(work, PLAIN_PORT, f"sip:127.0.0.4:{UAS_PORT}", find_module_dir(),
                        memory=(args.shm_mb, 16), managers=MEMORY_MANAGERS)  # fmt: skip
    try:
        plugin_cps, plugin_cpu = measure("plugin", plugin.proc.pid, PLUGIN_PORT, args, work)
        plain_cps, plain_cpu = measure("plain", plain.pid, PLAIN_PORT, args, work)
    finally:
        plugin.stop()
        os.killpg(plain.pid, signal.SIGTERM)
        plain.wait(10)
    ratio = round(plugin_cps / plain_cps, 2) if plain_cps else float("nan")
    print(json.dumps({"clean_cps": {"plugin": plugin_cps, "plain": plain_cps},
                      "journal_sync": args.journal_sync,
                      "plugin / plain clean CPS (>= 0.8)": ratio,
                      "cpu_per_call": cpu_ratio(plugin_cpu, plain_cpu)}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
