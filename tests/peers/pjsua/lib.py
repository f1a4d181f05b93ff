"""Creating the pjsua2 library for the test peer (pjsua2 2.15 as packaged on PyPI).

Invariants:
- one thread drives the library: ``threadCnt=0`` and ``mainThreadOnly``; the caller must
  poll ``libHandleEvents``;
- the library's own log goes to stderr, never to stdout, which carries only JSON events;
- every transport is bound to, and advertises, the address it is given (no STUN, no
  DNS resolver, no UPnP);
- the null sound device is selected before any call, so audio stays on without hardware.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import pjsua2 as pj

TRANSPORTS = {
    ("udp", False): pj.PJSIP_TRANSPORT_UDP,
    ("tcp", False): pj.PJSIP_TRANSPORT_TCP,
    ("udp", True): pj.PJSIP_TRANSPORT_UDP6,
    ("tcp", True): pj.PJSIP_TRANSPORT_TCP6,
}


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Point file descriptor 1 at stderr for a moment, so stdout carries only JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


class StderrLog(pj.LogWriter):  # type: ignore[misc]
    """Sends pjsua2's own log to stderr."""

    def write(self, entry: pj.LogEntry) -> None:
        """Write one log entry as pjsua2 formatted it."""
        sys.stderr.write(entry.msg)


def transport_config(host: str, port: int) -> pj.TransportConfig:
    """A transport bound to ``host:port`` that also advertises ``host``."""
    tcfg = pj.TransportConfig()
    tcfg.port = port
    tcfg.boundAddress = host
    tcfg.publicAddress = host
    return tcfg


def create_endpoint(log_level: int, writer: StderrLog) -> pj.Endpoint:
    """Create and initialise a single-threaded endpoint; ``writer`` must outlive it."""
    ep = pj.Endpoint()
    with stdout_to_stderr():
        ep.libCreate()  # pjlib logs to stdout until libInit installs the writer
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = 4
    cfg.uaConfig.userAgent = "sipguard-test-peer"
    cfg.logConfig.writer = writer
    cfg.logConfig.level = cfg.logConfig.consoleLevel = log_level
    cfg.logConfig.msgLogging = log_level >= 4
    ep.libInit(cfg)
    return ep


def create_transports(ep: pj.Endpoint, host: str, port: int, transport: str) -> list[int]:
    """Create the SIP transports (``udp``, ``tcp`` or ``both``) and return their ids."""
    kinds = ("udp", "tcp") if transport == "both" else (transport,)
    ipv6 = ":" in host
    return [ep.transportCreate(TRANSPORTS[(k, ipv6)], transport_config(host, port)) for k in kinds]


def start(ep: pj.Endpoint) -> None:
    """Start the library and select the null sound device."""
    ep.libStart()
    ep.audDevManager().setNullDev()
