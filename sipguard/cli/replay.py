"""``sipguard replay``: the verdict for every INVITE transaction in packet captures.

Exit codes: 0 when the captures were processed, whatever the verdicts (a replay reports,
it does not judge the run); 2 for a usage or rules error, or when no capture could be
read at all.  Input problems (truncated capture, unreadable file) are printed as
``warning:`` lines on stderr and mark the summary ``"partial": true``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO

from sipguard.cli._common import DEFAULT_RULES, RULES_HELP, load_rules_once, report_rules_error
from sipguard.errors import RulesError, SipguardError
from sipguard.policy import MemoryState, Reason, Ruleset, State

if TYPE_CHECKING:
    from sipguard.adapters.replay.engine import InviteTransaction, ReplaySummary
    from sipguard.adapters.replay.outcomes import CallOutcomes
    from sipguard.cli._common import Subparsers

_PROGRESS_MIN_BYTES = 4 * 1024 * 1024
_COLUMNS = ("time", "source", "caller", "callee", "verdict", "reason")
_JOURNAL_BATCH = 512


def register(subparsers: Subparsers) -> None:
    """Add the ``replay`` command."""
    p = subparsers.add_parser(
        "replay",
        help="screen every INVITE in pcap/pcapng captures",
        description="Evaluate every INVITE transaction found in packet captures (pcap, "
        "pcapng, gzip-compressed) against a ruleset; each packet's capture time is the "
        "call time and policy state carries across all files, merged in time order.",
    )
    p.add_argument("--rules", type=Path, default=DEFAULT_RULES, metavar="FILE", help=RULES_HELP)
    p.add_argument("--json", action="store_true", help="one verdict JSON per line + summary")
    p.add_argument("--only", choices=("allow", "reject"), help="show only these verdicts")
    p.add_argument("--reason", choices=[r.value for r in Reason], help="show only this reason")
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV to FILE")
    p.add_argument("--journal", metavar="FILE|URL",
                   help="record every decision in this journal (an SQLite file or postgresql://)")
    p.add_argument("--state", metavar="FILE|URL",
                   help="keep policy state here: an SQLite file, or a state url as in the "
                   "rules (sqlite:PATH, redis://HOST:PORT/DB, memory)")  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    p.add_argument(
        "--send-alerts",
        action="store_true",
        help="POST the alerts the run gives to the rules' webhook (default: count)",
    )
    p.add_argument("captures", nargs="+", metavar="PCAP", help="capture files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the replay; see the module docstring for exit codes."""
    from sipguard.adapters.replay.engine import ReplaySummary, replay

    try:
        rules = load_rules_once(args.rules)
    except RulesError as exc:
        report_rules_error(args.rules, exc)
        return 2
    except OSError as exc:
        print(f"{args.rules}: {exc.strerror}", file=sys.stderr)
        return 2
    summary = ReplaySummary()
    with ExitStack() as stack:
        try:
            state = _state(args, stack)
            summary.calls = _calls(args, rules, state, stack)
            sink = _journal(args, rules, stack)
        except (ValueError, SipguardError) as exc:  # a bad spec, or a journal out of reach
            print(f"error: {exc}", file=sys.stderr)
            return 2
        progress = _progress(args.captures, stack, disabled=args.no_progress)
        rows = replay(args.captures, rules, state, summary, progress)
        csv_file = stack.enter_context(open(args.csv, "w", newline="")) if args.csv else None
        _emit(args, rules, _recorded(rows, sink), csv_file, summary)
    for warning in summary.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 2 if summary.files == 0 else 0


def _state(args: argparse.Namespace, stack: ExitStack) -> State:
    if not args.state:
        return MemoryState()
    from sipguard.journal.backends import close_state, open_state

    spec = args.state if ":" in args.state or args.state == "memory" else f"sqlite:{args.state}"
    state = open_state(spec)
    stack.callback(close_state, state)
    return state


def _calls(
    args: argparse.Namespace, rules: Ruleset, state: State, stack: ExitStack
) -> CallOutcomes:
    """The follower of the run's calls; with ``--send-alerts`` its alerts are POSTed."""
    from sipguard.adapters.replay.outcomes import CallOutcomes
    from sipguard.alerts import AlertSender, delivery_of

    delivery = delivery_of(rules.model.alerts) if args.send_alerts else None
    if delivery is None:
        return CallOutcomes(rules, state, None)
    sender = AlertSender(delivery)
    stack.callback(sender.close)
    return CallOutcomes(rules, state, sender.send)


def _journal(
    args: argparse.Namespace, rules: Ruleset, stack: ExitStack
) -> Callable[[InviteTransaction | None], None] | None:
    """A function that journals decisions in batches (None flushes), or None."""
    if not args.journal:
        return None
    from sipguard.journal import decision_entry
    from sipguard.journal.backends import is_pg_url, open_store

    store = open_store(args.journal if is_pg_url(args.journal) else Path(args.journal))
    stack.callback(store.close)
    pending: list[Any] = []

    def record(item: InviteTransaction | None) -> None:
        if item is not None and item.verdict is not None:
            pending.append(
                decision_entry(item.facts, item.verdict, item.time, rules_hash=rules.version_hash)
            )
        if pending and (item is None or len(pending) >= _JOURNAL_BATCH):
            store.append(pending)
            pending.clear()

    return record


