"""Soak: mixed sipp traffic with packet loss for ten minutes; memory and tables must stay flat.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 20] [--loss 5]

Four flows run at once through one ``sipguard serve``, every sipp with ``-lost`` (random
loss on send):
- bridged outbound calls (Acme trunk -> network callee, BYE from the caller);
- rejected outbound calls (an unfiled caller: 403);
- inbound calls to Acme's number that the caller CANCELs while they ring;
- inbound calls to Beta's number with a re-INVITE from the caller, a pause, then BYE.

Every 10 s the server's RSS, open file descriptors, live transactions, calls and armed
timers are sampled (the last three from its metrics endpoint).  A call whose sipp gave up
under loss without a BYE stays up until the server's maximum call duration, which the soak
sets to 60 s, and one left ringing (its CANCEL lost) until the ring timeout, set to 30 s, so
that every timer has run out by the final sample.  Targets: RSS within 5%
from the end of the first minute (warm-up) to the end of the traffic, and no transaction
or timer left once the traffic has stopped and its timers have run out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import (  # noqa: E402
    ACME,
    BETA,
    NETWORK,
    SCENARIOS,
    SIPP,
    free_port,
    sipguard_command,
    write_rules,
)

FLOWS = (  # name, UAC scenario, UAC address, caller, callee
    ("bridged", "uac_call.xml", ACME, "4008001234", "13800138000"),
    ("rejected", "uac_reject.xml", ACME, "4001112222", "13800138000"),
    ("cancelled", "uac_cancel.xml", NETWORK, "13900000001", "4008001234"),
    ("reinvite", "uac_reinvite.xml", NETWORK, "13900000002", "4006601234"),
)
UASES = (("uas_call.xml", NETWORK, "net"), ("uas_cancel.xml", ACME, "trunk"),
         ("uas_reinvite.xml", BETA, "trunk"))  # fmt: skip


def sipp(scenario: str, ip: str, port: int, work: Path, *extra: str) -> subprocess.Popen[bytes]:
    """A sipp process with loss and a large socket buffer."""
    assert SIPP is not None
    args = [SIPP, "-sf", str(SCENARIOS / scenario), "-i", ip, "-p", str(port),
            "-buff_size", "4194304", "-nostdin", *extra]  # fmt: skip
    return subprocess.Popen(args, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def metric(text: str, name: str) -> float | None:
    """The value of an unlabelled metric in a Prometheus exposition, or None."""
    found = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def sample(pid: int, metrics_at: str, start: float) -> dict[str, float | None]:
    """One sample of the server's resources."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    with urllib.request.urlopen(f"http://{metrics_at}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {"t": round(time.monotonic() - start), "rss_kb": rss,
            "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "transactions": metric(text, "sipguard_serve_transactions"),
            "calls": metric(text, "sipguard_serve_calls_in_progress"),
            "timers": metric(text, "sipguard_serve_timers")}  # fmt: skip


def sipp_counts(proc: subprocess.Popen[bytes]) -> str:
    """``successful/created`` from a finished sipp UAC's final screen."""
    screen = proc.communicate(timeout=120)[0].decode(errors="replace")
    ok = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    made = re.findall(r"Outgoing calls created\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    return f"{ok[-1] if ok else 0}/{made[-1] if made else 0}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=20, help="calls per second of each flow")
    parser.add_argument("--loss", type=float, default=5.0, help="percent of packets lost")
    parser.add_argument("--settle", type=float, default=100.0,
                        help="seconds after the traffic for timers to run out")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    ports = {"trunk": free_port(), "net": free_port(), "sut": free_port(), "metrics": free_port()}
    rules = write_rules(work, ports["trunk"], ports["net"])
    metrics_at = f"127.0.0.1:{ports['metrics']}"
    server = subprocess.Popen(
        [*sipguard_command(), "serve", "--rules", str(rules), "--listen",
         f"127.0.0.1:{ports['sut']}", "--metrics", metrics_at, "--max-duration", "60",
         "--ring-timeout", "30"],
        cwd=work, stdout=(work / "serve.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    time.sleep(2)
    loss = ("-lost", str(args.loss))
    uases = [sipp(s, ip, ports[p], work, *loss) for s, ip, p in UASES]
    seconds = args.minutes * 60
    start = time.monotonic()
    uacs = {name: sipp(scen, ip, free_port(ip), work, "-key", "caller", caller, "-key",
                       "callee", callee, "-r", str(args.rate), "-m",
                       str(int(args.rate * seconds)), "-timeout", f"{int(seconds + 90)}s",
                       *loss, f"127.0.0.1:{ports['sut']}")
            for name, scen, ip, caller, callee in FLOWS}  # fmt: skip
    samples = []
    try:
        while any(p.poll() is None for p in uacs.values()) and server.poll() is None:
            time.sleep(10)
            samples.append(sample(server.pid, metrics_at, start))
            print(json.dumps(samples[-1]), flush=True)
        results = {name: sipp_counts(proc) for name, proc in uacs.items()}
        time.sleep(args.settle)
        final = sample(server.pid, metrics_at, start)
    finally:
        for proc in [*uases, *uacs.values()]:
            proc.kill()
        server.terminate()
        server.wait(15)
    warm = next((s for s in samples if s["t"] >= 60), samples[0])  # type: ignore[operator]
    growth = round(samples[-1]["rss_kb"] / warm["rss_kb"] - 1, 4)  # type: ignore[operator]
    log = (work / "serve.log").read_text(errors="replace")
    report = {"calls": results, "rss_growth_after_warm_up": growth, "final": final,
              "tracebacks": log.count("Traceback")}  # fmt: skip
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
