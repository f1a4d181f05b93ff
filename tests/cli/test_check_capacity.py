"""``sipguard check`` reports the trunk's max_concurrent_calls (rules 1.1 section 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sipguard.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _rules(tmp_path: Path, cap: str) -> Path:
    text = (
        (ROOT / "rules.yaml")
        .read_text(encoding="utf-8")
        .replace("    max_cps: 100", f"{cap}    max_cps: 100", 1)
    )
    (tmp_path / "rules.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "consents.csv").write_text((ROOT / "consents.csv").read_text(), encoding="utf-8")
    return tmp_path / "rules.yaml"


def _check(rules: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    invite = str(ROOT / "examples" / "invite-outbound.sip")
    args = ["check", "--rules", str(rules), "--source", "127.0.0.2:5060",
            "--at", "2026-06-01T10:00:00", invite]  # fmt: skip
    main(args)
    found: dict[str, object] = json.loads(capsys.readouterr().out)
    return found


def test_the_cap_of_the_calls_trunk_is_in_the_verdict_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trunk with max_concurrent_calls: the line names it; the verdict is unchanged."""
    body = _check(_rules(tmp_path, "    max_concurrent_calls: 30\n"), capsys)
    assert body["trunk"] == "acme-sh-1" and body["max_concurrent_calls"] == 30
    assert body["verdict"] == "allow"


def test_without_a_cap_the_line_is_as_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "max_concurrent_calls" not in _check(_rules(tmp_path, ""), capsys)
