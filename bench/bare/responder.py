"""Bare Python SIP responders: what any Python process reaches on the benchmark's harness.

    python bench/bare/responder.py reject --listen 127.0.0.1:5060
    python bench/bare/responder.py reject --listen 127.0.0.1:5060 --journal FILE
    python bench/bare/responder.py relay --listen 127.0.0.1:5060 --target 127.0.0.4:5080

They run on uvloop when it is installed (as ``sipguard serve`` does), on one UDP socket with
the same kernel buffers as serve's, and do nothing else:
- ``reject`` answers each INVITE with a 403 made by copying its Via, From, To, Call-ID and
  CSeq lines (a tag added to To) and absorbs everything else (the ACK);
- with ``--journal`` it first appends one line per INVITE to FILE, and makes each batch of
  lines durable with one fdatasync per event-loop wakeup before the batch's answers leave;
- ``relay`` is a stateless proxy with one next hop: a request gets a Via of its own (its
  branch derived from the request's) and, for an INVITE, a Record-Route, loses the Route
  that names this relay, and goes to ``--target``; a response loses its top Via when that is
  this relay's (the first value of a comma-joined Via line, as sipp echoes them) and goes
  to the sent-by of the next one.
No parsing beyond finding those lines, no state, no log.  This is a floor to compare with,
not the project's code: it checks nothing a real edge must check.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from typing import cast

COPIED = frozenset({b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq"})
REASON = b'Reason: SIP;cause=403;text="CALLER_UNREGISTERED"'
BUFFER = 4 * 1024 * 1024
Address = tuple[str, int]


def reject(invite: bytes) -> bytes:
    """The 403 to ``invite``: its dialog and transaction lines copied, a To tag added."""
    out = [b"SIP/2.0 403 Forbidden"]
    for line in invite.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name = line.partition(b":")[0].strip().lower()
        if name in COPIED:
            if name in (b"to", b"t") and b";tag=" not in line:
                line += b";tag=bare403"
            out.append(line)
    out += [REASON, b"Content-Length: 0", b"", b""]
    return b"\r\n".join(out)


def _top_via(data: bytes) -> tuple[int, int]:
    """Where the first Via line starts (at its CRLF) and ends; (-1, -1) when there is none."""
    found = [i for i in (data.find(b"\r\nVia:"), data.find(b"\r\nv:")) if i >= 0]
    if not found:
        return -1, -1
    start = min(found)
    return start, data.find(b"\r\n", start + 2)


def _branch(line: bytes) -> bytes:
    """The branch parameter's value in one Via line (empty when it has none)."""
    at = line.find(b"branch=")
    if at < 0:
        return b""
    value = line[at + 7 :]
    for stop in (b";", b",", b" "):
        value = value.split(stop, 1)[0]
    return value


def sent_by(line: bytes) -> Address | None:
    """The host and port of a Via line's sent-by (5060 when it names no port)."""
    parts = line.split(None, 2)
    if len(parts) < 3:
        return None
    host, _, port = parts[2].split(b";", 1)[0].strip().rpartition(b":")
    if not host:
        host, port = port, b"5060"
    try:
        return host.decode(), int(port)
    except ValueError:
        return None


