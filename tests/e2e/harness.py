"""Helpers for end-to-end tests: a real ``sipguard serve`` subprocess and real sipp peers.

Every peer has its own loopback address: the Acme trunk 127.0.0.2, the Beta trunk
127.0.0.3, the carrier network 127.0.0.4, an unlisted stranger 127.0.0.9; sipguard itself
listens on 127.0.0.1.  Ports are picked free at run time so parallel runs do not collide.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from tests.rulesets import loopback

SCENARIOS = Path(__file__).parent / "scenarios"
SIPGUARD = Path(__file__).resolve().parents[2]
ACME, BETA, NETWORK, STRANGER = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9"
SIPP = shutil.which("sipp")

CONSENTS = """\
callee,number,credential,granted_at,expires_at
13800138000,4008001234,E2E-CONSENT-1,2020-01-01T00:00:00,2099-01-01T00:00:00
"""


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host`` (best effort)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def write_rules(
    folder: Path, trunk_port: int, net_port: int, network_peers: tuple[str, ...] = (NETWORK,)
) -> Path:
    """Write the loopback ruleset and consents into ``folder``; returns the rules path."""
    layout = loopback(
        acme=(ACME, f"sip:{ACME}:{trunk_port}"),
        network=(NETWORK, f"sip:{NETWORK}:{net_port}"),
        beta=(BETA, f"sip:{BETA}:{trunk_port}"),
    )
    rules = folder / "rules.yaml"
    rules.write_text(replace(layout, network_peers=network_peers).text())
    (folder / "consents.csv").write_text(CONSENTS)
    return rules


def sipguard_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m sipguard``."""
    script = Path(sys.executable).with_name("sipguard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sipguard"]


@dataclass
class Served:
    """A running ``sipguard serve`` subprocess."""

    proc: subprocess.Popen[bytes]
    host: str
    port: int
    folder: Path
    trunk_port: int
    net_port: int
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.folder / "serve.log"

    def log_text(self) -> str:
        """Everything the server logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def rss_kib(self) -> int:
        """Resident set size of the server process."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> int:
        """SIGTERM, wait, and SIGKILL if it does not go; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


def start_serve(folder: Path, rules: Path, port: int, trunk_port: int, net_port: int) -> Served:
    """Start the server and wait until it logs readiness (10 s at most)."""
    log = (folder / "serve.log").open("wb")
    proc = subprocess.Popen(
        [*sipguard_command(), "serve", "--rules", str(rules), "--listen", f"127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=folder,
    )
    served = Served(proc, "127.0.0.1", port, folder, trunk_port, net_port)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if "serve.ready" in served.log_text():
            return served
        if proc.poll() is not None:
            raise RuntimeError(f"sipguard serve exited {proc.returncode}:\n{served.log_text()}")
        time.sleep(0.05)
    served.stop()
    raise RuntimeError(f"sipguard serve not ready:\n{served.log_text()}")


@dataclass
class SippRun:
    """The outcome of one sipp process."""

    returncode: int
    output: str
    errors: str
    logs: str


def sipp_args(scenario: str, ip: str, port: int, folder: Path, tag: str, *extra: str) -> list[str]:
    """Common sipp arguments: scenario, bound address, traces into ``folder``."""
    assert SIPP is not None
    return [
        SIPP, "-sf", str(SCENARIOS / scenario), "-i", ip, "-p", str(port),
        "-buff_size", "4194304", "-nostdin", "-trace_err", "-trace_logs",
        "-error_file", str(folder / f"{tag}.err"), "-log_file", str(folder / f"{tag}.log"),
        *extra,
    ]  # fmt: skip


class Uas:
    """A sipp UAS running in the background until it has handled ``calls`` calls."""

    def __init__(self, folder: Path, scenario: str, ip: str, port: int, *extra: str) -> None:
        self.folder = folder
        self.tag = f"uas-{port}-{time.monotonic_ns()}"
        args = sipp_args(scenario, ip, port, folder, self.tag, *extra)
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        time.sleep(0.2)

    def wait(self, timeout: float = 30) -> SippRun:
        """Wait for the UAS to finish (killed after ``timeout``)."""
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return _collect(self.proc.returncode, out, self.folder, self.tag)

    def kill(self) -> None:
        """Stop the UAS if it still runs."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def run_uac(
    folder: Path, scenario: str, ip: str, target: str, *extra: str, timeout: float = 30
) -> SippRun:
    """Run a sipp UAC to completion."""
    port = free_port(ip)
    tag = f"uac-{port}-{time.monotonic_ns()}"
    args = [*sipp_args(scenario, ip, port, folder, tag, *extra), target]
    try:
        proc = subprocess.run(
            args, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False
        )
        code, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, out = -9, (exc.stdout or b"")
    return _collect(code, out, folder, tag)


def _collect(code: int | None, out: bytes, folder: Path, tag: str) -> SippRun:
    def read(name: str) -> str:
        path = folder / name
        return path.read_text(errors="replace") if path.exists() else ""

    return SippRun(int(code or 0), out.decode(errors="replace"), read(f"{tag}.err"),
                   read(f"{tag}.log"))  # fmt: skip


def environment_ok() -> str | None:
    """Why end-to-end tests cannot run here, or None."""
    if SIPP is None:
        return "sipp (Debian sip-tester) is not installed"
    if not os.path.exists("/proc/self/status"):
        return "needs /proc"
    return None


def serve_in(folder: Path, network_peers: tuple[str, ...] = (NETWORK,)) -> Served:
    """Write rules into ``folder`` and start a server on free ports."""
    trunk_port, net_port = free_port(ACME), free_port(NETWORK)
    rules = write_rules(folder, trunk_port, net_port, network_peers)
    return start_serve(folder, rules, free_port(), trunk_port, net_port)
