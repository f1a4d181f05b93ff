"""``sipguard calls``: query the journal for call attempts, as a table, JSON lines or CSV.

Numbers on the command line are normalised like the rules normalise them when ``--rules``
is given (otherwise only separators are dropped).  Every time is shown in one zone, with its
offset: the rules' timezone, or UTC with ``--journal`` alone (a note on stderr says so).
``--since``/``--until`` take an ISO 8601 date or time (no offset means that same zone, so a
time copied from the table finds its call) or a span back from now such as ``7d``, ``12h``
or ``30m``; the range is half-open, ``[since, until)``.
Exit codes: 0 on success (even with no match), 2 for a usage or rules error.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, TextIO

from sipguard.cli.journal import (
    Target,
    UsageError,
    add_target_args,
    add_window_args,
    nsn,
    print_error,
    resolve_target,
    window_limit,
)
from sipguard.policy.facts import Reason

if TYPE_CHECKING:
    from sipguard.cli._common import Subparsers
    from sipguard.journal.query import Query
    from sipguard.journal.record import Entry

# Every stored field of a decision entry, then of its latest outcome entry.
FIELDS = (
    "time", "direction", "source", "caller", "callee", "number", "operator", "trunk",
    "verdict", "status", "reason", "credential", "suspended_now", "monitored", "call_id", "legs",
    "rules_hash", "answered_at", "ended_at", "duration_ms", "final_status", "ended_by",
    "seq", "ts", "prev_hash", "hash", "outcome_seq", "outcome_hash",
)  # fmt: skip
_OUTCOME = ("answered_at", "ended_at", "duration_ms", "final_status", "ended_by")
_TABLE = (
    ("TIME", "time"), ("DIR", "direction"), ("CALLER", "caller"), ("CALLEE", "callee"),
    ("NUMBER", "number"), ("VERDICT", "verdict"), ("REASON", "reason"), ("MONITORED", "monitored"),
    ("FINAL", "final"), ("DURATION", "duration"), ("ENDED BY", "ended_by"), ("CALL-ID", "call_id"),
)  # fmt: skip
_SPAN = re.compile(r"^(\d+)([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def register(subparsers: Subparsers) -> None:
    """Add the ``calls`` command."""
    p = subparsers.add_parser(
        "calls",
        help="query the call journal",
        description=(
            "List journaled call attempts, oldest first, with their outcome. FINAL is the "
            "final response the caller got: sipguard's own for a refused call, the callee's "
            "for an allowed one."
        ),
    )
    add_target_args(p)
    p.add_argument("--number", metavar="N", help="the filed access number involved")
    p.add_argument("--caller", metavar="N", help="caller number")
    p.add_argument("--callee", metavar="N", help="callee number")
    p.add_argument("--reason", choices=[r.value for r in Reason], help="verdict reason")
    p.add_argument("--direction", choices=("inbound", "outbound"), help="call direction")
    p.add_argument("--operator", metavar="ID", help="operator id, as in the rules")
    p.add_argument("--trunk", metavar="ID", help="trunk id, as in the rules")
    p.add_argument("--verdict", choices=("allow", "reject"), help="the screening verdict")
    p.add_argument(
        "--monitored", action="store_true", help="only calls a monitored check would have refused"
    )
    add_window_args(p, "calls")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the matching calls; see the module docstring for exit codes."""
    try:
        target = resolve_target(args)
        query = query_from_args(args, target)
        store = target.open()
    except UsageError as exc:
        print_error(exc)
        return 2
    if target.rules is None:
        print("note: no --rules given, so times are shown and read in UTC", file=sys.stderr)
    try:
        rows = [call_dict(r.decision, r.outcome, target.zone) for r in store.calls(query)]
    finally:
        store.close()
    {"table": write_table, "json": write_json, "csv": write_csv}[args.format](rows, sys.stdout)
    return 0


def query_from_args(args: argparse.Namespace, target: Target) -> Query:
    """The journal query that the filter options of ``calls`` (or the admin API) ask for."""
    from sipguard.journal.store import Query

    rules, zone = target.rules, target.zone
    now = datetime.now(UTC)
    return Query(
        number=nsn(args.number, rules) if args.number else None,
        caller=nsn(args.caller, rules) if args.caller else None,
        callee=nsn(args.callee, rules) if args.callee else None,
        reason=args.reason,
        direction=args.direction,
        operator=args.operator,
        trunk=args.trunk,
        verdict=args.verdict,
        since=parse_when(args.since, zone, now) if args.since else None,
        until=parse_when(args.until, zone, now) if args.until else None,
        limit=window_limit(args.limit),
        monitored=args.monitored,
    )


def parse_when(text: str, zone: tzinfo, now: datetime) -> datetime:
    """An ISO 8601 date/time (naive means ``zone``) or a span back from ``now`` (``7d``)."""
    span = _SPAN.match(text)
    if span:
        return now - timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=zone)
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(f"not a date or time: {text!r}") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=zone)


def local_time(ts: int, zone: tzinfo) -> datetime:
    """A journal ``ts`` (microseconds since the epoch) as an aware time in ``zone``."""
    return (_EPOCH + timedelta(microseconds=ts)).astimezone(zone)


def local_iso(text: str | None, zone: tzinfo) -> str | None:
    """An ISO 8601 time with offset, re-expressed in ``zone`` (None stays None)."""
    return None if text is None else datetime.fromisoformat(text).astimezone(zone).isoformat()


def call_dict(decision: Entry, outcome: Entry | None, zone: tzinfo = UTC) -> dict[str, Any]:
    """One call attempt as a flat dict of :data:`FIELDS` (outcome fields None until it ends).

    Every time is in ``zone`` with its offset, whatever zone the writer used.
    """
    row = {name: getattr(decision, name, None) for name in FIELDS}
    row["time"] = local_time(decision.ts, zone).isoformat()
    if decision.suspended_now is not None:
        row["suspended_now"] = bool(decision.suspended_now)
    for name in _OUTCOME:
        row[name] = getattr(outcome, name) if outcome is not None else None
    row["outcome_seq"] = outcome.seq if outcome is not None else None
    row["outcome_hash"] = outcome.hash if outcome is not None else None
    row["answered_at"] = local_iso(row["answered_at"], zone)
    row["ended_at"] = local_iso(row["ended_at"], zone)
    return row


def write_json(rows: list[dict[str, Any]], out: TextIO) -> None:
    """One JSON object per line."""
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_csv(rows: list[dict[str, Any]], out: TextIO) -> None:
    """CSV with a header row of :data:`FIELDS`."""
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def _cell(row: dict[str, Any], key: str) -> str:
    if key == "duration":
        ms = row["duration_ms"]
        return "-" if ms is None else f"{ms // 1000 // 60}:{ms // 1000 % 60:02d}"
    if key == "final":
        final = row["final_status"] if row["verdict"] == "allow" else row["status"]
        return "-" if final is None else str(final)
    if key == "time":
        return datetime.fromisoformat(row["time"]).isoformat(sep=" ", timespec="seconds")
    value = row.get(key)
    return "-" if value is None else str(value)


def write_table(rows: list[dict[str, Any]], out: TextIO) -> None:
    """Aligned columns with a header, and a count line."""
    cells = [[title for title, _ in _TABLE]]
    cells += [[_cell(row, key) for _, key in _TABLE] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_TABLE))]
    for line in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n")
    out.write(f"{len(rows)} call{'s' if len(rows) != 1 else ''}\n")
