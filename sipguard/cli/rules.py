"""``sipguard rules validate|confirm``: check a rules file; let a held reload of it through."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sipguard.cli._common import EXIT_ERROR, EXIT_OK, RULES_HELP, load_or_report, rules_path

HELP = """\
Load a rules file the way every front end does, with its consents file, and report every
problem as FILE:LINE:COL: message (exit 2), or a one-line summary (exit 0).
"""


CONFIRM_HELP = """\
A hot reload that would drop more of the consents or numbers than reload_guard.max_drop
allows is held: the old rules stay in force. This command validates the file as it is now
and writes its hash into FILE.confirm, which serve and every Kamailio worker watch; the
held reload then goes through.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("rules", help="work with rules files", description="Work with rules files.")
    rules_sub = p.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    v = rules_sub.add_parser(
        "validate",
        help="check a rules file and report every located error",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    v.add_argument("file", metavar="FILE", nargs="?", help="the rules file to check")
    v.add_argument("--rules", type=Path, metavar="FILE", help=RULES_HELP + "; same as FILE")
    v.set_defaults(func=validate)
    c = rules_sub.add_parser(
        "confirm",
        help="let a held reload of this file go through",
        description=CONFIRM_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("file", metavar="FILE", nargs="?", help="the rules file to confirm")
    c.add_argument("--rules", type=Path, metavar="FILE", help=RULES_HELP + "; same as FILE")
    c.set_defaults(func=confirm)


def _the_file(args: argparse.Namespace) -> str | None:
    """The rules file named as FILE or --rules (not both), or None after saying why."""
    if args.file is not None and args.rules is not None:
        print("error: give the rules file once, as FILE or as --rules", file=sys.stderr)
        return None
    return str(rules_path(args.file or args.rules))


def validate(args: argparse.Namespace) -> int:
    args.file = _the_file(args)
    if args.file is None:
        return EXIT_ERROR
    rules = load_or_report(args.file)
    if rules is None:
        return EXIT_ERROR
    m = rules.model
    print(
        f"{args.file}: ok: {len(m.operators)} operators, {len(m.trunks)} trunks, "
        f"{len(rules.numbers)} numbers, {len(rules.consents)} consents; "
        f"rules {rules.version_hash[:12]}"
    )
    return EXIT_OK


def confirm(args: argparse.Namespace) -> int:
    from sipguard.reloadguard import confirm_path

    path = _the_file(args)
    rules = load_or_report(path) if path is not None else None
    if path is None or rules is None:
        return EXIT_ERROR
    target = confirm_path(Path(path))
    target.write_text(rules.version_hash + "\n", encoding="utf-8")
    print(f"{path}: confirmed rules {rules.version_hash[:12]} in {target}")
    return EXIT_OK
