"""``sipguard report``: a compliance report over a period of the journal, as HTML, PDF or CSV.

The period is ``[--since, --until)``, read like ``calls`` reads them (a date or time without
an offset is in the rules' timezone).  ``--operator`` keeps one operator's calls and the
actions on its numbers.  HTML is one self-contained file with its charts embedded; PDF needs
the ``report`` extra (matplotlib and reportlab), HTML and CSV need matplotlib for the charts.
Exit codes: 0 written, 2 usage or rules error (or the extra is not installed).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sipguard.cli._common import add_rules_arg, rules_path
from sipguard.cli.journal import Target, UsageError, print_error

if TYPE_CHECKING:
    from sipguard.cli._common import Subparsers

DESCRIPTION = """\
Write a compliance report for [--since, --until): calls and decisions per day stacked by
reason (chart), refusals by operator, trunk and number, the top violating numbers, every
suspension and resume with who and why, the consent coverage of allowed outbound calls
(each with its credential), quiet-hours and frequency refusals by hour of day (chart), the
rules hashes in force with when each was first used, and the journal chain status with its
head hash. Times are in the rules' timezone.
"""


def register(subparsers: Subparsers) -> None:
    """Add the ``report`` command."""
    p = subparsers.add_parser(
        "report",
        help="write a compliance report over a period (HTML, PDF or CSV)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_rules_arg(p)
    p.add_argument("--since", required=True, metavar="WHEN", help="start (ISO 8601 or e.g. 7d)")
    p.add_argument("--until", required=True, metavar="WHEN", help="end, excluded")
    p.add_argument(
        "--journal", type=Path, metavar="FILE", help="this journal instead of the rules' one"
    )
    p.add_argument("--operator", metavar="ID", help="only this operator's calls and numbers")
    p.add_argument("--format", choices=("html", "pdf", "csv"), default="html")
    p.add_argument("--output", type=Path, metavar="FILE", help="write here (default: stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Gather, render and write the report."""
    from sipguard.cli.calls import parse_when
    from sipguard.cli.journal import resolve_target

    try:
        journal, args.journal = args.journal, None
        args.rules = rules_path(args.rules)
        target = resolve_target(args, must_exist=journal is None)
        if journal is not None:
            target = _other_journal(target, journal)
        now = datetime.now(UTC)
        since, until = (parse_when(w, target.zone, now) for w in (args.since, args.until))
        if until <= since:
            raise UsageError("--until must be after --since")
        _check_operator(args.operator, target)
        body = _render(args, target, since, until, now)
    except UsageError as exc:
        print_error(exc)
        return 2
    _write(body, args.output)
    return 0


def _other_journal(target: Target, journal: Path) -> Target:
    """``target`` with its journal replaced by ``journal`` (the rules still give the zone)."""
    if not journal.is_file():
        raise UsageError(f"{journal}: no such journal")
    return Target(journal, target.rules)


def _check_operator(operator: str | None, target: Target) -> None:
    rules = target.rules
    if operator is not None and rules is not None and operator not in rules.model.operators:
        known = ", ".join(sorted(rules.model.operators))
        raise UsageError(f"unknown operator {operator!r} (the rules know: {known})")


def _render(
    args: argparse.Namespace, target: Target, since: datetime, until: datetime, now: datetime
) -> str | bytes:
    try:
        from sipguard.report import document, render
        from sipguard.report.data import gather
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"the report needs {exc.name}: install sipguard with the report extra"
        ) from exc
    numbers = _operator_numbers(args.operator, target)
    store = target.open()
    try:
        report = gather(store, since, until, target.zone, target.zone_name, args.operator, numbers)
    finally:
        store.close()
    sections = document.build(report, target.zone, now.astimezone(target.zone))
    title = f"sipguard compliance report {since.date()} to {until.date()}"
    if args.format == "pdf":
        try:
            return render.pdf(title, sections)
        except ModuleNotFoundError as exc:
            raise UsageError(
                f"PDF needs {exc.name}: install sipguard with the report extra"
            ) from exc
    return render.html(title, sections) if args.format == "html" else render.csv_text(sections)


def _operator_numbers(operator: str | None, target: Target) -> frozenset[str] | None:
    """The NSNs filed for ``operator`` (None: every number)."""
    if operator is None or target.rules is None:
        return None
    return frozenset(e.nsn for e in target.rules.numbers.entries() if e.operator == operator)


def _write(body: str | bytes, output: Path | None) -> None:
    if output is None:
        if isinstance(body, bytes):
            sys.stdout.buffer.write(body)
        else:
            sys.stdout.write(body)
        return
    if isinstance(body, bytes):
        output.write_bytes(body)
    else:
        output.write_text(body, encoding="utf-8")
