"""Helpers that start a real Kamailio with the plugin and drive it with sipp on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SCENARIOS = Path(__file__).with_name("scenarios")
ROOT = Path(__file__).resolve().parents[2]


def tools_present() -> bool:
    """True when kamailio, its Python module and sipp are installed."""
    return bool(shutil.which("kamailio") and shutil.which("sipp"))


def _wait_udp(host: str, port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.settimeout(0.3)
            msg = (
                f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{s.getsockname()[1]};branch=z9hG4bKprobe\r\n"
                "From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:probe@127.0.0.1>\r\n"
                "Call-ID: probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 5\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            try:
                s.sendto(msg.encode(), (host, port))
                s.recv(4096)
                return
            except OSError:
                time.sleep(0.2)
    raise TimeoutError(f"kamailio did not answer on {host}:{port}")


@dataclass
class Kamailio:
    """A running Kamailio started through ``sipguard kamailio run``."""

    proc: subprocess.Popen[bytes]
    workdir: Path
    log: Path

    def stop(self) -> None:
        """Stop Kamailio and every child it forked."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def start_kamailio(
    rules: Path,
    port: int,
    children: int = 4,
    state: str = "sqlite",
    debug: int = 2,
    extra: tuple[str, ...] = (),
    *,
    log_calls: bool = True,
    env: dict[str, str] | None = None,
    root: Path = ROOT,
) -> Kamailio:
    """Start Kamailio with the plugin on 127.0.0.1:``port`` and wait until it answers.

    ``log_calls`` turns on the plugin's info line per decided call (off by default in the
    plugin; the tests read it to see which worker decided).  ``root`` is the tree whose
    ``sipguard`` runs (another revision's, for a benchmark; put it on ``PYTHONPATH`` too).
    """
    workdir = rules.parent
    log = workdir / "kamailio.log"
    argv = [sys.executable, "-m", "sipguard", "kamailio", "run", "--rules", str(rules),
            "--listen", f"127.0.0.1:{port}", "--children", str(children), "--no-tcp",
            "--state", state, "--workdir", str(workdir), "--debug", str(debug), *extra]  # fmt: skip
    environ = {**os.environ, **(env or {}), "SIPGUARD_LOG_CALLS": "1" if log_calls else "0"}
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=root,
                                env=environ, start_new_session=True)  # fmt: skip
    k = Kamailio(proc, workdir, log)
    try:
        _wait_udp("127.0.0.1", port, time.monotonic() + 15)
    except TimeoutError:
        k.stop()
        raise
    return k


def sipp(scenario: str, target: str, ip: str, port: int, workdir: Path, *args: str,
         calls: int = 1, timeout: float = 15) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run one sipp instance to completion; its message trace lands in ``workdir``."""
    argv = ["sipp", "-sf", str(SCENARIOS / scenario), "-i", ip, "-p", str(port),
            "-m", str(calls), "-timeout", f"{int(timeout)}s", "-timeout_error",
            "-buff_size", "4194304", "-trace_msg", "-nostdin", *args]  # fmt: skip
    if target:
        argv.append(target)
    return subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=timeout + 5)


def start_uas(ip: str, port: int, workdir: Path, calls: int) -> subprocess.Popen[str]:
    """Start a sipp callee in the background that answers ``calls`` calls."""
    argv = ["sipp", "-sf", str(SCENARIOS / "uas_rr.xml"), "-i", ip, "-p", str(port),
            "-m", str(calls), "-buff_size", "4194304", "-trace_msg", "-nostdin"]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    time.sleep(0.3)
    return proc


def reason_headers(workdir: Path, scenario: str) -> list[str]:
    """Every Reason header value received by sipp instances of ``scenario`` in ``workdir``."""
    found = []
    for path in sorted(workdir.glob(f"{Path(scenario).stem}_*_messages.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("Reason:"):
                found.append(line.partition(":")[2].strip())
    return found
