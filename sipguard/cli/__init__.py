"""The ``sipguard`` command line: one module per command group, one small function per command.

Each command module exposes ``register(subparsers)``, which adds its parser(s) and sets
``func`` to a function ``(args) -> int`` returning the process exit code.  Exit codes follow
spec section 6: 0 success/allow, 1 reject or a failed check, 2 usage, rules or parse error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

from sipguard import __version__

# Command modules, in the order their commands appear in ``--help``.
_COMMAND_MODULES = (
    "sipguard.cli.serve",
    "sipguard.cli.check",
    "sipguard.cli.replay",
    "sipguard.cli.rules",
    "sipguard.cli.calls",
    "sipguard.cli.report",
    "sipguard.cli.journal",
    "sipguard.cli.numbers",
    "sipguard.cli.kamailio",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every command module that is installed."""
    parser = argparse.ArgumentParser(
        prog="sipguard",
        description=(
            "Enforce caller authenticity for call-center access numbers on a SIP trunk edge: "
            "screen INVITEs against rules.yaml, bridge or reject them, and journal every call."
        ),
    )
    parser.add_argument("--version", action="version", version=f"sipguard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    _mark_parsers(parser)
    return parser


def _mark_parsers(parser: argparse.ArgumentParser) -> None:
    """Let every (sub)command's parser be found from its parsed arguments (``_parser``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                child.set_defaults(_parser=child)
                _mark_parsers(child)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sipguard`` console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # The usage of the command that was given the bad option, not the top level's.
        owner: argparse.ArgumentParser = getattr(args, "_parser", parser)
        owner.error(f"unrecognized arguments: {' '.join(extra)}")
    args.own_process = argv is None  # the arguments are this process's own command line
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
