"""A running ``sipguard serve`` watched from outside: started with metrics, its tables, its
peak RSS, and when it has gone idle.  Used by ``fuzz_serve.py``."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from bench_serve import CONSENTS, RULES, SUT_IP, System, free_port
from steps import group_cpu


def rss_kb(pid: int) -> int:
    """The resident set size of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def memory_map(pid: int) -> dict[str, int]:
    """``pid``'s resident KiB by kind of mapping: the main heap, other anonymous memory
    (the interpreter's small-object arenas, large blocks, threads' heaps) and files."""
    out = {"heap_kb": 0, "anon_kb": 0, "file_kb": 0}
    kind = "file_kb"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and len(fields) >= 5:  # a mapping's header line
            name = fields[5] if len(fields) > 5 else ""
            kind = "heap_kb" if name == "[heap]" else "anon_kb" if not name else "file_kb"
            kind = "anon_kb" if name.startswith("[anon") else kind
        elif fields and fields[0] == "Rss:":
            out[kind] += int(fields[1])
    return out


def free_tcp_port(host: str) -> int:
    """A free TCP port on ``host`` (for the metrics endpoint)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_server(folder: Path, net_port: int) -> tuple[System, str]:
    """``sipguard serve`` with its metrics endpoint; waits for readiness."""
    (folder / "rules.yaml").write_text(RULES.format(net_port=net_port))
    (folder / "consents.csv").write_text(CONSENTS)
    port, metrics = free_port(SUT_IP), f"{SUT_IP}:{free_tcp_port(SUT_IP)}"
    exe = Path(sys.executable).with_name("sipguard")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "sipguard"]
    log = folder / "serve.log"
    proc = subprocess.Popen(
        [*cmd, "serve", "--rules", str(folder / "rules.yaml"), "--listen", f"{SUT_IP}:{port}",
         "--metrics", metrics],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while b"serve.ready" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"sipguard did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return System("sipguard", port, proc), metrics


def tables(metrics: str, timeout: float = 10.0) -> dict[str, float]:
    """Live and settled transactions, calls and timers from the server's metrics."""
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=timeout) as reply:
        text = reply.read().decode()
    out = {}
    for key, name in (("transactions", "sipguard_serve_transactions"),
                      ("settled", "sipguard_serve_settled_transactions"),
                      ("calls", "sipguard_serve_calls_in_progress"),
                      ("timers", "sipguard_serve_timers")):  # fmt: skip
        found = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
        out[key] = float(found.group(1)) if found else -1.0
    return out


class Peak(threading.Thread):
    """Samples a process's RSS every 0.5 s and keeps the highest; with ``metrics``, also
    reads the live tables every ``every`` s, keeping those read nearest the highest RSS
    (``at_peak``) and the highest of each (``most``)."""

    def __init__(self, pid: int, metrics: str | None = None, every: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()
        self.metrics, self.every = metrics, every
        self.at_peak: dict[str, float] = {}
        self.most: dict[str, float] = {}
        self._read_at_kb = 0

    def run(self) -> None:
        last = 0.0
        while not self.done.wait(0.5):
            try:
                rss = rss_kb(self.pid)
            except OSError:
                return
            self.peak = max(self.peak, rss)
            if self.metrics and time.monotonic() - last >= self.every:
                last = time.monotonic()
                self._read_tables(rss)

    def _read_tables(self, rss: int) -> None:
        try:
            live = tables(self.metrics or "", timeout=2.0)
        except OSError:
            return  # the endpoint is slow under the flood: the next sample will do
        for key, value in live.items():
            self.most[key] = max(self.most.get(key, value), value)
        if rss >= self._read_at_kb:
            self._read_at_kb, self.at_peak = rss, {"rss_kb": float(rss), **live}


def wait_idle(pgid: int, limit: float) -> float:
    """Wait (at most ``limit`` s) until the server uses under 10% of a core; seconds waited."""
    start = time.monotonic()
    last = group_cpu(pgid)
    while time.monotonic() - start < limit:
        time.sleep(2.0)
        now = group_cpu(pgid)
        if now - last < 0.2:
            break
        last = now
    return time.monotonic() - start
