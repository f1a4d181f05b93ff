"""Calls per second through ``sipguard serve`` against Kamailio, in the same run, same sipp pair.

    .venv/bin/python bench/bench_serve.py [--seconds 4] [--steps 200,400,...] [--json]

A sipp UAC on the Acme trunk address (127.0.0.2) calls through the system under test to a
sipp UAS on the network address (127.0.0.4).  Capacity follows ``bench/steps.py``: a step is
clean only with no failed call and an INVITE-to-final p99 of at most 50 ms, and each system
is stepped up until its own first unclean step (past the listed steps while it stays
clean, up to 12,000 CPS), so Kamailio's limit is found, not a top step it still passes.
This is done for bridged calls and for reject-only load (an unfiled caller: sipguard answers
403 CALLER_UNREGISTERED after journaling, Kamailio a stateless 403 with the same Reason).

Then, on a freshly started sipguard and on Kamailio, one fixed step at ``--fixed-rate``
(400 CPS) for each load measures the post-dial delay (INVITE to 200, or to 403), p50 and
p99, and the CPU per call of each system's whole process group (sipguard's journal service
included; all of Kamailio's processes).

Kamailio is the baseline of ``bench/kamailio/kamailio.cfg`` (tm + rr + sl, 4 children,
``-m 512 -M 16``).  Everything shares the machine's cores, so compare the ratios only.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from steps import Step, group_cpu, ramp, run_sipp

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
SIPP = shutil.which("sipp") or "sipp"
UAC_IP, UAS_IP, SUT_IP = "127.0.0.2", "127.0.0.4", "127.0.0.1"
CALLER, CALLEE, UNFILED = "4008001234", "13800138000", "4001112222"
DEFAULT_STEPS = "200,400,600,800,1000,1200,1500,2000,2500,3000,4000,5000,6000"

RULES = """\
version: 1
country_code: "86"
national_prefix: "0"
timezone: "Asia/Shanghai"
operators:
  acme: {{name: "Acme", licence: "B2-1", licence_expires: 2099-12-31,
          harassment_pledge: true, outbound_commitment: true}}
trunks:
  acme-sh-1: {{operator: acme, peers: ["127.0.0.2"], deliver_to: "sip:127.0.0.2:5070"}}
network: {{peers: ["127.0.0.4"], deliver_to: "sip:127.0.0.4:{net_port}"}}
numbers:
  - {{number: "4008001234", operator: acme, trunk: acme-sh-1, inbound: true, outbound: true}}
outbound:
  require_consent: true
  quiet_hours: []
  max_calls_per_callee_per_day: 1000000000
  suspend_after_violations: 1000000000
  violation_window: "1h"
consents: {{file: consents.csv}}
journal: {{path: journal.db, retention_days: 30}}
"""
CONSENTS = "callee,number,credential,granted_at,expires_at\n" + (
    "13800138000,4008001234,BENCH-1,2020-01-01T00:00:00,2099-01-01T00:00:00\n"
)


def free_port(host: str) -> int:
    """A free UDP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class System:
    """A system under test listening on ``port``."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Terminate it (and wait)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_sipguard(folder: Path, net_port: int, code: Path = ROOT) -> System:
    """``sipguard serve`` of the source tree ``code`` (this checkout by default) on fresh
    rules and journal; waits for readiness."""
    (folder / "rules.yaml").write_text(RULES.format(net_port=net_port))
    (folder / "consents.csv").write_text(CONSENTS)
    port = free_port(SUT_IP)
    env = {**os.environ, "PYTHONPATH": str(code)}
    log = folder / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sipguard", "serve", "--rules", str(folder / "rules.yaml"),
         "--listen", f"{SUT_IP}:{port}"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, env=env, cwd=folder,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while b"serve.ready" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"sipguard did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return System("sipguard", port, proc)


def start_kamailio(folder: Path, net_port: int, children: int = 4) -> System:
    """Kamailio with the baseline config; waits until it answers on its port."""
    mpath = next(iter(glob.glob("/usr/lib/*/kamailio/modules")), "/usr/lib/kamailio/modules")
    port = free_port(SUT_IP)
    cfg = (HERE / "kamailio" / "kamailio.cfg").read_text()
    for key, value in {
        "@LISTEN@": f"{SUT_IP}:{port}", "@CHILDREN@": str(children), "@MPATH@": mpath,
        "@TARGET@": f"sip:{UAS_IP}:{net_port}", "@CALLER@": CALLER,
    }.items():  # fmt: skip
        cfg = cfg.replace(key, value)
    (folder / "kamailio.cfg").write_text(cfg)
    proc = subprocess.Popen(
        ["kamailio", "-DD", "-E", "-f", str(folder / "kamailio.cfg"), "-m", "512", "-M", "16",
         "-P", str(folder / "kamailio.pid"), "-Y", str(folder)],
        stdout=(folder / "kamailio.log").open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    time.sleep(1.5)
    if proc.poll() is not None:
        raise RuntimeError((folder / "kamailio.log").read_text())
    return System("kamailio", port, proc)


def start_uas(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """The answering sipp UAS on the network address, for the whole run."""
    return subprocess.Popen(
        [SIPP, "-sf", str(HERE / "scenarios" / "uas_bridge.xml"), "-i", UAS_IP, "-p", str(port),
         "-buff_size", "4194304", "-nostdin", "-max_socket", "20000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder,
    )  # fmt: skip


def run_step(folder: Path, system: System, mode: str, rate: int, seconds: float) -> Step:
    """One sipp UAC run at ``rate`` CPS for ``seconds``, with the system's CPU over it."""
    scenario, caller = (
        ("uac_bridge.xml", CALLER) if mode == "bridge" else ("uac_reject.xml", UNFILED)
    )
    calls = max(1, int(rate * seconds))
    work = Path(tempfile.mkdtemp(dir=folder))
    args = [
        SIPP, "-sf", str(HERE / "scenarios" / scenario), "-i", UAC_IP, "-p", str(free_port(UAC_IP)),
        "-key", "caller", caller, "-key", "callee", CALLEE, "-r", str(rate), "-m", str(calls),
        "-l", str(max(1000, rate * 4)), "-buff_size", "4194304", "-nostdin", "-trace_rtt",
        "-rtt_freq", "1", "-timeout", f"{int(seconds + 20)}s", "-recv_timeout", "8000",
        "-max_socket", "20000", f"{SUT_IP}:{system.port}",
    ]  # fmt: skip
    before = group_cpu(system.proc.pid)
    step = run_sipp(args, work, rate, timeout=seconds + 60)
    step.cpu_s = group_cpu(system.proc.pid) - before
    return step