def _recorded(
    rows: Iterator[InviteTransaction], sink: Callable[[InviteTransaction | None], None] | None
) -> Iterator[InviteTransaction]:
    for row in rows:
        if sink is not None:
            sink(row)
        yield row
    if sink is not None:
        sink(None)


def _progress(
    paths: list[str], stack: ExitStack, *, disabled: bool
) -> Callable[[int], None] | None:
    """A tqdm byte counter on stderr for big captures on a terminal, else None."""
    if disabled or not sys.stderr.isatty():
        return None
    total = sum(Path(p).stat().st_size for p in paths if Path(p).is_file())
    if total < _PROGRESS_MIN_BYTES:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    bar = stack.enter_context(
        tqdm(total=total, unit="B", unit_scale=True, desc="replay", file=sys.stderr, leave=False)
    )

    def tick(done: int) -> None:
        bar.update(done)

    return tick


def _wanted(args: argparse.Namespace, row: InviteTransaction) -> bool:
    if row.verdict is None:
        return args.only is None and args.reason is None
    if args.only is not None and row.verdict.verdict != args.only:
        return False
    return args.reason is None or row.verdict.reason.value == args.reason


def _emit(
    args: argparse.Namespace,
    rules: Ruleset,
    rows: Iterator[InviteTransaction],
    csv_file: IO[str] | None,
    summary: ReplaySummary,
) -> None:
    out = sys.stdout
    writer = csv.writer(csv_file) if csv_file is not None else None
    if writer is not None:
        writer.writerow(_COLUMNS)
    if not args.json:
        out.write(_table_line(_COLUMNS))
    for row in rows:
        if not _wanted(args, row):
            continue
        cells = table_cells(row, rules)
        if writer is not None:
            writer.writerow(cells)
        if args.json:
            out.write(json.dumps(json_object(row, rules), ensure_ascii=False) + "\n")
        else:
            out.write(_table_line(cells))
    if args.json:
        out.write(json.dumps({"summary": summary.as_dict()}) + "\n")
    else:
        _print_counts(out, summary)


def json_object(row: InviteTransaction, rules: Ruleset) -> dict[str, Any]:
    """Spec section 5's verdict object, or ``{"in_dialog": {...}}`` for a re-INVITE."""
    time_iso = row.time.astimezone(rules.zone).isoformat()
    if row.verdict is not None:
        found = row.verdict.to_json_dict(row.facts, time_iso)
        return {**found, "trunk_full": True} if row.trunk_full else found
    body: dict[str, Any] = {
        "call_id": row.facts.call_id,
        "time": time_iso,
        "source": _source(row),
        "cseq": row.cseq,
    }
    if row.parse_error is not None:
        body["status"] = row.parse_error.status_hint
        body["error"] = row.parse_error.message
        return {"malformed": body}
    return {"in_dialog": body}


def table_cells(row: InviteTransaction, rules: Ruleset) -> tuple[str, ...]:
    """The table row: time, source, caller, callee, verdict, reason."""
    when = row.time.astimezone(rules.zone).isoformat(sep=" ", timespec="seconds")
    facts, verdict = row.facts, row.verdict
    if verdict is None:
        caller = facts.pai_user or facts.from_user or "-"
        kind, reason = ("in-dialog", "-")
        if row.parse_error is not None:
            kind, reason = ("malformed", f"PARSE_ERROR_{row.parse_error.status_hint or 'DROP'}")
        return (when, _source(row), caller, facts.ruri_user or "-", kind, reason)
    return (
        when,
        _source(row),
        verdict.caller or "-",
        verdict.callee or "-",
        verdict.verdict,
        verdict.reason.value
        + (f" (monitored: {verdict.monitored.value})" if verdict.monitored else "")
        + (" (trunk full: 503)" if row.trunk_full else ""),
    )


def _source(row: InviteTransaction) -> str:
    ip, port = row.facts.source_ip, row.source_port
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _table_line(cells: tuple[str, ...]) -> str:
    widths = (25, 22, 16, 16, 9)
    parts = [cell.ljust(width) for cell, width in zip(cells, widths, strict=False)]
    return " ".join([*parts, cells[-1]]).rstrip() + "\n"


def _print_counts(out: TextIO, summary: ReplaySummary) -> None:
    out.write("\n")
    out.write(
        f"{summary.invites} INVITE transactions in {summary.files} file(s): "
        f"{summary.screened} screened, {summary.in_dialog} in-dialog, "
        f"{summary.retransmissions} retransmissions ignored\n"
    )
    for reason, count in sorted(summary.by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
        out.write(f"  {reason:<24} {count}\n")
    if summary.monitored:
        watched = sorted(summary.monitored.items(), key=lambda kv: (-kv[1], kv[0]))
        text = ", ".join(f"{reason} {count}" for reason, count in watched)
        out.write(f"  would have rejected: {text}\n")
    report = summary.calls.report if summary.calls is not None else None
    if report is not None and report.trunk_full:
        full = ", ".join(f"{trunk} {n}" for trunk, n in sorted(report.trunk_full.items()))
        out.write(f"  over max_concurrent_calls (serve answers 503): {full}\n")
    if report is not None and report.short_calls:
        out.write(f"  suspended for short calls: {', '.join(report.short_calls)}\n")
    if report is not None and report.alerts:
        text = ", ".join(f"{event} {n}" for event, n in sorted(report.alerts.items()))
        out.write(f"  alerts: {text}\n")
    if summary.partial:
        out.write("  (partial: some input could not be read; see warnings)\n")
