"""Helpers shared by the command modules: loading rules, parsing times and addresses."""

from __future__ import annotations

import argparse
import gc
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias
from zoneinfo import ZoneInfo

from sipguard.errors import RulesError
from sipguard.policy import Ruleset, load_rules
from sipguard.policy.hostport import parse_hostport

if TYPE_CHECKING:
    # What ``add_subparsers`` returns: every command module's ``register`` takes one.
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

EXIT_OK = 0
EXIT_REJECT = 1
EXIT_ERROR = 2


DEFAULT_RULES = Path("rules.yaml")
RULES_HELP = "the rules file (default: ./rules.yaml)"


def add_rules_arg(parser: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup) -> None:
    """The ``--rules FILE`` option, the same in every command: default ``./rules.yaml``."""
    parser.add_argument("--rules", type=Path, default=None, metavar="FILE", help=RULES_HELP)


def rules_path(value: Path | str | None) -> Path:
    """The rules file a command works on: ``--rules`` or ``./rules.yaml``."""
    return Path(value) if value is not None else DEFAULT_RULES


def report_rules_error(path: str | Path, err: RulesError) -> None:
    """Print every located issue, then the one summary line, to stderr (every command)."""
    for issue in err.issues:
        print(issue, file=sys.stderr)
    print(f"{path}: {len(err.issues)} error(s); rules not loaded", file=sys.stderr)


def load_rules_once(path: str | Path) -> Ruleset:
    """Load rules that this process keeps: no GC passes during the load, frozen after it.

    A large file makes about 10^6 objects.  Generational collections would otherwise run
    hundreds of times during the load, and afterwards every full collection would walk the
    whole ruleset again; ``gc.freeze`` moves it out of the collector's sight.  This is done
    only here, in the command's main thread, never inside the policy (a server reloads its
    rules in a worker thread while calls go on).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        rules = load_rules(path)
    finally:
        if collecting:
            gc.enable()
    gc.freeze()
    return rules


def load_or_report(path: str | Path) -> Ruleset | None:
    """Load a ruleset; on failure print every located issue to stderr and return None."""
    try:
        return load_rules_once(path)
    except RulesError as err:
        report_rules_error(path, err)
        return None


def parse_time(text: str | None, zone: ZoneInfo) -> datetime:
    """An ISO 8601 time; one without an offset is in ``zone``; None means now."""
    if text is None:
        return datetime.now(UTC).astimezone(zone)
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=zone)


def parse_source(text: str) -> tuple[str, int | None]:
    """``IP``, ``IP:PORT``, ``[IPv6]`` or ``[IPv6]:PORT`` → (ip, port)."""
    address = parse_hostport(text)
    return address.host, address.port
