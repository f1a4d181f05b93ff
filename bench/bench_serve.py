"""Calls per second through ``sipguard serve`` against Kamailio, in the same run, same sipp pair.

    .venv/bin/python bench/bench_serve.py [--seconds 5] [--steps 100,200,...] [--json]

A sipp UAC on the Acme trunk address (127.0.0.2) calls through the system under test to a
sipp UAS on the network address (127.0.0.4).  For each system the call rate is stepped up
until a step has a failed call (a failing step is tried once more, since near the knee a
run either stays clean or collapses); the last clean step is its max CPS.  This is done
for bridged calls and for reject-only load (an unfiled caller: sipguard answers 403
CALLER_UNREGISTERED after journaling, Kamailio a stateless 403 with the same Reason).
Then both systems run at half sipguard's bridged peak to measure the post-dial delay
(INVITE to 200, or INVITE to 403 for rejections), p50 and p99.

Kamailio is the baseline of ``bench/kamailio/kamailio.cfg`` (tm + rr + sl, 4 children,
``-m 512 -M 16``).  Everything shares the machine's cores, so compare the ratios only.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
SIPP = shutil.which("sipp") or "sipp"
UAC_IP, UAS_IP, SUT_IP = "127.0.0.2", "127.0.0.4", "127.0.0.1"
CALLER, CALLEE, UNFILED = "4008001234", "13800138000", "4001112222"
DEFAULT_STEPS = "100,200,300,400,500,600,800,1000,1200,1500,1800,2200"

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
class Step:
    """One sipp run at a fixed rate."""

    rate: int
    created: int
    ok: int
    rtts_ms: list[float] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """Calls that did not complete their scenario."""
        return self.created - self.ok


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


def start_sipguard(folder: Path, net_port: int) -> System:
    """``sipguard serve`` on fresh rules and journal; waits for readiness."""
    (folder / "rules.yaml").write_text(RULES.format(net_port=net_port))
    (folder / "consents.csv").write_text(CONSENTS)
    port = free_port(SUT_IP)
    exe = Path(sys.executable).with_name("sipguard")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "sipguard"]
    log = folder / "serve.log"
    proc = subprocess.Popen(
        [*cmd, "serve", "--rules", str(folder / "rules.yaml"), "--listen", f"{SUT_IP}:{port}"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
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
    """One sipp UAC run at ``rate`` CPS for ``seconds``; counts calls and response times."""
    scenario, caller = (
        ("uac_bridge.xml", CALLER) if mode == "bridge" else ("uac_reject.xml", UNFILED)
    )
    calls = max(1, int(rate * seconds))
    work = Path(tempfile.mkdtemp(dir=folder))
    args = [
        SIPP, "-sf", str(HERE / "scenarios" / scenario), "-i", UAC_IP, "-p", str(free_port(UAC_IP)),
        "-key", "caller", caller, "-key", "callee", CALLEE, "-r", str(rate), "-m", str(calls),
        "-buff_size", "4194304", "-nostdin", "-trace_rtt", "-rtt_freq", "1",
        "-timeout", f"{int(seconds + 20)}s", "-recv_timeout", "8000",
        f"{SUT_IP}:{system.port}",
    ]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, cwd=work, timeout=seconds + 60, check=False)
    text = proc.stdout.decode(errors="replace")
    return Step(rate, _last(text, "Outgoing calls created"), _last(text, "Successful call"),
                _rtts(work))  # fmt: skip


def _last(screen: str, label: str) -> int:
    """The cumulative column of a row of sipp's final statistics screen."""
    rows = re.findall(rf"{label}\s*\|\s*(\d+)\s*\|\s*(\d+)", screen)
    return int(rows[-1][1]) if rows else 0


def _rtts(work: Path) -> list[float]:
    values: list[float] = []
    for path in work.glob("*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 2:
                try:
                    values.append(float(parts[1]))
                except ValueError:
                    continue
    return values


def ramp(folder: Path, system: System, mode: str, steps: list[int], seconds: float) -> int:
    """The highest step with no failed call (a failing step gets one retry)."""
    best = 0
    for rate in steps:
        result = run_step(folder, system, mode, rate, seconds)
        if result.failed:
            time.sleep(2)
            result = run_step(folder, system, mode, rate, seconds)
        print(f"  {system.name:8} {mode:6} {rate:5} cps: {result.ok}/{result.created} ok",
              flush=True)  # fmt: skip
        if result.failed or result.created == 0:
            break
        best = rate
        time.sleep(1.5)
    return best


def pdd(folder: Path, system: System, mode: str, rate: int, seconds: float) -> dict[str, float]:
    """p50/p99 response time (ms) at a fixed rate."""
    step = run_step(folder, system, mode, max(rate, 1), seconds)
    rtts = sorted(step.rtts_ms)
    if not rtts:
        return {"rate": rate, "p50_ms": float("nan"), "p99_ms": float("nan"), "failed": step.failed}
    p99 = rtts[min(len(rtts) - 1, int(len(rtts) * 0.99))]
    return {"rate": rate, "p50_ms": round(statistics.median(rtts), 2), "p99_ms": round(p99, 2),
            "failed": step.failed}  # fmt: skip


def main() -> int:
    """Run the whole comparison and print a summary (JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each rate step")
    parser.add_argument("--steps", default=DEFAULT_STEPS, help="comma-separated CPS steps")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    net_port = free_port(UAS_IP)
    uas = start_uas(folder, net_port)
    systems = [start_sipguard(_mk(folder / "sg"), net_port)]
    systems.append(start_kamailio(_mk(folder / "kam"), net_port))
    summary: dict[str, object] = {}
    try:
        peaks: dict[str, dict[str, int]] = {"bridge": {}, "reject": {}}
        for mode in ("bridge", "reject"):
            for system in systems:
                peaks[mode][system.name] = ramp(folder, system, mode, steps, args.seconds)
        half = max(1, peaks["bridge"]["sipguard"] // 2)
        # Delays are measured on a fresh server: after a ramp that ended in overload the old
        # one still carries the failed step's half-open calls, timers and a large journal.
        systems[0].stop()
        systems[0] = start_sipguard(_mk(folder / "sg-fresh"), net_port)
        delays = {
            mode: {s.name: pdd(folder, s, mode, half, args.seconds) for s in systems}
            for mode in ("bridge", "reject")
        }
        summary = {"max_cps": peaks, "pdd_at_half_sipguard_peak": delays, "ratio": {
            mode: round(peaks[mode]["sipguard"] / max(1, peaks[mode]["kamailio"]), 2)
            for mode in peaks}}  # fmt: skip
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
