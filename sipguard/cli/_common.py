"""Helpers shared by the command modules: loading rules, parsing times and addresses."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sipguard.errors import RulesError
from sipguard.policy import Ruleset, load_rules
from sipguard.policy.hostport import parse_hostport

EXIT_OK = 0
EXIT_REJECT = 1
EXIT_ERROR = 2


def default_rules_path() -> Path:
    """``./rules.yaml`` when present, else the ruleset shipped inside the package."""
    local = Path("rules.yaml")
    if local.exists():
        return local
    return Path(__file__).resolve().parents[1] / "data" / "rules.yaml"


def load_or_report(path: str | Path) -> Ruleset | None:
    """Load a ruleset; on failure print every located issue to stderr and return None."""
    try:
        return load_rules(path)
    except RulesError as err:
        for issue in err.issues:
            print(issue, file=sys.stderr)
        print(f"{path}: {len(err.issues)} error(s); rules not loaded", file=sys.stderr)
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
