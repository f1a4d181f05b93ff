"""Replay on a monitored trunk: watched checks shown in the table, JSON and summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sipguard.cli import main

ROOT = Path(__file__).resolve().parents[2]
CAP = ROOT / "captures"


def _monitored_rules(tmp_path: Path) -> str:
    text = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    (tmp_path / "rules.yaml").write_text("mode: monitor\n" + text, encoding="utf-8")
    for other in ROOT.glob("*.csv"):
        (tmp_path / other.name).write_text(other.read_text(encoding="utf-8"), encoding="utf-8")
    return str(tmp_path / "rules.yaml")


def test_monitored_calls_are_allowed_and_reported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The capture's refused calls are allowed under monitoring and named as would-be rejections."""
    rules = _monitored_rules(tmp_path)
    pcap = str(CAP / "number_suspended.pcap")
    assert main(["replay", "--rules", str(ROOT / "rules.yaml"), "--json", pcap]) == 0
    enforced = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    refused = [v["reason"] for v in enforced[:-1] if v.get("verdict") == "reject"]
    assert refused  # the capture does hold refused outbound calls
    assert main(["replay", "--rules", rules, "--json", pcap]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    verdicts, summary = lines[:-1], lines[-1]["summary"]
    assert all(v["verdict"] == "allow" for v in verdicts if v.get("direction") == "outbound")
    watched = [v["monitored"] for v in verdicts if v.get("monitored")]
    assert watched and "NUMBER_SUSPENDED" not in watched  # monitored never suspends
    assert sum(summary["monitored"].values()) == len(watched)
    assert main(["replay", "--rules", rules, pcap]) == 0
    table = capsys.readouterr().out
    assert "ALLOWED (monitored: " in table
    assert "would have rejected: " in table
