"""TCP abuse against a real server: thousands of idle connections and slowloris streams
from many loopback addresses, while UDP calls keep succeeding."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

from .harness import ACME, NETWORK, Served, Uas, run_uac

SOURCES = [f"127.0.{third}.{fourth}" for third in (20, 21) for fourth in range(1, 26)]  # 50
PER_SOURCE = 40  # 2,000 connections in all, each source within the default cap of 64
SLOW_SOURCES = 10


def open_many(served: Served) -> list[socket.socket]:
    """PER_SOURCE connections from each address in SOURCES (non-blocking connects)."""
    socks = []
    for source in SOURCES:
        for _ in range(PER_SOURCE):
            sock = socket.socket()
            sock.bind((source, 0))
            sock.settimeout(0.0)  # non-blocking
            with contextlib.suppress(BlockingIOError):
                sock.connect((served.host, served.port))
            socks.append(sock)
    return socks


def slowloris(served: Served) -> list[socket.socket]:
    """Streams that start a request and then send one byte now and then."""
    socks = []
    for i in range(SLOW_SOURCES):
        source = (f"127.0.22.{i + 1}", 0)
        sock = socket.create_connection((served.host, served.port), source_address=source)
        sock.sendall(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.22.1\r\n")
        socks.append(sock)
    return socks


def place_calls(served: Served, tmp_path: Path, calls: int) -> tuple[int, int]:
    """Bridged UDP calls through the server; returns the UAC's and UAS's exit codes."""
    uas = Uas(tmp_path, "uas_call.xml", NETWORK, served.net_port, "-m", str(calls), "-d", "0")
    try:
        keys = ("-key", "caller", "4008001234", "-key", "callee", "13800138000")
        uac = run_uac(tmp_path, "uac_call.xml", ACME, f"{served.host}:{served.port}", *keys,
                      "-m", str(calls), "-r", "5", "-d", "0", timeout=60)  # fmt: skip
        return uac.returncode, uas.wait(30).returncode
    finally:
        uas.kill()


def test_udp_calls_go_on_while_tcp_is_abused(served: Served, tmp_path: Path) -> None:
    """2,000 idle connections and slowloris streams neither block calls nor crash the server."""
    idle = open_many(served)
    slow = slowloris(served)
    try:
        time.sleep(1.0)
        assert place_calls(served, tmp_path, 20) == (0, 0), served.log_text()[-3000:]
        deadline = time.monotonic() + 15  # the default message deadline is 10 s
        closed = 0
        while time.monotonic() < deadline and closed < SLOW_SOURCES:
            time.sleep(0.5)
            closed = sum(1 for sock in slow if _closed_by_peer(sock))
        assert closed == SLOW_SOURCES, "slowloris streams were not cut off"
        assert served.proc.poll() is None
        assert "Traceback" not in served.log_text()
    finally:
        for sock in idle + slow:
            sock.close()


def _closed_by_peer(sock: socket.socket) -> bool:
    sock.settimeout(0.0)  # non-blocking
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