class Relay:
    """The stateless relay's two rewrites, one per direction."""

    def __init__(self, me: Address) -> None:
        self.via = f"Via: SIP/2.0/UDP {me[0]}:{me[1]};branch=z9hG4bKbare.".encode()
        self.record = f"Record-Route: <sip:{me[0]}:{me[1]};lr>\r\n".encode()
        self.route = f"Route: <sip:{me[0]}:{me[1]};lr>\r\n".encode()

    def request(self, data: bytes) -> bytes:
        """The request with this relay's Via on top (and a Record-Route on an INVITE)."""
        data = data.replace(self.route, b"", 1)
        start, end = _top_via(data)
        eol = data.find(b"\r\n")
        added = self.via + _branch(data[start:end]) + b"\r\n"
        if data.startswith(b"INVITE "):
            added += self.record
        return data[: eol + 2] + added + data[eol + 2 :]

    def response(self, data: bytes) -> tuple[bytes, Address] | None:
        """The response without this relay's Via, and where it goes; None if not ours."""
        start, end = _top_via(data)
        if start < 0 or not data.startswith(self.via, start + 2):
            return None
        comma = data.find(b",", start, end)
        if comma >= 0:  # one line of several Via values (sipp writes them so): drop the first
            data = data[: start + 2] + b"Via: " + data[comma + 1 : end].strip() + data[end:]
        else:
            data = data[:start] + data[end:]
        start, end = _top_via(data)
        back = sent_by(data[start + 2 : end]) if start >= 0 else None
        return (data, back) if back else None


class Responder(asyncio.DatagramProtocol):
    """One UDP socket: answers, journals or relays each datagram as its mode says."""

    def __init__(self, mode: str, target: Address | None, journal: int | None) -> None:
        self.mode, self.target, self.journal = mode, target, journal
        self.transport: asyncio.DatagramTransport | None = None
        self.relay: Relay | None = None
        self.lines: list[bytes] = []
        self.pending: list[tuple[bytes, Address]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport; the relay learns its own address from it."""
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop's: no subclass
        if self.mode == "relay":
            self.relay = Relay(self.transport.get_extra_info("sockname")[:2])

    def datagram_received(self, data: bytes, addr: Address) -> None:
        """One datagram in: at most one datagram out (or one queued for the next fsync)."""
        assert self.transport is not None
        if self.relay is not None:
            self._relay(data, addr)
        elif data.startswith(b"INVITE "):
            if self.journal is None:
                self.transport.sendto(reject(data), addr)
            else:
                self._journal(data, addr)

    def _relay(self, data: bytes, addr: Address) -> None:
        assert self.transport is not None and self.relay is not None
        if not data.startswith(b"SIP/2.0 "):
            self.transport.sendto(self.relay.request(data), self.target)
        elif (back := self.relay.response(data)) is not None:
            self.transport.sendto(*back)

    def _journal(self, data: bytes, addr: Address) -> None:
        if not self.pending:
            asyncio.get_running_loop().call_soon(self._flush)
        start = data.find(b"\r\nCall-ID:")
        self.lines.append(data[start + 2 : data.find(b"\r\n", start + 2)] + b"\n")
        self.pending.append((reject(data), addr))

    def _flush(self) -> None:
        """Write the batch's lines, fdatasync once, then send the batch's answers."""
        assert self.transport is not None and self.journal is not None
        os.write(self.journal, b"".join(self.lines))
        os.fdatasync(self.journal)
        for reply, addr in self.pending:
            self.transport.sendto(reply, addr)
        self.lines, self.pending = [], []


def bind(listen: Address) -> socket.socket:
    """A UDP socket on ``listen`` with large kernel buffers, as serve binds its own."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, opt, BUFFER)
    sock.bind(listen)
    return sock


async def serve(args: argparse.Namespace) -> None:
    """Run until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    journal = (
        os.open(args.journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND) if args.journal else None
    )
    responder = Responder(args.mode, address(args.target) if args.target else None, journal)
    transport, _ = await loop.create_datagram_endpoint(
        lambda: responder, sock=bind(address(args.listen))
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    transport.close()


def address(text: str) -> Address:
    """``host:port`` as a socket address."""
    host, _, port = text.rpartition(":")
    return host, int(port)


def main() -> int:
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("reject", "relay"))
    parser.add_argument("--listen", required=True, help="host:port to answer on")
    parser.add_argument("--target", help="host:port the relay sends requests to")
    parser.add_argument("--journal", help="reject: append and fdatasync a line per INVITE here")
    args = parser.parse_args()
    if args.mode == "relay" and not args.target:
        parser.error("relay needs --target")
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args))
    else:
        uvloop.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
