"""``sipguard numbers suspended|suspend|resume``: operator control of outbound suspensions.

The suspensions live in the persistent policy state (``SqliteState``) in the journal's
database, which the server reads on every outbound decision.  Every change is also entered
into the journal's hash chain as an ``admin`` entry (action ``suspend`` or ``resume``, the
number, and who did it and why), so the audit trail shows operator actions next to calls.
``suspend`` refuses a number the rules do not file (a typo would otherwise suspend nothing
while looking done); ``--force`` suspends it anyway, with a warning, and is also needed
with ``--journal`` alone, where there are no rules to check against.
Exit codes: 0 done, 1 nothing to do (resume of a number that is not suspended, suspend of
one already suspended), 2 usage or rules error, or an unfiled number without ``--force``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sipguard.cli.journal import (
    Target,
    UsageError,
    add_target_args,
    nsn,
    print_error,
    resolve_target,
)

if TYPE_CHECKING:
    from sipguard.cli._common import Subparsers
    from sipguard.policy.state import State

SUSPEND = """\
Refuse every later outbound call from NUMBER with NUMBER_SUSPENDED until it is resumed. The
action, who took it and why are entered into the journal. A number the rules do not file is
refused unless --force. Exit 0 done, 1 already suspended, 2 usage or rules error.
"""
RESUME = """\
End NUMBER's suspension, whether an operator or the violation count set it; the action and
who took it are entered into the journal. Exit 0 done, 1 not suspended, 2 usage or rules
error.
"""


def register(subparsers: Subparsers) -> None:
    """Add ``numbers suspended``, ``numbers suspend`` and ``numbers resume``."""
    p = subparsers.add_parser(
        "numbers",
        help="list, suspend or resume access numbers",
        description="Operator control of the outbound access of filed access numbers.",
    )
    sub = p.add_subparsers(dest="numbers_command", metavar="ACTION", required=True)
    listing = sub.add_parser(
        "suspended",
        help="list numbers whose outbound access is suspended",
        description="List every suspension in force: number, since when, by whom and why.",
    )
    add_target_args(listing)
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.set_defaults(func=run_suspended)
    _add_change(sub, "suspend", "suspend a number's outbound access", SUSPEND)
    _add_change(sub, "resume", "end a number's suspension", RESUME)


def _add_change(sub: Subparsers, action: str, help_text: str, description: str) -> None:
    p = sub.add_parser(
        action,
        help=help_text,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_args(p)
    p.add_argument("number", metavar="NUMBER")
    if action == "suspend":
        p.add_argument("--why", required=True, metavar="TEXT", help="reason, kept on record")
        p.add_argument(
            "--force", action="store_true", help="suspend even a number the rules do not file"
        )
    p.add_argument("--by", metavar="NAME", help="who acts (default: the login name)")
    p.set_defaults(func=run_suspend if action == "suspend" else run_resume)


def _who(args: argparse.Namespace) -> str:
    if args.by:
        return str(args.by)
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "operator"


def run_suspended(args: argparse.Namespace) -> int:
    """Print every suspension in force."""
    from sipguard.journal.backends import close_state

    try:
        target = resolve_target(args, must_exist=False)
        state = _open_state(target)
    except UsageError as exc:
        print_error(exc)
        return 2
    try:
        suspended = state.suspensions()
    finally:
        close_state(state)
    if args.format == "json":
        for s in suspended:
            since = s.since.astimezone(target.zone).isoformat()
            row = {"number": s.number, "since": since, "reason": s.reason, "by": s.by}
            print(json.dumps(row, ensure_ascii=False))
        return 0
    for s in suspended:
        since = s.since.astimezone(target.zone).isoformat(sep=" ", timespec="seconds")
        print(f"{s.number:<16} since {since:<25}  by {s.by:<12} {s.reason}")
    print(f"{len(suspended)} suspended")
    return 0


def _open_state(target: Target) -> State:
    """The state the rules (or the journal) name; memory holds nothing to change."""
    from sipguard.journal.backends import open_state

    spec = target.state_spec()
    if spec == "memory":
        raise UsageError("the rules keep the state in memory: nothing outside serve to change")
    try:
        return open_state(spec, target.rules)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def run_suspend(args: argparse.Namespace) -> int:
    """Suspend a number and journal the action."""
    return _change(args, "suspend")


def run_resume(args: argparse.Namespace) -> int:
    """Resume a number and journal the action."""
    return _change(args, "resume")


def _check_filed(number: str, target: Target, *, force: bool) -> None:
    """Refuse to suspend a number the rules do not file, unless ``force`` (then warn)."""
    if target.rules is not None and target.rules.numbers.lookup(number) is not None:
        return
    if target.rules is None:
        problem = f"{number}: without --rules it cannot be checked that the number is filed"
    else:
        problem = f"{number}: not a filed number in {target.rules.path}"
    if not force:
        raise UsageError(f"{problem}; add --force to suspend it anyway")
    print(f"warning: {problem}; suspending it anyway (--force)", file=sys.stderr)


def _change(args: argparse.Namespace, action: str) -> int:
    from sipguard.journal.backends import close_state
    from sipguard.journal.entries import admin_entry

    try:
        target = resolve_target(args, must_exist=False)
        number = nsn(args.number, target.rules)
        if action == "suspend":
            _check_filed(number, target, force=args.force)
        store, state = target.open(), _open_state(target)
    except UsageError as exc:
        print_error(exc)
        return 2
    now, who = datetime.now(UTC), _who(args)
    try:
        if action == "suspend":
            changed = state.suspension(number) is None
            state.suspend(number, now, args.why, who)
            detail = {"by": who, "why": args.why}
        else:
            changed = state.resume(number)
            detail = {"by": who}
    finally:
        close_state(state)
    if not changed:
        store.close()
        print(f"{number}: {'already' if action == 'suspend' else 'not'} suspended")
        return 1
    try:
        store.append([admin_entry(action, now, number=number, detail=detail)])
    finally:
        store.close()
    print(f"{number}: {'suspended' if action == 'suspend' else 'resumed'}")
    return 0
