"""``sipguard check``: the verdict on one INVITE, as spec section 5's JSON."""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys

from sipguard.cli._common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_REJECT,
    add_rules_arg,
    load_or_report,
    parse_source,
    parse_time,
    rules_path,
)
from sipguard.errors import SipParseError
from sipguard.policy import MemoryState
from sipguard.screening import screen
from sipguard.sip import Request, classify

HELP = """\
Decide one INVITE the way the server would, and print the verdict as one JSON line
(spec section 5).  When the call's trunk has max_concurrent_calls, the line also names it
(reported only: one call never fills a trunk).  Exit status: 0 allow, 1 reject, 2 usage,
rules or parse error.  A message the parser refuses prints the status the server would
answer it with.

example:
  sipguard check --rules rules.yaml --source 127.0.0.2:5060 \\
      --at 2026-06-01T10:00:00 examples/invite-outbound.sip
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check",
        help="decide one INVITE and print the verdict JSON",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rules_arg(p)
    p.add_argument(
        "--source",
        required=True,
        help="address the INVITE came from: IP, IP:PORT or [IPv6]:PORT",
    )
    p.add_argument(
        "--at",
        default=None,
        metavar="ISO8601",
        help="call time (default now); without an offset it is in the rules' timezone",
    )
    p.add_argument("message", metavar="MESSAGE_FILE", help="file holding the SIP message, or -")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        ip, port = parse_source(args.source)
        ipaddress.ip_address(ip)
    except ValueError as exc:
        print(f"check: --source: {exc}", file=sys.stderr)
        return EXIT_ERROR
    rules = load_or_report(rules_path(args.rules))
    if rules is None:
        return EXIT_ERROR
    try:
        now = parse_time(args.at, rules.zone)
    except ValueError as exc:
        print(f"check: --at: {exc}", file=sys.stderr)
        return EXIT_ERROR
    data = _read(args.message)
    if data is None:
        return EXIT_ERROR
    outcome = classify(data)
    if outcome.action != "process" or not isinstance(outcome.message, Request):
        return _refused(outcome.action, outcome.status, outcome.detail)
    req = outcome.message
    if req.method != "INVITE":
        print(f"check: a {req.method} request is not screened; give an INVITE", file=sys.stderr)
        return EXIT_ERROR
    try:
        facts, verdict = screen(req, ip, port, rules, MemoryState(), now)
    except SipParseError as err:
        return _refused("reply", err.status_hint, err.message)
    body = verdict.to_json_dict(facts, now.isoformat())
    cap = rules.trunk_max_calls.get(verdict.trunk) if verdict.trunk is not None else None
    if cap is not None:  # rules 1.1 section 5: reported, not enforced
        body["max_concurrent_calls"] = cap
    print(json.dumps(body, ensure_ascii=False))
    return EXIT_OK if verdict.allowed else EXIT_REJECT


def _read(name: str) -> bytes | None:
    try:
        if name == "-":
            return sys.stdin.buffer.read()
        with open(name, "rb") as f:
            return f.read()
    except OSError as exc:
        print(f"check: cannot read {name}: {exc.strerror}", file=sys.stderr)
        return None


def _refused(action: str, status: int | None, detail: str) -> int:
    if action == "reply":
        print(f"check: parse error: {detail}; the server answers {status}", file=sys.stderr)
    else:
        print(f"check: parse error: {detail}; the server drops it unanswered", file=sys.stderr)
    return EXIT_ERROR
