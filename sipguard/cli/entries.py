"""``sipguard journal entries``: list journal entries of any kind, such as suspend and resume.

``calls`` shows call attempts; this command shows the chain itself, one entry a line, so
the operator actions (``admin`` entries: suspend, resume, purge, with who acted and why)
can be listed next to the calls.  Times and filters work as in ``calls``: the rules'
timezone with its offset, or UTC with ``--journal`` alone.
Exit codes: 0 on success (even with no match), 2 for a usage or rules error.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, TextIO

from sipguard.cli.journal import (
    UsageError,
    add_target_args,
    add_window_args,
    nsn,
    print_error,
    resolve_target,
    window_limit,
)

if TYPE_CHECKING:
    from sipguard.cli._common import Subparsers
    from sipguard.journal.record import Entry

FIELDS = (
    "seq", "time", "kind", "action", "number", "by", "why", "call_id", "verdict", "reason",
    "final_status", "detail", "hash",
)  # fmt: skip
_TABLE = (
    ("SEQ", "seq"), ("TIME", "time"), ("KIND", "kind"), ("WHAT", "what"),
    ("NUMBER", "number"), ("BY", "by"), ("WHY", "why"), ("CALL-ID", "call_id"),
)  # fmt: skip
DESCRIPTION = """\
List journal entries in time order: call decisions, call outcomes and operator actions
(--kind admin: suspend, resume and purge, each with who acted and why).
"""


def add_parser(sub: Subparsers) -> None:
    """Add ``journal entries`` to the ``journal`` action parsers ``sub``."""
    p = sub.add_parser(
        "entries",
        help="list journal entries, e.g. every suspend and resume (--kind admin)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_args(p)
    p.add_argument("--kind", choices=("decision", "outcome", "admin"), help="entry kind")
    p.add_argument("--action", choices=("suspend", "resume", "purge"), help="admin action")
    p.add_argument("--number", metavar="N", help="the access number involved")
    add_window_args(p, "entries")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the matching entries."""
    from sipguard.cli.calls import parse_when
    from sipguard.journal.store import EntryQuery

    try:
        target = resolve_target(args)
        now, zone = datetime.now(UTC), target.zone
        query = EntryQuery(
            kind=args.kind or ("admin" if args.action else None),
            action=args.action,
            number=nsn(args.number, target.rules) if args.number else None,
            since=parse_when(args.since, zone, now) if args.since else None,
            until=parse_when(args.until, zone, now) if args.until else None,
            limit=window_limit(args.limit),
        )
        store = target.open()
    except UsageError as exc:
        print_error(exc)
        return 2
    if target.rules is None:
        print("note: no --rules given, so times are shown and read in UTC", file=sys.stderr)
    try:
        rows = [entry_dict(e, zone) for e in store.select(query)]
    finally:
        store.close()
    {"table": _table, "json": _json, "csv": _csv}[args.format](rows, sys.stdout)
    return 0


def entry_dict(entry: Entry, zone: tzinfo) -> dict[str, Any]:
    """One entry as a flat dict of :data:`FIELDS`; ``by``/``why`` come from its detail."""
    from sipguard.cli.calls import local_time

    detail = json.loads(entry.detail) if entry.detail else {}
    row = {name: getattr(entry, name, None) for name in FIELDS}
    row["time"] = local_time(entry.ts, zone).isoformat()
    row["by"] = detail.get("by") if isinstance(detail, dict) else None
    row["why"] = detail.get("why") if isinstance(detail, dict) else None
    return row


def _what(row: dict[str, Any]) -> str:
    if row["kind"] == "admin":
        return str(row["action"])
    if row["kind"] == "decision":
        return f"{row['verdict']} {row['reason']}"
    return f"final {row['final_status']}"


def _table(rows: list[dict[str, Any]], out: TextIO) -> None:
    def cell(row: dict[str, Any], key: str) -> str:
        if key == "what":
            return _what(row)
        if key == "time":
            return datetime.fromisoformat(row["time"]).isoformat(sep=" ", timespec="seconds")
        return "-" if row.get(key) is None else str(row[key])

    cells = [[title for title, _ in _TABLE]] + [[cell(r, k) for _, k in _TABLE] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_TABLE))]
    for line in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n")
    out.write(f"{len(rows)} entr{'ies' if len(rows) != 1 else 'y'}\n")


def _json(rows: list[dict[str, Any]], out: TextIO) -> None:
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _csv(rows: list[dict[str, Any]], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
