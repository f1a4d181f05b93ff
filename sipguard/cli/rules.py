"""``sipguard rules validate``: check a rules file (and its consents) before deploying it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sipguard.cli._common import EXIT_ERROR, EXIT_OK, RULES_HELP, load_or_report, rules_path

HELP = """\
Load a rules file the way every front end does, with its consents file, and report every
problem as FILE:LINE:COL: message (exit 2), or a one-line summary (exit 0).
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


def validate(args: argparse.Namespace) -> int:
    if args.file is not None and args.rules is not None:
        print("error: give the rules file once, as FILE or as --rules", file=sys.stderr)
        return EXIT_ERROR
    args.file = str(rules_path(args.file or args.rules))
    rules = load_or_report(args.file)
    if rules is None:
        return EXIT_ERROR
    m = rules.model
    print(
        f"{args.file}: ok: {len(m.operators)} operators, {len(m.trunks)} trunks, "
        f"{len(m.numbers)} numbers, {len(rules.consents)} consents; "
        f"rules {rules.version_hash[:12]}"
    )
    return EXIT_OK
