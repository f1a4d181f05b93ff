"""The pjsua2 test peer: an independent SIP UA that end-to-end tests run as a subprocess.

    python -m peers.pjsua uac --bind 127.0.0.2:5080 --from sip:4008001234@127.0.0.2 \
        --to sip:13800138000@127.0.0.1:5060 [--header 'P-Asserted-Identity: <sip:...>'] \
        [--hold SECONDS] [--expect STATUS] [--transport tcp]
    python -m peers.pjsua uas --bind 127.0.0.4:5070 [--reply 200] [--calls N] \
        [--duration S]

Each observation is one JSON line on stdout (``ready``, ``incoming``, ``provisional``,
``final``, ``state``, ``disconnected``, and a closing ``done``); pjsua2's own log goes to
stderr. The exit status is 0 on the expected outcome and 1 otherwise.

Invariants:
- pjsua2 can abort its process, so tests never load it in theirs: this module is the
  boundary, and it always ends within ``--timeout`` (an alarm backs the deadline up);
- the process leaves with ``os._exit`` after flushing stdout, so no library teardown can
  turn a right answer into a crash.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from peers.pjsua.calls import IncomingCall
from peers.pjsua.peer import CallResult, Peer

__all__ = ["CallResult", "IncomingCall", "Peer", "main"]


def emit(event: dict[str, Any]) -> None:
    """Write one event as a JSON line and flush it at once."""
    sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")
    sys.stdout.flush()


def split_hostport(text: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` or ``[V6]:PORT`` into host and port."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def parse_header(text: str) -> tuple[str, str]:
    """Split ``Name: value`` into name and value."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    """The command line of the test peer."""
    parser = argparse.ArgumentParser(prog="python -m peers.pjsua")
    sub = parser.add_subparsers(dest="mode", required=True)
    uac = sub.add_parser("uac", help="place one call")
    uac.add_argument("--from", dest="from_uri", required=True, help="From URI (local identity)")
    uac.add_argument("--to", required=True, help="Request-URI and To of the INVITE")
    uac.add_argument(
        "--header",
        action="append",
        type=parse_header,
        default=[],
        help="extra header 'Name: value' (repeatable)",
    )
    uac.add_argument("--hold", type=float, default=1.0, help="seconds to stay up once answered")
    uac.add_argument("--expect", type=int, default=200, help="final status that means success")
    uas = sub.add_parser("uas", help="answer calls")
    uas.add_argument("--reply", type=int, default=200, help="status to answer INVITEs with")
    uas.add_argument("--calls", type=int, default=1, help="calls to handle before exiting")
    uas.add_argument(
        "--duration",
        type=float,
        default=None,
        help="hang up answered calls after S seconds (default: wait for BYE)",
    )
    for mode in (uac, uas):
        mode.add_argument("--bind", type=split_hostport, required=True, help="HOST:PORT")
        mode.add_argument("--transport", choices=("udp", "tcp", "both"), default="udp")
        mode.add_argument("--rtp-port", type=int, default=None, help="first RTP port")
        mode.add_argument("--timeout", type=float, default=20.0, help="hard limit in seconds")
        mode.add_argument("--log-level", type=int, default=0, help="pjsua2 log level to stderr")
    return parser


def run_uac(peer: Peer, args: argparse.Namespace) -> bool:
    """Place the call, hold it if answered, hang up; True when the status was expected."""
    result = peer.call(args.to, dict(args.header), timeout=args.timeout * 0.6)
    if result.answered:
        peer.poll(args.hold, peer.idle)
        peer.hangup(timeout=args.timeout * 0.2)
    else:
        peer.poll(args.timeout * 0.2, peer.idle)
    result = peer.result(peer.records[0])
    emit(
        {
            "event": "result",
            "status": result.status,
            "reason_header": result.reason_header,
            "answered": result.answered,
            "remote_sdp": result.remote_sdp,
            "local_sdp": result.local_sdp,
            "call_id": result.call_id,
            "hung_up_by": result.hung_up_by,
        }
    )
    return result.status == args.expect and peer.idle()


def run_uas(peer: Peer, args: argparse.Namespace) -> bool:
    """Answer calls until enough have ended; True when all of them did in time."""
    peer.serve(args.reply, args.calls, args.duration, timeout=args.timeout * 0.9)
    ended = [r for r in peer.records if r.disconnected]
    return len(ended) >= args.calls and all(r.status == args.reply for r in ended)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the peer in the chosen mode; return the process exit status."""
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(int(args.timeout) + 5)
    host, port = args.bind
    transport = args.transport
    peer = Peer(
        host,
        port,
        transport,
        identity=getattr(args, "from_uri", None),
        rtp_port=args.rtp_port,
        on_event=emit,
        log_level=args.log_level,
    )
    ok = False
    try:
        peer.start()
        ok = run_uac(peer, args) if args.mode == "uac" else run_uas(peer, args)
        peer.close()
    finally:
        emit({"event": "done", "ok": ok, "role": args.mode})
    return 0 if ok else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
