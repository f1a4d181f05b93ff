"""Replay verdicts on the synthetic captures of captures/generate.py, one per reason."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from sipguard.adapters.replay.engine import ReplaySummary, replay
from sipguard.policy import MemoryState, load_rules

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"


def cases() -> list[tuple[str, str, list[str]]]:
    """(capture, rules file, expected reasons) from captures/EXPECTED.tsv."""
    with (CAPTURES / "EXPECTED.tsv").open(newline="") as fh:
        return [
            (r["capture"], r["rules"], r["reasons"].split(","))
            for r in csv.DictReader(fh, delimiter="\t")
        ]


def rules_path(name: str) -> Path:
    return ROOT / name if name == "rules.yaml" else CAPTURES / name


@pytest.mark.parametrize(("capture", "rules", "reasons"), cases(), ids=lambda v: str(v))
def test_generated_capture_gives_expected_reasons(
    capture: str, rules: str, reasons: list[str]
) -> None:
    """Each synthetic capture yields exactly its expected verdict reasons, in order."""
    summary = ReplaySummary()
    got = [
        t.verdict.reason.value
        for t in replay([CAPTURES / capture], load_rules(rules_path(rules)), MemoryState(), summary)
        if t.verdict is not None
    ]
    assert got == reasons
    assert not summary.partial


def test_every_reason_has_a_capture() -> None:
    """Together the captures exercise all 15 reasons of spec section 4 and ALLOWED."""
    from sipguard.policy import Reason

    seen = {reason for _, _, reasons in cases() for reason in reasons}
    assert seen == {r.value for r in Reason}


def test_state_carries_across_files_given_together() -> None:
    """The frequency cap counts calls across files: a fourth allowed-looking call is capped."""
    rules = load_rules(ROOT / "rules.yaml")
    files = [CAPTURES / "frequency_cap.pcap", CAPTURES / "quiet_hours.pcap"]
    got = [t.verdict.reason.value for t in replay(files, rules, MemoryState()) if t.verdict]
    assert got == ["ALLOWED", "ALLOWED", "FREQUENCY_CAP", "QUIET_HOURS"]


def test_tcp_split_stream_counts_the_retransmitted_segment_once() -> None:
    """A retransmitted, reordered TCP segment yields each INVITE once over TCP."""
    summary = ReplaySummary()
    rows = list(
        replay(
            [CAPTURES / "tcp_split.pcap"], load_rules(ROOT / "rules.yaml"), MemoryState(), summary
        )
    )
    assert [t.transport for t in rows] == ["tcp", "tcp", "tcp"]
    assert [t.facts.call_id for t in rows] == [f"gen-{n}@127.0.0.4" for n in (201, 202, 203)]
    assert summary.retransmissions == 0
