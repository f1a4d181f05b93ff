"""``sipguard journal verify|purge``, and the journal/rules arguments shared by its siblings.

Exit codes (spec section 6): ``verify`` 0 when the chain is intact, 1 when it is broken;
``purge`` 0 on success; both 2 for a usage or rules error or a missing journal file.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from sipguard.cli._common import add_rules_arg, report_rules_error, rules_path
from sipguard.errors import RulesError

if TYPE_CHECKING:
    from sipguard.cli._common import Subparsers
    from sipguard.journal.backends import Store
    from sipguard.policy import Ruleset


class UsageError(Exception):
    """A command-line problem reported as ``error: ...`` with exit status 2."""


class RulesNotLoaded(UsageError):
    """The rules failed to load; their issues were printed already (exit status 2)."""


def print_error(exc: UsageError) -> None:
    """Report a usage error on stderr (a rules failure has reported itself)."""
    if not isinstance(exc, RulesNotLoaded):
        print(f"error: {exc}", file=sys.stderr)


@dataclass(frozen=True, slots=True)
class Target:
    """The journal a command works on and, when ``--rules`` was given, the ruleset.

    ``path`` is an SQLite file or a PostgreSQL URL (``journal.url``, or ``--journal URL``).
    """

    path: Path | str
    rules: Ruleset | None

    @property
    def name(self) -> str:
        """How messages name the journal (a URL without its password)."""
        from sipguard.journal.backends import is_pg_url

        if is_pg_url(self.path):
            from sipguard.journal.pg_store import redact

            return redact(str(self.path))
        return str(self.path)

    def state_spec(self) -> str:
        """The state this journal's commands change: the rules' (``state.url`` or the file
        beside the journal), or without rules the file beside an SQLite journal."""
        from sipguard.journal.backends import state_spec
        from sipguard.journal.state import state_path_for

        if self.rules is not None:
            return state_spec(self.rules)
        if isinstance(self.path, Path):
            return f"sqlite:{state_path_for(self.path)}"
        raise UsageError("with a PostgreSQL --journal, give --rules so that the state is known")

    def open(self) -> Store:
        """The journal's store (SQLite or PostgreSQL); UsageError if it cannot be reached."""
        from sipguard.journal.backends import open_store
        from sipguard.journal.writer import JournalUnavailable

        try:
            return open_store(self.path)
        except JournalUnavailable as exc:
            raise UsageError(str(exc)) from exc

    @property
    def zone(self) -> tzinfo:
        """The zone times are shown and read in: the rules' timezone, or UTC without rules."""
        return self.rules.zone if self.rules is not None else UTC

    @property
    def zone_name(self) -> str:
        """The name of :attr:`zone`, for notes and report headers."""
        return self.rules.model.timezone if self.rules is not None else "UTC"


def add_target_args(parser: argparse.ArgumentParser) -> None:
    """Add the mutually exclusive ``--rules FILE`` / ``--journal FILE`` options."""
    group = parser.add_mutually_exclusive_group()
    add_rules_arg(group)
    group.add_argument(
        "--journal", metavar="FILE|URL",
        help="the journal: an SQLite file or a postgresql:// URL (instead of the rules' one)",
    )  # fmt: skip


def add_window_args(parser: argparse.ArgumentParser, things: str) -> None:
    """Add ``--since``, ``--until``, ``--limit`` and ``--format`` for a listing of ``things``."""
    parser.add_argument("--since", metavar="WHEN", help="from this time on (ISO 8601 or e.g. 7d)")
    parser.add_argument("--until", metavar="WHEN", help="before this time (ISO 8601 or e.g. 1d)")
    parser.add_argument("--limit", type=int, metavar="N", help=f"only the newest N {things}")
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table")


def window_limit(limit: int | None) -> int | None:
    """``--limit`` as given; a usage error unless it is at least 1 (or absent)."""
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1 (got {limit})")
    return limit


