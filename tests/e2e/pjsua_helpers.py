"""Subprocess drivers for the pjsua2 test peer, sipp and ``sipguard serve`` in e2e tests.

pjsua2 can abort the process that loads it, so the tests never import it: every peer runs
as ``python -m peers.pjsua`` and reports JSON lines, which a reader thread
collects. Every process started here is killed when its context ends, pass or fail.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest

ROOT = Path(__file__).resolve().parents[2]
PEER = [sys.executable, "-m", "peers.pjsua"]
SIPGUARD = [sys.executable, "-m", "sipguard"]

needs_pjsua2 = pytest.mark.skipif(
    importlib.util.find_spec("pjsua2") is None,
    reason="pjsua2-python is not installed (pip install -e '.[pjsua]')",
)
needs_sipp = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed")


class PeerProcess:
    """One pjsua2 peer subprocess and the JSON events it has printed so far."""

    def __init__(self, mode: str, args: list[str], log_dir: Path, timeout: float = 20.0) -> None:
        self.timeout = timeout
        self.command = [*PEER, mode, *args, "--timeout", str(timeout)]
        name = f"pjsua-{mode}-{args[args.index('--bind') + 1].replace(':', '_')}"
        self.stderr_path = log_dir / f"{name}.log"
        self.events: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._stderr: TextIO | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> PeerProcess:
        self._stderr = self.stderr_path.open("w", encoding="utf-8")
        self._proc = subprocess.Popen(
            self.command,
            cwd=ROOT / "tests",
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith("{"):
                with self._changed:
                    self.events.append(json.loads(line))
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        """Block until an event of ``kind`` has been printed; fail the test otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [e for e in self.events if e.get("event") == kind]
                if found:
                    return found[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._proc is not None and self._proc.poll() is not None):
                    break
                self._changed.wait(min(remaining, 0.1))
        raise AssertionError(f"no {kind!r} event from {self.command}: {self.describe()}")

    def finish(self, timeout: float | None = None) -> int:
        """Wait for the peer to exit (killing it after ``timeout``) and return its status."""
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout if timeout is not None else self.timeout + 10)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"peer did not exit: {self.describe()}") from None
        if self._reader is not None:
            self._reader.join(5)
        return code

    def kill(self) -> None:
        """Kill the peer if it still runs, and close its log."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)
        if self._stderr is not None:
            self._stderr.close()

    def of(self, kind: str) -> list[dict[str, Any]]:
        """Every event of ``kind`` so far, in order."""
        return [e for e in self.events if e.get("event") == kind]

    def describe(self) -> str:
        """The events and the tail of the log, for assertion messages."""
        tail = self.stderr_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        return f"events={json.dumps(self.events)[-3000:]} stderr_tail={tail!r}"


def uac(log_dir: Path, bind: str, from_uri: str, to: str, *extra: str) -> PeerProcess:
    """A pjsua2 UAC that places one call (start it with ``with``)."""
    return PeerProcess("uac", ["--bind", bind, "--from", from_uri, "--to", to, *extra], log_dir)


def uas(log_dir: Path, bind: str, *extra: str) -> PeerProcess:
    """A pjsua2 UAS that answers calls (start it with ``with``)."""
    return PeerProcess("uas", ["--bind", bind, *extra], log_dir)


def sipp(cwd: Path, *args: str, timeout: float = 20.0) -> subprocess.Popen[bytes]:
    """Start sipp without a terminal, with a global timeout, in ``cwd``."""
    command = ["sipp", "-nostdin", "-timeout", f"{int(timeout)}s", "-timeout_error", *args]
    return subprocess.Popen(
        command,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """Wait for a process to exit, killing it after ``timeout``; return its status."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        raise AssertionError(f"{proc.args!r} did not exit within {timeout}s") from None


class ServerUnavailable(AssertionError):
    """``sipguard serve`` exited or never listened, so no call could be tested through it."""


@contextlib.contextmanager
def sipguard_serve(rules: Path, listen: str, timeout: float = 10.0) -> Iterator[Path]:
    """Run ``sipguard serve`` on ``listen`` until the block ends; yield its log file."""
    host, _, port = listen.rpartition(":")
    log_path = rules.parent / "serve.log"
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [*SIPGUARD, "serve", "--rules", str(rules), "--listen", listen],
            cwd=rules.parent,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_listening(proc, host, int(port), timeout, log_path)
            yield log_path
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def _wait_listening(
    proc: subprocess.Popen[bytes], host: str, port: int, timeout: float, log_path: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-1500:]
            raise ServerUnavailable(f"sipguard serve exited with {proc.returncode}: {tail}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                pass
        except OSError:
            time.sleep(0.05)
            continue
        time.sleep(0.2)  # a server that lost the bind to a stale one exits at once
        if proc.poll() is None:
            return
    raise ServerUnavailable(f"sipguard serve did not listen on {host}:{port} in {timeout}s")
