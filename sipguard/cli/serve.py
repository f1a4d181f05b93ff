"""``sipguard serve``: run the B2BUA on UDP and TCP, with hot reload and graceful shutdown.

This module reads the command line and runs the server's life: start, serve until SIGTERM
or SIGINT, stop.  ``serve_parts`` builds the pieces (journal service, state, call core,
shell, rules watcher, metrics); it is imported only when ``serve`` runs, so other commands
start without asyncio, the server shell or the journal service.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sipguard.allocator import CHOICES
from sipguard.cli._common import DEFAULT_RULES, RULES_HELP, report_rules_error
from sipguard.policy.hostport import DEFAULT_LISTEN, SIP_PORT, parse_hostport

DESCRIPTION = (
    "Screen every INVITE against the rules, bridge allowed calls and reject the rest, "
    "journaling each decision.  SIGHUP (or editing the rules or consents file) "
    "reloads the rules; SIGTERM or SIGINT stops the server."
)

if TYPE_CHECKING:
    from sipguard.cli._common import Subparsers


def register(sub: Subparsers) -> None:
    """Add the ``serve`` command."""
    parser = sub.add_parser("serve", help="run the B2BUA", description=DESCRIPTION)
    parser.add_argument(
        "--rules", type=Path, default=DEFAULT_RULES, metavar="FILE", help=RULES_HELP
    )
    parser.add_argument("--listen", action="append", metavar="HOST:PORT",
                        help="UDP+TCP address to serve (repeatable; overrides listen:; "
                        f"default {DEFAULT_LISTEN})")  # fmt: skip
    parser.add_argument(
        "--metrics", metavar="HOST:PORT", help="expose Prometheus metrics over HTTP here"
    )
    parser.add_argument("--admin", metavar="HOST:PORT",
                        help="admin API address (overrides admin.listen; needs "
                        "admin.token_file in the rules)")  # fmt: skip
    parser.add_argument("--trust-front", action="append", default=[], metavar="IP",
                        type=front_address,
                        help="a Kamailio front (kamailio run --front) whose "
                        "X-Sipguard-Source header names where a call came from "
                        "(repeatable)")  # fmt: skip
    parser.add_argument("--state", metavar="URL",
                        help="the state: sqlite:PATH, redis://HOST:PORT/DB or memory "
                        "(overrides state.url in the rules)")  # fmt: skip
    parser.add_argument(
        "--udp-queue", type=int, default=8192, metavar="N", help="UDP intake queue bound"
    )
    parser.add_argument("--allocator", choices=CHOICES, default="auto",
                        help="memory allocator: jemalloc gives back what a flood used, "
                        "python keeps CPython's own (default auto: jemalloc when "
                        "libjemalloc is installed; SIPGUARD_ALLOCATOR sets it too)")  # fmt: skip
    _call_limits(parser)
    _tcp_limits(parser)
    parser.set_defaults(func=run)


def _call_limits(parser: argparse.ArgumentParser) -> None:
    calls = parser.add_argument_group("call limits")
    calls.add_argument("--max-calls", type=int, default=None, metavar="N",
                       help="concurrent calls at most; beyond it new calls get 503 with "
                       "Retry-After (per-trunk call rates are each trunk's max_cps)")  # fmt: skip
    calls.add_argument("--max-duration", type=float, default=4 * 3600.0, metavar="SECONDS",
                       help="end a call with BYE on both legs after this long (4 h)")  # fmt: skip
    calls.add_argument("--ring-timeout", type=float, default=181.0, metavar="SECONDS",
                       help="cancel a call the callee lets ring this long after its last "
                       "provisional (RFC 3261 Timer C; default 181)")  # fmt: skip


def _tcp_limits(parser: argparse.ArgumentParser) -> None:
    tcp = parser.add_argument_group("TCP limits")
    tcp.add_argument("--tcp-max-connections", type=int, default=4096, metavar="N",
                     help="accepted TCP connections at most (default 4096)")  # fmt: skip
    tcp.add_argument("--tcp-max-per-source", type=int, default=64, metavar="N",
                     help="accepted TCP connections per source address (default 64)")  # fmt: skip
    tcp.add_argument("--tcp-idle-timeout", type=float, default=120.0, metavar="SECONDS",
                     help="close a TCP connection idle this long (default 120)")  # fmt: skip


def front_address(text: str) -> str:
    """A ``--trust-front`` value: an IP address, as the server sees packets come from it."""
    try:
        return str(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None


def parse_listen(text: str, default_port: int = SIP_PORT) -> tuple[str, int]:
    """``HOST[:PORT]`` or ``[V6][:PORT]`` from the command line; port 0 picks a free port."""
    return parse_hostport(text, ephemeral=True).with_port(default_port)


def run(args: argparse.Namespace) -> int:
    """Load the rules, then serve until SIGTERM/SIGINT; 2 on bad rules or arguments."""
    from sipguard.cli import serve_parts as parts
    from sipguard.cli._common import load_rules_once
    from sipguard.errors import RulesError

    if (code := restart_on_allocator(args)) is not None:
        return code
    try:
        ruleset = load_rules_once(args.rules)
    except RulesError as exc:
        report_rules_error(args.rules, exc)
        return 2
    try:
        texts = args.listen or ruleset.listen or [DEFAULT_LISTEN]
        plan = parts.Plan(
            listen=[parse_listen(t) for t in texts],
            metrics=parse_listen(args.metrics, 9090) if args.metrics else None,
            admin=parts.admin_config(args.admin, ruleset),
        )
    except ValueError as exc:
        print(f"sipguard serve: {exc}", file=sys.stderr)
        return 2
    from sipguard.gctune import tune_for_serving

    tune_for_serving()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(parts.serve(args, ruleset, plan))
    return uvloop.run(parts.serve(args, ruleset, plan))


def restart_on_allocator(args: argparse.Namespace) -> int | None:
    """Start this process again on jemalloc when ``--allocator`` asks for it (``execve``
    does not return); 2 when it cannot be had; None to go on as we are.  Only a process
    started as ``sipguard serve`` restarts: a caller of ``main(argv)`` keeps its own."""
    from sipguard import allocator

    if not getattr(args, "own_process", False):
        return None
    try:
        restart = allocator.plan(args.allocator, os.environ, allocator.find_jemalloc)
    except allocator.AllocatorError as exc:
        print(f"sipguard serve: {exc}", file=sys.stderr)
        return 2
    if restart is None:
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, restart.env)
    return None  # pragma: no cover - execve replaced the process
