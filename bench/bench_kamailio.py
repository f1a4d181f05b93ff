"""Kamailio with the sipguard plugin vs. Kamailio alone (tm + rr + sl), same run, same sipp pair.

For each setup a sipp callee (127.0.0.4) answers and a sipp caller (127.0.0.2) places full
calls (INVITE, 200, ACK, BYE through the proxy) at fixed rates.  Reported per setup and
rate: failed calls, and Kamailio's CPU (user + system, all its processes) per call.  The
highest rate with 0 failures is the setup's clean CPS.  Every plugin call is allowed, screened
and journaled (SQLite state, 4 workers).

    .venv/bin/python bench/bench_kamailio.py --rates 200,400,800 --seconds 5
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "kamailio"))
sys.path.insert(0, str(ROOT))

from live import SCENARIOS, start_kamailio  # noqa: E402
from rulesdata import write_rules  # noqa: E402

from sipguard.adapters.kamailio.cfg import find_module_dir  # noqa: E402

PLUGIN_PORT, PLAIN_PORT, UAS_PORT = 5280, 5281, 5290
TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) used so far by every process in group ``pgid``."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def start_plain(work: Path) -> subprocess.Popen[bytes]:
    """Start the baseline Kamailio from kamailio_plugin/plain.cfg."""
    text = (Path(__file__).with_name("kamailio_plugin") / "plain.cfg").read_text()
    for key, value in {"@LISTEN@": f"127.0.0.1:{PLAIN_PORT}", "@CHILDREN@": "4",
                       "@MPATH@": find_module_dir(),
                       "@TARGET@": f"sip:127.0.0.4:{UAS_PORT}"}.items():  # fmt: skip
        text = text.replace(key, value)
    cfg = work / "plain.cfg"
    cfg.write_text(text)
    argv = ["kamailio", "-DD", "-E", "-f", str(cfg), "-m", "256", "-M", "16", "-w", str(work)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    time.sleep(1.5)
    return proc


def run_calls(port: int, rate: int, seconds: int, work: Path) -> dict[str, float]:
    """Place ``rate * seconds`` calls through the proxy on ``port``; count failures."""
    calls = rate * seconds
    uas = subprocess.Popen(
        ["sipp", "-sf", str(SCENARIOS / "uas_rr.xml"), "-i", "127.0.0.4", "-p", str(UAS_PORT),
         "-buff_size", "4194304", "-nostdin"], cwd=work,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(0.3)
    try:
        uac = subprocess.run(
            ["sipp", "-sf", str(SCENARIOS / "uac_call.xml"), "-i", "127.0.0.2", "-p", "5282",
             "-key", "caller", "4008001234", "-s", "13800138000", "-r", str(rate), "-m",
             str(calls), "-l", str(rate * 4), "-buff_size", "4194304", "-nostdin", "-timeout",
             f"{seconds + 30}s", f"127.0.0.1:{port}"],
            cwd=work, capture_output=True, text=True, timeout=seconds + 60)  # fmt: skip
        output = uac.stdout
    except subprocess.TimeoutExpired:  # the proxy collapsed: sipp never finished
        output = ""
    finally:
        uas.terminate()
        uas.wait(10)
    ok = _last_count(output, "Successful call")
    failed = _last_count(output, "Failed call")
    return {"calls": calls, "ok": ok, "failed": failed if ok + failed else calls}


def _last_count(text: str, label: str) -> int:
    found = re.findall(rf"{label}\s*\|\s*\d+\s*\|\s*(\d+)", text)
    return int(found[-1]) if found else 0


def measure(name: str, pgid: int, port: int, rates: list[int], seconds: int, work: Path
            ) -> list[dict[str, float]]:  # fmt: skip
    rows = []
    for rate in rates:
        before = group_cpu(pgid)
        result = run_calls(port, rate, seconds, work)
        cpu = group_cpu(pgid) - before
        row = {"setup": name, "rate": rate, **result,
               "cpu_us_per_call": round(cpu / max(1, result["calls"]) * 1e6, 1)}  # fmt: skip
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="200,400,800")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--journal-sync", choices=("full", "normal"), default="normal")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-kamailio-"))
    rules = write_rules(work / "rules", port=UAS_PORT, cap=10**9)
    plugin = start_kamailio(
        rules, PLUGIN_PORT, children=4, debug=1, extra=("--journal-sync", args.journal_sync)
    )
    plain = start_plain(work)
    try:
        rows = measure("plugin", plugin.proc.pid, PLUGIN_PORT, rates, args.seconds, work)
        rows += measure("plain", plain.pid, PLAIN_PORT, rates, args.seconds, work)
    finally:
        plugin.stop()
        os.killpg(plain.pid, signal.SIGTERM)
        plain.wait(10)
    for setup in ("plugin", "plain"):
        clean = [r["rate"] for r in rows if r["setup"] == setup and r["failed"] == 0]
        print(f"{setup}: max clean CPS {max(clean, default=0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
