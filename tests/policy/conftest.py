"""Shared helpers for the policy tests: rules text, a loader for it, and call facts."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sipguard.policy import CallFacts, Ruleset, load_rules
from tests.rulesets import POLICY

ZONE = ZoneInfo("Asia/Shanghai")
DATA = Path(__file__).resolve().parent.parent / "data" / "rules"

# Line numbers of this text are used by golden messages (tests/policy/test_load.py).
BASE = POLICY.text()

CONSENTS = textwrap.dedent(
    """\
    callee,number,credential,granted_at,expires_at
    13800138000,4008001234,C-1,2026-01-01T00:00:00+08:00,2027-01-01T00:00:00+08:00
    13900139000,2061234567,C-2,2026-01-01T00:00:00,2027-01-01T00:00:00
    """
)

Write = Callable[..., Path]


@pytest.fixture
def write_rules(tmp_path: Path) -> Write:
    """Write rules text (and a consents file) into a temporary directory; return the path."""

    def write(text: str = BASE, consents: str = CONSENTS, name: str = "rules.yaml") -> Path:
        (tmp_path / "consents.csv").write_text(consents, encoding="utf-8")
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def rules(write_rules: Write) -> Ruleset:
    """The BASE rules, loaded."""
    return load_rules(write_rules())


def at(text: str) -> datetime:
    """A Shanghai-local moment from ``YYYY-MM-DD HH:MM[:SS]``."""
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


def out(
    caller: str | None = "4008001234",
    callee: str | None = "13800138000",
    source: str = "192.0.2.10",
    pai: str | None = None,
    from_host: str | None = "192.0.2.10",
    privacy: tuple[str, ...] = (),
) -> CallFacts:
    """Facts of an outbound INVITE from trunk acme-1 (by default)."""
    return CallFacts("call-1", source, 5060, caller, from_host, pai, callee, privacy)


def inc(callee: str | None = "95123", caller: str | None = "13800138000") -> CallFacts:
    """Facts of an inbound INVITE from the network."""
    return CallFacts("call-2", "203.0.113.7", 5060, caller, "carrier", None, callee)