def resolve_target(args: argparse.Namespace, *, must_exist: bool = True) -> Target:
    """The journal named by ``--journal`` or by the rules' ``journal.path`` or ``url``."""
    from sipguard.journal.backends import is_pg_url, journal_target

    rules = None
    path: Path | str
    if args.journal:
        path = args.journal if is_pg_url(args.journal) else Path(args.journal)
    else:
        from sipguard.policy import load_rules

        source = rules_path(args.rules)
        try:
            rules = load_rules(source)
        except RulesError as exc:
            report_rules_error(source, exc)
            raise RulesNotLoaded(str(source)) from exc
        found = journal_target(rules)
        if found is None:
            raise UsageError(f"{source}: the rules name no journal")
        path = found
    if must_exist and isinstance(path, Path) and not path.is_file():
        raise UsageError(f"{path}: no such journal")
    return Target(path, rules)


def nsn(raw: str, rules: Ruleset | None) -> str:
    """A number from the command line as an NSN: like the rules do, or digits only."""
    if rules is not None:
        from sipguard.policy import normalise

        value = normalise(raw, rules.country_code, rules.national_prefix)
    else:
        digits = raw.translate(str.maketrans("", "", "-. ()"))
        value = digits if digits.isdigit() and digits.isascii() else None
    if value is None:
        raise UsageError(f"not a number: {raw!r}")
    return value


def register(subparsers: Subparsers) -> None:
    """Add ``journal verify`` and ``journal purge``."""
    p = subparsers.add_parser(
        "journal",
        help="verify, purge or list the call journal",
        description="Check, purge or list the hash-chained call journal.",
    )
    sub = p.add_subparsers(dest="journal_command", metavar="ACTION", required=True)
    verify = sub.add_parser(
        "verify",
        help="check the hash chain (exit 0 intact, 1 broken)",
        description=(
            "Walk the journal's SHA-256 chain from its first surviving entry (or the anchor "
            "of the last purge) and report the first entry that was changed, removed or "
            "inserted. Exit 0 when the chain is intact, 1 when it is broken, 2 on a usage "
            "or rules error."
        ),
    )
    add_target_args(verify)
    verify.set_defaults(func=run_verify)
    purge = sub.add_parser(
        "purge",
        help="delete entries older than the retention period",
        description=(
            "Delete the entries older than journal.retention_days (at least 30), never a "
            "younger one. The hash of the last deleted entry is kept and entered into the "
            "chain, so verify still checks everything that is left."
        ),
    )
    add_target_args(purge)
    purge.add_argument(
        "--retention-days", type=int, metavar="N", help="override journal.retention_days (>= 30)"
    )
    purge.set_defaults(func=run_purge)
    from sipguard.cli import entries

    entries.add_parser(sub)


def run_verify(args: argparse.Namespace) -> int:
    """Walk the chain; print the first broken link."""
    try:
        target = resolve_target(args)
        store = target.open()
    except UsageError as exc:
        print_error(exc)
        return 2
    try:
        result = store.verify()
    finally:
        store.close()
    if result.ok:
        print(f"{target.name}: chain intact, {result.checked} entries checked")
        return 0
    print(f"{target.name}: chain broken at entry {result.broken_seq}: {result.problem}")
    return 1


def run_purge(args: argparse.Namespace) -> int:
    """Delete entries older than the retention period (nothing younger)."""
    try:
        target = resolve_target(args)
        days = _retention(args, target)
        store = target.open()
    except UsageError as exc:
        print_error(exc)
        return 2
    try:
        deleted = store.purge(datetime.now(UTC), days)
    finally:
        store.close()
    print(f"{target.name}: {deleted} entries older than {days} days purged")
    return 0


def _retention(args: argparse.Namespace, target: Target) -> int:
    days: int | None = args.retention_days
    if days is None and target.rules is not None:
        days = target.rules.model.journal.retention_days if target.rules.model.journal else None
    if days is None:
        raise UsageError("--retention-days is required with --journal")
    if days < 30:
        raise UsageError(f"retention must be at least 30 days (got {days})")
    return days
