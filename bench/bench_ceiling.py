"""What a bare Python process reaches on ``bench_serve.py``'s harness, next to Kamailio.

    .venv/bin/python bench/bench_ceiling.py [--seconds 4] [--steps 200,400,...] [--no-fsync]
        [--fixed-rate 400] [--json]

The responders of ``bench/bare/responder.py`` go through exactly what ``bench_serve.py``
puts ``sipguard serve`` through, in the same run as Kamailio (``bench/kamailio/kamailio.cfg``,
4 children) and on the same sipp pair: the same scenarios, the same step ramp and clean rule
of ``bench/steps.py`` (no failed call, INVITE-to-final p99 of at most 50 ms), and the same
CPU per call of each system's whole process group at ``--fixed-rate`` (measured before the
ramp, on a system no overload has touched yet):
- ``bare-403``: a uvloop UDP responder that answers each INVITE with a 403 built from its
  copied header lines, against Kamailio's stateless 403 (reject-only load);
- ``bare-403+fsync``: the same, after appending a line per INVITE to a file made durable with
  one fdatasync per event-loop wakeup (the floor of a decision durable before its answer);
- ``bare-relay``: a stateless relay to the sipp UAS, against Kamailio's stateful tm relay
  (bridged calls); it keeps no transaction, so it does less per call than Kamailio does.
Each does far less than a policy edge must, so a Python process doing the edge's work is
unlikely to beat them: they bound what ``bench_serve.py``'s ratios can reach on the machine.
Everything shares the machine's cores; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve import (
    DEFAULT_STEPS,
    SUT_IP,
    UAS_IP,
    System,
    _mk,
    free_port,
    run_step,
    start_kamailio,
    start_uas,
)
from steps import MAX_RATE, ramp, wait_for_line

HERE = Path(__file__).resolve().parent
RESPONDER = HERE / "bare" / "responder.py"
# name -> (responder arguments, the load it takes)
BARE: dict[str, tuple[list[str], str]] = {
    "bare-403": (["reject"], "reject"),
    "bare-403+fsync": (["reject", "--journal", "journal.txt"], "reject"),
    "bare-relay": (["relay"], "bridge"),
}


def start_bare(name: str, folder: Path, net_port: int) -> System:
    """One bare responder in its own process group; waits for its ready line."""
    port = free_port(SUT_IP)
    argv = [sys.executable, str(RESPONDER), *BARE[name][0], "--listen", f"{SUT_IP}:{port}",
            "--target", f"{UAS_IP}:{net_port}"]  # fmt: skip
    log = folder / "responder.log"
    proc = subprocess.Popen(
        argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        cwd=folder, start_new_session=True,
    )  # fmt: skip
    wait_for_line(proc, log, b"ready", 10)
    return System(name, port, proc)


@dataclass(frozen=True, slots=True)
class Measured:
    """One system on one load: its clean CPS, and the fixed-rate step's summary."""

    clean_cps: int
    fixed: dict[str, float | int | bool]

    @property
    def cpu_us(self) -> float:
        """CPU per call of the system's process group at the fixed rate (us)."""
        return float(self.fixed["cpu_us_per_call"])


def measure(folder: Path, system: System, mode: str, args: argparse.Namespace) -> Measured:
    """The system's CPU per call at the fixed rate, then its clean CPS for ``mode``.

    The fixed step comes first, so that no overloaded step's retransmissions and timers are
    still running in it."""
    fixed = run_step(folder, system, mode, args.fixed_rate, max(6.0, args.seconds)).row()
    print(f"  {system.name:14} {mode:6} fixed {json.dumps(fixed)}", flush=True)
    time.sleep(1.5)
    steps = [int(s) for s in args.steps.split(",")]
    best, _ = ramp(lambda rate: run_step(folder, system, mode, rate, args.seconds), steps,
                   f"{system.name} {mode}", args.max_rate)  # fmt: skip
    time.sleep(2)  # let a collapsed last step drain before the next load
    return Measured(best, fixed)


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def ratios(results: dict[str, dict[str, Measured]], rate: int) -> dict[str, float]:
    """Each bare system against Kamailio on the same load: clean CPS and CPU per call."""
    out: dict[str, float] = {}
    for name, (_, mode) in BARE.items():
        if name in results:
            mine, kam = results[name][mode], results["kamailio"][mode]
            out[f"{name} / kamailio, {mode} clean CPS"] = _ratio(mine.clean_cps, kam.clean_cps)
            out[f"{name} / kamailio, {mode} CPU per call at {rate} CPS"] = _ratio(
                mine.cpu_us, kam.cpu_us
            )
    return out


def run(folder: Path, names: list[str], args: argparse.Namespace) -> dict[str, object]:
    """Kamailio on both loads, each bare system on its own, one at a time."""
    net_port = free_port(UAS_IP)
    uas = start_uas(folder, net_port)
    results: dict[str, dict[str, Measured]] = {}
    try:
        kam = start_kamailio(_mk(folder / "kam"), net_port)
        try:
            results["kamailio"] = {m: measure(folder, kam, m, args) for m in ("reject", "bridge")}
        finally:
            kam.stop()
        for name in names:
            bare = start_bare(name, _mk(folder / name), net_port)
            try:
                results[name] = {BARE[name][1]: measure(folder, bare, BARE[name][1], args)}
            finally:
                bare.stop()
    finally:
        uas.kill()
        uas.wait()
    systems = {
        name: {mode: asdict(m) for mode, m in loads.items()} for name, loads in results.items()
    }
    return {"systems": systems, "ratios": ratios(results, args.fixed_rate)}


def main() -> int:
    """Run the comparison and print a summary (JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each rate step")
    parser.add_argument("--steps", default=DEFAULT_STEPS, help="comma-separated CPS steps")
    parser.add_argument("--max-rate", type=int, default=MAX_RATE, help="stop stepping here")
    parser.add_argument("--fixed-rate", type=int, default=400, help="rate of the CPU step")
    parser.add_argument("--no-fsync", action="store_true", help="leave out bare-403+fsync")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    names = [n for n in BARE if not (args.no_fsync and n.endswith("+fsync"))]
    summary = run(Path(tempfile.mkdtemp(prefix="bench-ceiling-")), names, args)
    print(json.dumps(summary, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
