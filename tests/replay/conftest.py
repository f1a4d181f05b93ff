"""Shared fixtures for the replay tests: data paths and the example ruleset."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipguard.policy import Ruleset, load_rules

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = ROOT / "tests" / "data" / "captures" / "public"
GENERATED = ROOT / "captures"
RULES = ROOT / "rules.yaml"


@pytest.fixture(scope="session")
def rules() -> Ruleset:
    """The example ruleset at the project root, which the generated captures target."""
    return load_rules(RULES)