def ramp_system(folder: Path, system: System, mode: str, args: argparse.Namespace) -> int:
    """The system's highest clean rate for ``mode``."""
    steps = [int(s) for s in args.steps.split(",")]
    best, _ = ramp(lambda rate: run_step(folder, system, mode, rate, args.seconds), steps,
                   f"{system.name} {mode}", args.max_rate)  # fmt: skip
    return best


def fixed(folder: Path, system: System, mode: str, rate: int, seconds: float) -> dict[str, object]:
    """Delays and CPU per call at one fixed rate."""
    step = run_step(folder, system, mode, rate, seconds)
    print(f"  {system.name:8} {mode:6} fixed {json.dumps(step.row())}", flush=True)
    return {**step.row()}


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def report(peaks: dict[str, dict[str, int]], at: dict[str, dict[str, dict[str, object]]],
           rate: int) -> dict[str, object]:  # fmt: skip
    """The issue's figures, each with its target."""
    sg_cpu = float(at["bridge"]["sipguard"]["cpu_us_per_call"])  # type: ignore[arg-type]
    kam_cpu = float(at["bridge"]["kamailio"]["cpu_us_per_call"])  # type: ignore[arg-type]
    return {
        "bridged clean CPS, sipguard / kamailio (>= 0.6)":
            _ratio(peaks["bridge"]["sipguard"], peaks["bridge"]["kamailio"]),
        "rejected clean CPS, sipguard / kamailio stateless 403 (>= 1.0)":
            _ratio(peaks["reject"]["sipguard"], peaks["reject"]["kamailio"]),
        f"sipguard bridged p99 ms at {rate} CPS, fresh server (<= 10)":
            at["bridge"]["sipguard"]["p99_ms"],
        "CPU per bridged call, sipguard / kamailio (<= 2.0)": _ratio(sg_cpu, kam_cpu),
    }  # fmt: skip


def main() -> int:
    """Run the whole comparison and print a summary (JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each rate step")
    parser.add_argument("--steps", default=DEFAULT_STEPS, help="comma-separated CPS steps")
    parser.add_argument("--max-rate", type=int, default=12_000, help="stop stepping here")
    parser.add_argument("--fixed-rate", type=int, default=400, help="rate of the delay step")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    net_port = free_port(UAS_IP)
    uas = start_uas(folder, net_port)
    systems = [start_sipguard(_mk(folder / "sg"), net_port)]
    systems.append(start_kamailio(_mk(folder / "kam"), net_port))
    try:
        peaks = {mode: {s.name: ramp_system(folder, s, mode, args)
                        for s in systems} for mode in ("bridge", "reject")}  # fmt: skip
        # Delays are measured on a fresh server: after a ramp that ended in overload the old
        # one still carries the failed step's half-open calls, timers and a large journal.
        systems[0].stop()
        systems[0] = start_sipguard(_mk(folder / "sg-fresh"), net_port)
        at = {mode: {s.name: fixed(folder, s, mode, args.fixed_rate, max(6.0, args.seconds))
                     for s in systems} for mode in ("bridge", "reject")}  # fmt: skip
        summary = {"clean_cps": peaks, f"at_{args.fixed_rate}_cps": at,
                   "targets": report(peaks, at, args.fixed_rate)}  # fmt: skip
    finally:
        for system in systems:
            system.stop()
        uas.kill()
        uas.wait()
    print(json.dumps(summary, indent=None if args.json else 2))
    return 0


def _mk(path: Path) -> Path:
    path.mkdir()
    return path


if __name__ == "__main__":
    sys.exit(main())
